"""The figures: frame builders, panels, knee lines, verdict colours, determinism."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lossscale.config import load_schema, validate_config
from lossscale.figures import FIGURES, available_figures, figure_inputs
from lossscale.figures.alpha_sweep import knee_frame, plot_alpha_sweep, sweep_frame
from lossscale.figures.asker_curves import curves_frame, plot_asker_curves
from lossscale.figures.common import alpha_text, seed_means
from lossscale.figures.mechanism import arm_frame, compensated_frame, plot_mechanism
from lossscale.figures.precision import plot_precision, precision_frame
from lossscale.figures.regularization import plot_regularization, regularization_frame
from lossscale.figures.theme import save_figure, set_theme
from lossscale.figures.verdict_heatmap import plot_verdict_heatmap, verdict_colour, verdict_frame
from lossscale.report import slices
from lossscale.tables import KNEE_COLUMNS, PHASE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
SEEDS = 3


def make_config(**extra_blocks: dict) -> dict:
    raw = {
        "tasks": {
            "diabetes": {"kind": "diabetes", "target_scale": 1e-5},
            "teacher_student": {"kind": "teacher_student"},
            "digits_cnn": {"kind": "digits", "model": "cnn"},
        },
        "phase": {"layers": {"task": None}},  # no deep network among these tasks
        "train": {
            "seeds": SEEDS,
            "blocks": {
                "main": {
                    "tasks": ["diabetes", "teacher_student"],
                    "optimizers": ["sgd", "nadam", "adam"],
                    "alphas": [1e-2, 1, 1e2],
                },
                **extra_blocks,
            },
        },
    }
    return validate_config(raw, load_schema(ROOT / "workflow/schemas/config.schema.yaml"))


ASKER = {"tasks": ["diabetes"], "optimizers": ["nadam"], "alphas": [1, 1e5],
         "compensations": ["none", "lr_instead"]}  # fmt: skip
REGULARIZATION = {"tasks": ["diabetes"], "optimizers": ["adam"], "alphas": [1, 1e2],
                  "regularizations": ["none", "coupled", "decoupled"]}  # fmt: skip
PRECISION = {"tasks": ["diabetes"], "optimizers": ["sgd"], "alphas": [1, 1e4],
             "precisions": ["float32", "float16"]}  # fmt: skip
MODELS = {"tasks": ["digits_cnn"], "optimizers": ["adam"], "alphas": [1e-6, 1],
          "batch_size": 16}  # fmt: skip
PHASE = {"phase": True, "tasks": ["diabetes"], "optimizers": ["nadam"], "alphas": [1, 1e5],
         "compensations": ["none", "lr_instead"]}  # fmt: skip
#: The mechanism figure's blocks: a phase block of two eps-type optimizers and SGD, and a
#: block that compensates eps (RMSprop is no phase optimizer: it is not drawn).
PHASE_EPS = {"phase": True, "tasks": ["diabetes"], "optimizers": ["nadam", "adam", "sgd"],
             "alphas": [1, 1e3, 1e6], "compensations": ["none", "lr_instead"]}  # fmt: skip
COMPENSATION = {"tasks": ["diabetes"], "optimizers": ["rmsprop", "adam", "nadam"],
                "alphas": [1e-2, 1, 1e2], "compensations": ["none", "eps"],
                "precisions": ["float32", "float16"]}  # fmt: skip


@pytest.fixture(scope="module")
def config() -> dict:
    return make_config(asker=ASKER, regularization=REGULARIZATION, precision=PRECISION)


def history(config: dict, steps: tuple[int, ...] = (0, 10)) -> pd.DataFrame:
    """Every replica of the config's blocks: the test metric is a known function of the
    cell, alpha and seed, the train metric half of it; seed 0 diverges at alpha = 100."""
    rows = []
    for block in config["train"]["blocks"].values():
        for task, opt, prec, reg, comp, alpha, seed, step in itertools.product(
            block["tasks"], block["optimizers"], block["precisions"],
            block["regularizations"], block["compensations"], block["alphas"],
            range(SEEDS), steps,
        ):  # fmt: skip
            test = (
                (1 + seed)
                * (2.0 if reg == "coupled" else 1.0)
                / (1 + step)
                * (3.0 if comp == "lr_instead" else 1.0)
                * (10.0 if task == "teacher_student" else 1.0)
                * (1 + np.log10(alpha) ** 2)
            )
            diverged = alpha == 1e2 and seed == 0 and step > 0
            rows.append({
                "task": task, "optimizer": opt, "precision": prec, "regularization": reg,
                "compensation": comp, "weight_decay": 0.0 if reg == "none" else 0.01,
                "batch_size": block["batch_size"], "steps": block["steps"],
                "alpha": float(alpha), "seed": seed, "step": step,
                "train_metric": np.nan if diverged else test / 2,
                "test_metric": np.nan if diverged else test,
                "grad_zero_frac": 0.9 if prec == "float16" and alpha < 1e4 else 0.1 * (1 + step),
                "diverged": diverged,
            })  # fmt: skip
    return pd.DataFrame(rows).drop_duplicates(
        [
            "task",
            "optimizer",
            "precision",
            "regularization",
            "compensation",
            "alpha",
            "seed",
            "step",
        ]
    )


def finals(config: dict) -> pd.DataFrame:
    frame = history(config)
    return frame[frame["step"] == frame["step"].max()]


def knee(config: dict) -> pd.DataFrame:
    main = config["train"]["blocks"]["main"]
    rows = [
        # another regime of the same cell (minibatches): not the block's, never drawn
        {"task": "diabetes", "optimizer": "nadam", "predicted_knee": 9.0, "batch_size": 32},
        {"task": "diabetes", "optimizer": "nadam", "predicted_knee": 5e4},
        {"task": "teacher_student", "optimizer": "nadam", "predicted_knee": np.nan},
        {"task": "diabetes", "optimizer": "nadam", "predicted_knee": 7.0, "precision": "float16"},
    ]
    base = {c: np.nan for c in KNEE_COLUMNS} | {
        "precision": "float32", "regularization": "none", "compensation": "none",
        "weight_decay": 0.0, "steps": main["steps"], "batch_size": main["batch_size"],
    }  # fmt: skip
    return pd.DataFrame([base | r for r in rows], columns=KNEE_COLUMNS)


def comparisons() -> pd.DataFrame:
    cells = [
        ("sgd", 1.0, "reference"), ("sgd", 100.0, "diverged"), ("nadam", 1.0, "reference"),
        ("nadam", 0.01, "equivalent"), ("nadam", 100.0, "better"), ("adam", 100.0, "worse"),
        ("lbfgs", 1.0, "inconclusive"),
    ]  # fmt: skip
    rows = [
        {"task": "diabetes", "optimizer": o, "precision": "float32", "regularization": "none",
         "compensation": "none", "weight_decay": 0.0, "batch_size": 0, "steps": 500,
         "quantity": "train", "alpha": a, "verdict": v}
        for o, a, v in cells
    ]  # fmt: skip
    other = [r | {"quantity": "test", "verdict": "worse"} for r in rows]
    elsewhere = [r | {"task": "teacher_student", "verdict": "worse"} for r in rows]
    minibatch = [r | {"batch_size": 32, "verdict": "worse"} for r in rows]
    return pd.DataFrame(rows + other + elsewhere + minibatch)


def panels(fig) -> list:
    return [ax for ax in fig.axes if ax.axison]


# --- selection helpers ---------------------------------------------------------------


def test_blocks_are_found_by_content(config: dict) -> None:
    assert slices.asker_block(config) == "asker"
    assert slices.regularization_block(config) == "regularization"
    assert slices.precision_block(config) == "precision"
    plain = make_config()
    assert slices.asker_block(plain) is slices.precision_block(plain) is None
    block = {**PRECISION, "regularizations": ["l2"], "compensations": ["none"], "batch_size": 32,
             "steps": 50}  # fmt: skip
    assert slices.block_focus(block) == {"task": "diabetes", "precision": "float32",
                                         "regularization": "l2", "compensation": "none",
                                         "batch_size": 32, "steps": 50}  # fmt: skip


#: Stats tables by name, as the workflow passes them (its rules' outputs).
TABLES = {"comparisons": "c.csv", "knee": "k.csv", "phase": "p.csv", "phase_boundaries": "b.csv"}


def test_available_figures_follow_the_blocks(config: dict) -> None:
    assert available_figures(config) == [
        f for f in FIGURES if f not in ("mechanism", "phase_diagram", "models_sweep")
    ]
    with_phase = make_config(asker=ASKER, phase=PHASE, regularization=REGULARIZATION,
                             precision=PRECISION, models=MODELS)  # fmt: skip
    assert available_figures(with_phase) == [f for f in FIGURES if f != "mechanism"]
    every = make_config(asker=ASKER, phase=PHASE, regularization=REGULARIZATION,
                        precision=PRECISION, models=MODELS, compensation=COMPENSATION)  # fmt: skip
    assert available_figures(every) == list(FIGURES) and FIGURES[0] == "mechanism"
    assert slices.models_block(with_phase) == "models" and slices.models_block(config) is None
    assert figure_inputs("phase_diagram", with_phase, TABLES) == {
        "phase": ["p.csv"],
        "phase_boundaries": ["b.csv"],
    }
    # a phase block has lr_instead too, but it is not the asker's scenario
    assert slices.asker_block(with_phase) == "asker"
    assert slices.asker_block(make_config(phase=PHASE)) is None
    assert slices.phase_block(with_phase) == "phase" and slices.phase_block(config) is None
    assert available_figures(make_config()) == ["verdict_heatmap", "alpha_sweep"]
    assert available_figures(make_config(precision=PRECISION)) == [
        "verdict_heatmap", "alpha_sweep", "precision"
    ]  # fmt: skip


def test_figure_inputs_name_only_the_block_files(config: dict) -> None:
    assert figure_inputs("verdict_heatmap", config, TABLES) == {"comparisons": ["c.csv"]}
    sweep = figure_inputs("alpha_sweep", config, TABLES)
    assert len(sweep["train"]) == 6 and sweep["knee"] == ["k.csv"]
    assert figure_inputs("precision", config, TABLES)["train"] == [
        "results/train/diabetes/sgd/float16/full-500.parquet",
        "results/train/diabetes/sgd/float32/full-500.parquet",
    ]
    assert figure_inputs("asker_curves", config, TABLES) == {
        "train": ["results/train/diabetes/nadam/float32/full-500.parquet"]
    }


# --- frames --------------------------------------------------------------------------


def test_seed_means_skip_diverged_seeds() -> None:
    rows = pd.DataFrame({"g": ["a"] * 3 + ["b"], "v": [1.0, 3.0, 100.0, np.inf],
                         "diverged": [False, False, True, False]})  # fmt: skip
    out = seed_means(rows, ["g"], ["v"]).set_index("g")
    assert out.loc["a", "v"] == 2.0 and out.loc["a", "v_max"] == 3.0
    assert out.loc["a", "n_diverged"] == 1 and out.loc["a", "n_seeds"] == 3
    assert np.isnan(out.loc["b", "v"])


def test_sweep_frame_means_at_the_main_settings(config: dict) -> None:
    frame = sweep_frame(finals(config), config).set_index(["optimizer", "task", "alpha"])
    assert len(frame) == 3 * 2 * 3  # the asker's alpha 1e5 is not in the main block
    # seeds 1, 2 at alpha 1e2 (seed 0 diverged): (2 + 3) / 2 / 11 * (1 + 2^2)
    assert frame.loc[("sgd", "diabetes", 100.0), "value"] == pytest.approx(2.5 / 11 * 5)
    assert frame.loc[("sgd", "diabetes", 100.0), "n_diverged"] == 1
    assert frame.loc[("adam", "diabetes", 1.0), "value"] == pytest.approx(2 / 11)


def test_knee_frame_keeps_finite_knees_at_the_main_settings(config: dict) -> None:
    out = knee_frame(knee(config), config)
    assert out.to_dict("records") == [
        {"optimizer": "nadam", "task": "diabetes", "predicted_knee": 5e4}
    ]
    assert knee_frame(None, config).empty


def test_verdict_frame_is_full_batch_training_verdicts_in_config_order(config: dict) -> None:
    table = verdict_frame(comparisons(), config)
    assert list(table.index) == ["sgd", "nadam", "adam", "lbfgs"]
    assert list(table.columns) == [0.01, 1.0, 100.0]
    assert table.loc["nadam", 100.0] == "better" and table.loc["sgd", 100.0] == "diverged"
    assert pd.isna(table.loc["adam", 1.0])


def test_curves_frame_has_the_three_runs(config: dict) -> None:
    frame = curves_frame(history(config), config)
    assert list(dict.fromkeys(frame["run"])) == [
        r"$\alpha = 1$",
        r"loss $\times$ $10^{5}$",
        r"learning rate $\times$ $10^{5}$",
    ]
    lr = frame[frame["run"].str.startswith("learning") & (frame["quantity"] == "test")]
    # (1 + seed) * 3 / 11 * (1 + 25): mean over seeds 1, 2, 3; band from seed 0 to 2
    last = lr[lr["step"] == 10].iloc[0]
    assert last["mean"] == pytest.approx(2 * 3 / 11 * 26)
    assert (last["low"], last["high"]) == pytest.approx((3 / 11 * 26, 9 / 11 * 26))


def test_regularization_frame_has_one_row_per_setting(config: dict) -> None:
    frame = regularization_frame(finals(config), config)
    assert set(frame["regularization"]) == {"none", "coupled", "decoupled"}
    coupled = frame.set_index(["regularization", "alpha"]).loc[("coupled", 1.0)]
    assert coupled["test"] == pytest.approx(2 * 2 / 11) and coupled["train"] == pytest.approx(
        2 / 11
    )


def test_precision_frame_reads_zeros_at_initialization(config: dict) -> None:
    frame = precision_frame(history(config), config).set_index(["precision", "alpha"])
    assert frame.loc[("float16", 1.0), "zero_init"] == pytest.approx(0.9)
    assert frame.loc[("float32", 1.0), "zero_init"] == pytest.approx(0.1)  # step 0, not 10
    assert frame.loc[("float32", 1.0), "test"] == pytest.approx(2 / 11)


# --- figures -------------------------------------------------------------------------


def test_alpha_sweep_has_a_panel_per_optimizer_and_the_knee(config: dict) -> None:
    set_theme()
    fig = plot_alpha_sweep(finals(config), knee(config), config)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["SGD", "NAdam", "Adam"]
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for ax in axes)
    assert "final train normalized MSE" in fig.get_supylabel()
    vertical = [ln for ln in axes[1].get_lines() if len(set(ln.get_xdata())) == 1]
    assert sorted(ln.get_xdata()[0] for ln in vertical) == [1.0, 5e4]  # alpha = 1, knee
    knee_line = next(ln for ln in vertical if ln.get_xdata()[0] == 5e4)
    diabetes = next(ln for ln in axes[1].get_lines() if len(ln.get_xdata()) == 3)
    assert knee_line.get_color() == diabetes.get_color()
    assert not [ln for ln in axes[0].get_lines() if ln.get_xdata()[0] == 5e4]


def test_verdict_heatmap_cells_have_their_verdict_colours(config: dict) -> None:
    set_theme()
    fig = plot_verdict_heatmap(comparisons(), config)
    [image] = fig.axes[0].get_images()
    rgba = image.get_array()
    table = verdict_frame(comparisons(), config)
    for (i, j), verdict in np.ndenumerate(table.to_numpy(dtype=object)):
        expected = verdict_colour(verdict) if isinstance(verdict, str) else (0, 0, 0, 0)
        assert tuple(rgba[i, j]) == pytest.approx(expected)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert len(labels) == 7 and any("untrained in both" in t for t in labels)
    assert len({verdict_colour(v) for v in ("reference", "equivalent", "better", "worse",
                                            "diverged", "inconclusive")}) == 6  # fmt: skip


def test_small_figures_have_their_panels(config: dict) -> None:
    set_theme()
    fig = plot_asker_curves(history(config), config)
    assert [ax.get_ylabel() for ax in panels(fig)] == [
        "train normalized MSE",
        "test normalized MSE",
    ]
    assert len(fig.legends[0].get_texts()) == 3
    fig = plot_regularization(finals(config), config)
    assert len(panels(fig)) == 2 and panels(fig)[0].get_title() == "Adam"
    fig = plot_precision(history(config), config)
    axes = panels(fig)
    assert len(axes) == 2 and "at initialization" in axes[0].get_ylabel()
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["float32", "float16"]


def test_figures_refuse_to_draw_without_data(config: dict) -> None:
    empty = finals(config).iloc[:0]
    with pytest.raises(ValueError, match="alpha_sweep"):
        plot_alpha_sweep(empty, None, config)
    with pytest.raises(ValueError, match="verdict_heatmap"):
        plot_verdict_heatmap(comparisons().iloc[:0], config)
    with pytest.raises(ValueError, match="regularization"):
        plot_regularization(empty, config)
    with pytest.raises(ValueError, match="lr_instead"):
        plot_asker_curves(history(config), make_config())
    with pytest.raises(ValueError, match="precisions"):
        plot_precision(history(config), make_config())


def test_saved_figures_are_byte_identical(config: dict, tmp_path: Path) -> None:
    set_theme()
    for name in ("a", "b"):
        fig = plot_alpha_sweep(finals(config), knee(config), config)
        save_figure(fig, tmp_path / f"{name}.pdf", tmp_path / f"{name}.png")
    for ext in ("pdf", "png"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()
    assert b"CreationDate" not in (tmp_path / "a.pdf").read_bytes()


@pytest.mark.parametrize(("alpha", "text"), [(1e5, "$10^{5}$"), (1e-8, "$10^{-8}$"),
                                             (1024.0, "$2^{10}$"), (1.0, "1"), (3.0, "3")])  # fmt: skip
def test_alpha_text(alpha: float, text: str) -> None:
    assert alpha_text(alpha) == text


def test_figures_draw_with_matplotlib_fonts_only():
    """The theme leaves no other copy of a font family to pick (the machine's DejaVu, or
    a font cache another environment built), so the figures' bytes cannot depend on it."""
    import matplotlib
    from matplotlib import font_manager

    set_theme()
    bundled = Path(matplotlib.get_data_path()) / "fonts/ttf"
    files = [Path(f.fname) for f in font_manager.fontManager.ttflist]
    assert files and all(f.parent == bundled for f in files)
    for style in ("normal", "italic"):
        found = font_manager.findfont(
            font_manager.FontProperties(family="DejaVu Sans", style=style)
        )
        assert Path(found).parent == bundled, found


# --- the mechanism figure ------------------------------------------------------------

#: Base learning rate and eps of the crafted phase table (SGD has no eps).
MECH_LR = {"nadam": 2e-3, "adam": 1e-3, "sgd": 1e3}
MECH_EPS = {"nadam": 1e-7, "adam": 1e-8, "sgd": np.nan}
#: Per task: target scale, output scaled, unscaled gradient RMS, parameters' RMS.
MECH_TASKS = {
    "diabetes": (1e-5, True, 1e-12, 0.5),
    "diabetes_e2": (1e-2, True, 1e-9, 0.25),
    "targets_e5": (1e-5, False, 1e-6, 0.5),  # output unscaled: not drawn
}
MECH_FACTORS = (1.0, 1e3, 1e6)
#: The first update over the base learning rate, per arm and factor (x 2 on diabetes_e2).
MECH_Y = {"loss": (1e-5, 1e-2, 0.9), "lr": (1e-5, 1e-2, 10.0), "eps": (3.0, 3.0, 3.0)}


def mechanism_phase() -> pd.DataFrame:
    """A phase table whose first updates are MECH_Y (stored, as phase.py stores them,
    relative to the parameters' RMS); Adam's loss arm at 1e6 on diabetes_e2 is NaN."""
    rows = []
    for optimizer, (task, (scale, scaled, grad, param)) in itertools.product(
        MECH_LR, MECH_TASKS.items()
    ):
        for arm, ys in MECH_Y.items():
            for factor, y in zip(MECH_FACTORS, ys, strict=True):
                y *= 2.0 if task == "diabetes_e2" else 1.0
                lost = (optimizer, task, arm, factor) == ("adam", "diabetes_e2", "loss", 1e6)
                rows.append({
                    "optimizer": optimizer, "task": task, "target_scale": scale,
                    "output_scaled": scaled, "precision": "float32", "arm": arm,
                    "factor": factor, "lr": MECH_LR[optimizer], "eps": MECH_EPS[optimizer],
                    "grad_rms_init": grad, "param_rms_init": param,
                    "update_rms_first": np.nan if lost else y * MECH_LR[optimizer] / param,
                })  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=list(PHASE_COLUMNS))


def mechanism_history(config: dict) -> pd.DataFrame:
    """The compensation block's runs at steps 0 and 10: gradient RMS alpha x 1e-12 x
    (1 + seed) at step 0, first update 1e-6 x (1 + seed) with eps compensated; float16
    and later steps have other values, and a seed no eps run has (another block's) an
    unscaled gradient of 1."""
    block = config["train"]["blocks"]["compensation"]
    rows = []
    for opt, prec, comp, alpha, seed, step in itertools.product(
        block["optimizers"], block["precisions"], block["compensations"], block["alphas"],
        range(SEEDS), (0, 10),
    ):  # fmt: skip
        first = step == 0 and prec == "float32"
        rows.append({
            "task": "diabetes", "optimizer": opt, "precision": prec, "regularization": "none",
            "compensation": comp, "weight_decay": 0.0, "batch_size": block["batch_size"],
            "steps": block["steps"], "alpha": float(alpha), "seed": seed, "step": step,
            "grad_rms": alpha * 1e-12 * (1 + seed) if first else 1.0,
            "update_rms": 1e-6 * (1 + seed) if first else 1.0, "diverged": False,
        })  # fmt: skip
        if (comp, alpha, seed, step) == ("none", 1, 0, 0):
            rows.append(rows[-1] | {"seed": 7, "grad_rms": 1.0, "precision": "float32"})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def mech_config() -> dict:
    return make_config(phase=PHASE_EPS, compensation=COMPENSATION)


def _lines(ax) -> dict:
    return {ln.get_gid(): ln for ln in ax.get_lines() if ln.get_gid()}


def test_eps_compensation_block_needs_a_phase_optimizer_with_eps(mech_config: dict) -> None:
    assert slices.eps_compensation_block(mech_config) == "compensation"
    assert slices.eps_compensation_block(make_config(compensation=COMPENSATION)) is None
    only_sgd = {**PHASE_EPS, "optimizers": ["sgd"]}
    assert (
        slices.eps_compensation_block(make_config(phase=only_sgd, compensation=COMPENSATION))
        is None
    )
    other = {**COMPENSATION, "optimizers": ["rmsprop"]}
    assert slices.eps_compensation_block(make_config(phase=PHASE_EPS, compensation=other)) is None
    assert figure_inputs("mechanism", mech_config, TABLES) == {
        "phase": ["p.csv"],
        "train": [  # the focus task and precision, only the phase block's eps optimizers
            "results/train/diabetes/adam/float32/full-500.parquet",
            "results/train/diabetes/nadam/float32/full-500.parquet",
        ],
    }


def test_mechanism_is_the_first_figure_of_the_default_study() -> None:
    import yaml

    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    default = validate_config(raw, load_schema(ROOT / "workflow/schemas/config.schema.yaml"))
    assert available_figures(default)[0] == "mechanism"
    assert slices.eps_compensation_block(default) == "compensation"
    assert figure_inputs("mechanism", default, TABLES)["train"] == [
        "results/train/diabetes/adam/float32/full-500.parquet",
        "results/train/diabetes/nadam/float32/full-500.parquet",
    ]


def test_mechanism_frames(mech_config: dict) -> None:
    arms = arm_frame(mechanism_phase())
    assert set(arms["optimizer"]) == {"nadam", "adam"} and set(arms["arm"]) == {"loss", "lr"}
    assert set(arms["target_scale"]) == {1e-5, 1e-2}  # targets_e5 is output-unscaled
    assert len(arms) == 2 * 2 * 2 * 3 - 1  # Adam's NaN update is dropped
    lr = arms.set_index(["optimizer", "arm", "target_scale", "factor"]).loc[
        ("adam", "lr", 1e-2, 1e6)
    ]
    # x: the factor times the unscaled gradient over eps (1e6 x 1e-9 / 1e-8)
    assert (lr["x"], lr["y"]) == pytest.approx((1e5, 20.0))
    comp = compensated_frame(mechanism_history(mech_config), mechanism_phase(), mech_config)
    assert list(dict.fromkeys(comp["optimizer"])) == ["nadam", "adam"]  # not RMSprop
    nadam = comp[comp["optimizer"] == "nadam"]
    # mean unscaled gradient 2e-12 (seeds 0-2, not seed 7); first update 2e-6 / lr
    assert nadam["x"].to_numpy() == pytest.approx([2e-7, 2e-5, 2e-3])
    assert nadam["y"].to_numpy() == pytest.approx([1e-3] * 3)
    assert set(nadam["n_seeds"]) == {SEEDS} and set(comp["target_scale"]) == {1e-5}


def test_mechanism_draws_the_three_series(mech_config: dict) -> None:
    set_theme()
    fig = plot_mechanism(mechanism_history(mech_config), mechanism_phase(), mech_config)
    axes = panels(fig)
    assert [ax.get_title() for ax in axes] == ["NAdam", "Adam"]  # the phase block's order
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "log" for ax in axes)
    nadam, adam = (_lines(ax) for ax in axes)
    assert set(nadam) == {"loss:1e-05", "loss:0.01", "lr:1e-05", "lr:0.01", "compensated"}
    # NAdam, loss x a on diabetes: x = a x 1e-12 / 1e-7, y the crafted shares
    assert nadam["loss:1e-05"].get_xdata() == pytest.approx([1e-5, 1e-2, 10.0])
    assert nadam["loss:1e-05"].get_ydata() == pytest.approx([1e-5, 1e-2, 0.9])
    # Adam, learning rate x a on diabetes_e2: x = a x 1e-9 / 1e-8, y twice the shares
    assert adam["lr:0.01"].get_xdata() == pytest.approx([0.1, 100.0, 1e5])
    assert adam["lr:0.01"].get_ydata() == pytest.approx([2e-5, 2e-2, 20.0])
    assert len(adam["loss:0.01"].get_xdata()) == 2  # the NaN update left out
    # eps-compensated: x = alpha x 2e-12 / 1e-8, y = 2e-6 / 1e-3, flat
    assert adam["compensated"].get_xdata() == pytest.approx([2e-6, 2e-4, 2e-2])
    assert adam["compensated"].get_ydata() == pytest.approx([2e-3] * 3)
    # the marker of the compensated runs is their task's target scale's
    assert adam["compensated"].get_marker() == adam["loss:1e-05"].get_marker()
    assert adam["loss:1e-05"].get_marker() != adam["loss:0.01"].get_marker()
    for ax in axes:
        assert any(list(ln.get_ydata()) == [1, 1] for ln in ax.get_lines())  # the step eta
        texts = [t.get_text() for t in ax.texts]
        assert r"$\epsilon$ regime" in texts and r"normalized step ($=\eta$)" in texts
        low, high = ax.get_xlim()
        assert low < 2e-7 and high > 1e5
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[:3] == [
        r"learning rate $\times\,a$",
        r"loss $\times\,a$",
        r"loss $\times\,a$, $\epsilon \times a$ ($\epsilon$-compensated)",
    ]
    assert labels[3:] == ["target scale $10^{-5}$", "target scale $10^{-2}$"]


def test_mechanism_refuses_to_draw_without_data(mech_config: dict) -> None:
    history_ = mechanism_history(mech_config)
    with pytest.raises(ValueError, match="mechanism"):
        plot_mechanism(history_, mechanism_phase().iloc[:0], mech_config)
    sgd = mechanism_phase()
    with pytest.raises(ValueError, match="mechanism"):
        plot_mechanism(history_, sgd[sgd["optimizer"] == "sgd"], mech_config)
    with pytest.raises(ValueError, match="compensation eps"):
        plot_mechanism(history_, mechanism_phase(), make_config(phase=PHASE_EPS))


def test_saved_mechanism_figure_is_byte_identical(mech_config: dict, tmp_path: Path) -> None:
    set_theme()
    for name in ("a", "b"):
        fig = plot_mechanism(mechanism_history(mech_config), mechanism_phase(), mech_config)
        save_figure(fig, tmp_path / f"{name}.pdf", tmp_path / f"{name}.png")
    for ext in ("pdf", "png"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()
