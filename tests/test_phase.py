"""The asker's phase diagram: the prediction on hand-computed cases, the measured table
and boundaries on crafted histories, the config checks, the figure and the layer probe."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import phase_data
import pytest
import torch

from lossscale.config import ConfigError
from lossscale.figures.phase_diagram import LINES, plot_phase_diagram
from lossscale.stats.phase import (
    factor_for_update,
    measured_boundary,
    outcome,
    predicted_boundaries,
    predicted_update,
    regime,
)
from lossscale.study.phase import check_phase
from lossscale.tables import PHASE_BOUNDARY_COLUMNS, PHASE_COLUMNS
from lossscale.train.layers import layer_table

# --- the prediction, by hand --------------------------------------------------------------


@pytest.mark.parametrize(
    ("arm", "eps", "factor", "expected"),
    [
        # G = 1e-9, lr = 1e-3: loss x 10 -> 1e-3 * 1e-8 / (1e-8 + 1e-7) = 1e-3 / 11
        ("loss", 1e-7, 10.0, 1e-3 / 11),
        # the learning rate x 10 -> 1e-2 * 1e-9 / (1e-9 + 1e-7) = 1e-2 / 101
        ("lr", 1e-7, 10.0, 1e-2 / 101),
        # eps / 10 -> 1e-3 * 1e-9 / (1e-9 + 1e-8): the loss arm's value
        ("eps", 1e-7, 10.0, 1e-3 / 11),
        # far above eps the loss arm saturates at lr, the lr arm grows to factor * lr
        ("loss", 1e-7, 1e6, 1e-3 * 1e-3 / (1e-3 + 1e-7)),
        ("lr", 1e-12, 1e6, 1e3 * 1e-9 / (1e-9 + 1e-12)),
        # SGD: factor * lr * G, both arms
        ("loss", None, 100.0, 100 * 1e-3 * 1e-9),
        ("lr", None, 100.0, 100 * 1e-3 * 1e-9),
    ],
)
def test_predicted_first_update(arm, eps, factor, expected):
    assert predicted_update(arm, 1e-9, 1e-3, eps, factor) == pytest.approx(expected, rel=1e-12)


def test_predicted_update_refuses_what_does_not_exist():
    with pytest.raises(ValueError, match="arm 'eps' needs an optimizer with eps"):
        predicted_update("eps", 1e-9, 1e-3, None, 10.0)
    with pytest.raises(ValueError, match="arm: value 'weights' is not allowed; allowed: loss"):
        predicted_update("weights", 1e-9, 1e-3, 1e-7, 10.0)


@pytest.mark.parametrize("arm", ["loss", "lr", "eps"])
@pytest.mark.parametrize("eps", [1e-7, None])
def test_factor_for_update_inverts_the_prediction(arm, eps):
    if arm == "eps" and eps is None:
        return
    for factor in (1e-2, 1.0, 37.5, 1e5):
        update = predicted_update(arm, 3e-9, 2e-3, eps, factor)
        assert factor_for_update(arm, 3e-9, 2e-3, eps, update) == pytest.approx(factor, rel=1e-9)


def test_the_scaled_loss_never_outgrows_the_learning_rate():
    """The saturation asymmetry: no factor of the loss reaches lr, the lr arm always can."""
    assert factor_for_update("loss", 1e-9, 1e-3, 1e-7, 1e-3) == math.inf
    assert factor_for_update("eps", 1e-9, 1e-3, 1e-7, 2e-3) == math.inf
    assert factor_for_update("lr", 1e-9, 1e-3, 1e-7, 2e-3) == pytest.approx(2 * 101)


@pytest.mark.parametrize(
    ("arm", "update", "eps", "factor", "expected"),
    [
        ("loss", 0.2, 1e-7, 1.0, "oversized"),  # above 1 x the parameters' RMS (0.1)
        ("loss", 4e-4, 1e-7, 1.0, "eps"),  # under lr / 2 = 1e-3
        ("loss", 1e-3, 1e-7, 1.0, "normalized"),  # exactly lr / 2
        ("lr", 4e-3, 1e-7, 10.0, "eps"),  # under 10 lr / 2 = 1e-2
        ("lr", 0.05, 1e-7, 10.0, "normalized"),
        ("loss", 0.05, None, 10.0, "linear"),  # SGD
    ],
)
def test_regime(arm, update, eps, factor, expected):
    assert regime(arm, update, 2e-3, eps, factor, 0.1, 1.0) == expected


def test_predicted_boundaries_by_hand():
    # G = 1e-9, eps = 1e-7, lr = 2e-3, parameters' RMS 0.1, oversized at 1 x it
    loss = predicted_boundaries("loss", 1e-9, 2e-3, 1e-7, 0.1, 1.0)
    assert loss["normalized"] == pytest.approx(100.0)  # eps / G
    assert loss["trains"] == pytest.approx(100.0)
    assert loss["blows_up"] == math.inf  # lr < 0.1: the scaled loss cannot blow up
    lr = predicted_boundaries("lr", 1e-9, 2e-3, 1e-7, 0.1, 1.0)
    assert lr["normalized"] == math.inf  # G < eps whatever the factor
    assert lr["trains"] == pytest.approx(101 / 2)  # (G + eps) / (2 G)
    assert lr["blows_up"] == pytest.approx(0.1 * 101 / 2e-3)  # oversize (G + eps) / (lr G)
    assert predicted_boundaries("lr", 1e-6, 2e-3, 1e-7, 0.1, 1.0)["normalized"] == 0.0
    sgd = predicted_boundaries("loss", 1e-9, 1e3, None, 0.1, 1.0)
    assert math.isnan(sgd["normalized"]) and math.isnan(sgd["trains"])
    assert sgd["blows_up"] == pytest.approx(0.1 / (1e3 * 1e-9))


# --- the measured outcome -----------------------------------------------------------------


def _seeds(finals, diverged=None, peaks=None):
    n = len(finals)
    init = pd.DataFrame({"seed": range(n), "train_metric": [1.0] * n})
    final = pd.DataFrame(
        {
            "seed": range(n),
            "train_metric": finals,
            "test_metric": finals,
            "diverged": diverged or [False] * n,
        }
    )
    # the largest recorded metric: the final one unless given
    peak = pd.Series(peaks or [max(1.0, f) for f in finals], index=range(n))
    return init, final, peak


@pytest.mark.parametrize(
    ("finals", "diverged", "peaks", "expected", "n_diverged", "n_exploded"),
    [
        ([0.1, 0.2, 0.3], None, None, "trains", 0, 0),
        ([0.4, 0.6, 0.8], None, None, "stalls", 0, 0),  # mean 0.6 > 0.5
        ([0.1, 50.0, 20.0], None, None, "blows_up", 0, 2),  # above 10 x the initial 1
        ([0.1, 0.2, math.nan], [False, False, True], None, "trains", 1, 0),  # one of three
        ([math.nan, 20.0, 0.1], [True, False, False], None, "blows_up", 1, 1),
        ([0.1, 9.0, 0.2], None, None, "stalls", 0, 0),  # 9 < 10 x: not exploded; mean 3.1
        # blew up, then collapsed to a constant output (final 1.0): exploded
        ([1.0, 1.0, 0.1], None, [1e4, 1e4, 1.0], "blows_up", 0, 2),
        # spiked past 10 x and then trained (final 0.1 <= 0.5): not exploded
        ([0.1, 0.2, 0.3], None, [1e4, 1.0, 1.0], "trains", 0, 0),
    ],
)
def test_outcome(finals, diverged, peaks, expected, n_diverged, n_exploded):
    result = outcome(*_seeds(finals, diverged, peaks), trains=0.5, explode=10.0)
    assert result["outcome"] == expected
    assert (result["n_diverged"], result["n_exploded"]) == (n_diverged, n_exploded)


@pytest.mark.parametrize(
    ("hit", "values", "expected", "censored"),
    [
        # the value falls through 0.5 between 1 and 10, halfway: sqrt(10)
        ([False, True, True], [1.0, 0.0, -1.0], 10**0.5, ""),
        # first hit at 100, a quarter of the way from 10: 10 * 10**0.25
        ([False, False, True], [1.0, 1.0, -1.0], 10**1.25, ""),
        ([True, True, True], [0.0, 0.0, 0.0], 1.0, "below"),
        ([False, False, False], [1.0, 1.0, 1.0], 100.0, "above"),
        # no bracketing crossing (a non-finite neighbour): the grid factor itself
        ([False, True, True], [math.nan, 0.0, 0.0], 10.0, ""),
    ],
)
def test_measured_boundary_is_interpolated_in_log_factor(hit, values, expected, censored):
    factors = np.array([1.0, 10.0, 100.0])
    measured, where = measured_boundary(factors, np.array(hit), np.array(values), 0.5)
    assert measured == pytest.approx(expected) and where == censored


# --- the table and the boundaries on crafted histories ------------------------------------


@pytest.fixture(scope="module")
def crafted():
    return phase_data.tables()


def test_phase_table_on_crafted_histories(crafted):
    phase, _ = crafted
    assert list(phase.columns) == list(PHASE_COLUMNS)
    assert len(phase) == 12 and set(phase["n_seeds"]) == {3}
    # sorted by target scale, then arm (loss, lr, eps) and factor
    assert list(phase["task"][:6]) == ["diabetes"] * 6
    assert list(phase["arm"][:6]) == ["loss", "loss", "lr", "lr", "eps", "eps"]
    row = phase[
        (phase["task"] == "diabetes_e4") & (phase["arm"] == "lr") & (phase["factor"] == 1e5)
    ]
    row = row.iloc[0]
    assert row["outcome"] == "blows_up" and row["n_exploded"] == 3 and row["n_diverged"] == 0
    assert row["grad_rms_init"] == pytest.approx(1e-8)
    assert row["param_rms_init"] == pytest.approx(0.1)
    # lr x 1e5 with G = 1e-8, eps = 1e-7: 200 * 1e-8 / 1.1e-7 = 18.2, over the parameters' 0.1
    assert row["update_rms_first"] == pytest.approx(200 * 1e-8 / 1.1e-7 / 0.1)
    assert row["predicted_update"] == pytest.approx(row["update_rms_first"])
    assert row["predicted_regime"] == row["measured_regime"] == "oversized"
    loss = phase[
        (phase["task"] == "diabetes") & (phase["arm"] == "loss") & (phase["factor"] == 1e5)
    ]
    # loss x 1e5 with G = 1e-10: 1e-5 against eps 1e-7, normalized
    assert loss.iloc[0]["predicted_regime"] == "normalized"
    assert loss.iloc[0]["train_metric"] == pytest.approx(0.101)  # 0.1 x (1, 1.01, 1.02)
    # the asker's observation: at 1e-4 x 1e5 (every arm's row), not at 1e-5 or at factor 1
    pattern = phase.groupby(["task", "factor"])["asker_pattern"].agg(["all", "any"])
    assert pattern.loc[("diabetes_e4", 1e5)].tolist() == [True, True]
    assert not pattern.loc[("diabetes", 1e5), "any"] and not pattern.xs(1.0, level=1)["any"].any()


def test_boundaries_on_crafted_histories(crafted):
    _, boundaries = crafted
    assert list(boundaries.columns) == list(PHASE_BOUNDARY_COLUMNS)
    index = boundaries.set_index(["task", "arm", "boundary"])
    # 1e-4, lr arm: none of 3 seeds blew up at 1, all at 1e5: half of them at the
    # midpoint in log factor, 10**2.5; predicted 0.1 (G + eps) / (lr G) = 550
    lr = index.loc[("diabetes_e4", "lr", "blows_up")]
    assert lr["measured"] == pytest.approx(10**2.5) and lr["censored"] == ""
    assert lr["predicted"] == pytest.approx(0.1 * 1.1e-7 / (2e-3 * 1e-8))
    assert lr["agrees"]  # 550 is within a decade of 316
    # the loss arm never blows up, as predicted
    loss = index.loc[("diabetes_e4", "loss", "blows_up")]
    assert loss["predicted"] == math.inf and loss["censored"] == "above" and loss["agrees"]
    # the loss arm trains at 1e5, not at 1: where the mean metric (0.909 at 1, 0.101 at
    # 1e5) crosses 0.5 in decades; predicted eps / G = 1e-7 / 1e-10 = 1e3
    trains = index.loc[("diabetes", "loss", "trains")]
    cross = math.log10(0.5 / 0.909) / math.log10(0.101 / 0.909)
    assert trains["predicted"] == pytest.approx(1e3)
    assert trains["measured"] == pytest.approx(10 ** (5 * cross))
    assert not trains["agrees"]  # 23 is more than a decade from 1e3


def test_check_phase_refuses_what_the_diagram_cannot_use():
    block = {"phase": True, "tasks": ["diabetes"], "optimizers": ["nadam"], "alphas": [1, 10]}
    with pytest.raises(ConfigError, match=r"train\.blocks\.p\.regularizations: value"):
        check_phase(phase_data.config({"p": block | {"regularizations": ["coupled"]}}))
    with pytest.raises(ConfigError, match=r"compensations: value \['lr_instead'\] is not allowed"):
        check_phase(phase_data.config({"p": block | {"compensations": ["lr_instead"]}}))
    config = phase_data.config({"p": block | {"tasks": ["diabetes", "diabetes_e4"]}})
    config["tasks"]["diabetes_e4"]["target_scale"] = 1e-5
    with pytest.raises(ConfigError, match="same target_scale and scale_output"):
        check_phase(config)
    # a probe of an unknown task: the schema's x-names (tests/test_faults.py)


def test_default_grid_holds_the_phase_diagram(root):
    """The default study: every loss magnitude of 1e-6 .. 1 by decades, factors 1 .. 1e6
    with 1e5, the three arms for NAdam and Adam, two for SGD, an unscaled-output variant."""
    config = phase_data.validate_config(
        phase_data.yaml.safe_load((root / "config.yaml").read_text()),
        phase_data.load_schema(phase_data.SCHEMA),
    )
    phase = {n: b for n, b in config["train"]["blocks"].items() if b["phase"]}
    scales = {
        config["tasks"][t]["target_scale"]
        for b in phase.values()
        for t in b["tasks"]
        if config["tasks"][t].get("scale_output", True)
    }
    assert scales == {10.0**-k for k in range(7)}
    assert any(not config["tasks"][t]["scale_output"] for b in phase.values() for t in b["tasks"])
    factors = {float(a) for b in phase.values() for a in b["alphas"]}
    assert factors == {10.0**k for k in range(7)}
    arms = {(o, c) for b in phase.values() for o in b["optimizers"] for c in b["compensations"]}
    assert {("nadam", c) for c in ("none", "lr_instead", "eps_instead")} <= arms
    assert {("adam", c) for c in ("none", "lr_instead", "eps_instead")} <= arms
    assert {("sgd", "none"), ("sgd", "lr_instead")} <= arms
    assert config["train"]["seeds"] >= 5 and config["optimizers"]["nadam"]["eps"] == 1e-7


# --- the figure ---------------------------------------------------------------------------


def test_figure_draws_the_map_and_the_predicted_boundaries(crafted):
    phase, boundaries = crafted
    fig = plot_phase_diagram(phase, boundaries, phase_data.config())
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.collections]
    assert len(axes) == 3  # one optimizer, three arms
    lr = axes[1]
    # the lr arm's blow-up at 1e-4, factor 1e5 is marked (exploded: a triangle)
    marks = [line for line in lr.lines if line.get_marker() == "^"]
    assert [(m.get_xdata()[0], m.get_ydata()[0]) for m in marks] == [(1e5, 1e-4)]
    # the predicted oversized boundary: at 550 across the 1e-4 row of cells
    stair = [line for line in lr.lines if line.get_color() == LINES["blows_up"]["color"]]
    predicted = boundaries[
        (boundaries["arm"] == "lr") & (boundaries["boundary"] == "blows_up")
    ].sort_values("target_scale")["predicted"]
    drawn = sorted({x for line in stair for x in line.get_xdata()})
    assert drawn == pytest.approx(sorted(p for p in predicted if 10**-0.5 <= p <= 10**5.5))
    # the cells of the asker's observation are framed in the loss and the lr arm
    frames = [(ax, p.get_xy()) for ax in axes for p in ax.patches]
    assert [(axes.index(ax), xy) for ax, xy in frames] == [
        (0, pytest.approx((1e5 / 10**0.5, 1e-4 / 10**0.5))),
        (1, pytest.approx((1e5 / 10**0.5, 1e-4 / 10**0.5))),
    ]
    # the colour of a cell is its mean final training metric
    mesh = lr.collections[0]
    assert np.nanmax(mesh.get_array()) == pytest.approx(1e3 * 1.01)


def test_figure_marks_a_minority_blow_up(crafted):
    phase, boundaries = crafted
    phase = phase.copy()
    # 1e-5, lr x 1e5 trained; let one of its three seeds have exploded
    hit = (phase["task"] == "diabetes") & (phase["arm"] == "lr") & (phase["factor"] == 1e5)
    assert (phase.loc[hit, "outcome"] == "trains").all()
    phase.loc[hit, "n_exploded"] = 1
    fig = plot_phase_diagram(phase, boundaries, phase_data.config())
    axes = [ax for ax in fig.axes if ax.get_label() != "<colorbar>" and ax.collections]
    marks = {m: [] for m in ("+", "o")}
    for line in axes[1].lines:
        if line.get_marker() in marks:
            marks[line.get_marker()].append((line.get_xdata()[0], line.get_ydata()[0]))
    assert marks["+"] == [(1e5, 1e-5)] and (1e5, 1e-5) not in marks["o"]
    assert axes[1].get_ylabel() == "learning rate $\\times\\,a$:\ntarget scale"


def test_figure_without_rows_names_the_figure():
    empty = pd.DataFrame(columns=list(PHASE_COLUMNS))
    with pytest.raises(ValueError, match="figure phase_diagram: no data to draw"):
        plot_phase_diagram(empty, pd.DataFrame(columns=list(PHASE_BOUNDARY_COLUMNS)), {})


# --- the layer probe ----------------------------------------------------------------------


def test_layer_probe_measures_each_layer(root):
    settings = {
        "kind": "diabetes",
        "target_scale": 1e-3,
        "hidden": [6, 6, 6],
        "activation": "tanh",
        "scale_output": True,
        "test_fraction": 0.25,
        "split_seed": 0,
    }
    hyper = {"lr": 2e-3, "eps": 1e-7}
    table = layer_table("deep", settings, "nadam", hyper, [1.0, 1e2, 1e4], 2, 3, "cpu", 1)
    assert len(table) == 2 * 3 * 2 * 4  # arms x factors x seeds x layers
    assert list(table[table["seed"] == 0]["n_params"][:4]) == [66, 42, 42, 7]
    # the gradient per layer, by hand with autograd on one replica of seed 0
    from lossscale.models import build_model
    from lossscale.tasks import make_task

    task = make_task("deep", settings, torch.float32, "cpu")
    model = build_model(task.model, [0], dtype=torch.float32)
    task.loss(model(task.x_train), task.y_train).sum().backward()
    grads = model.params
    for layer in range(4):
        g = torch.cat([grads[2 * layer].grad.reshape(-1), grads[2 * layer + 1].grad.reshape(-1)])
        expected = float(g.double().pow(2).mean().sqrt())
        got = table[(table["seed"] == 0) & (table["layer"] == layer + 1)]["grad_rms_init"]
        assert got.to_numpy() == pytest.approx(expected, rel=1e-6)
    # Adam's first update is proportional to the learning rate: 100 x from 1e2 to 1e4
    # (to float32's rounding of the parameters); the loss x 1 is the lr x 1
    at = table.set_index(["arm", "factor", "seed", "layer"])["update_rms_first"]
    for layer in range(1, 5):
        assert at[("lr", 1e4, 0, layer)] == pytest.approx(100 * at[("lr", 1e2, 0, layer)], rel=1e-2)
        assert at[("loss", 1.0, 0, layer)] == at[("lr", 1.0, 0, layer)]
        # the scaled loss grows it less: its gradient saturates against eps
        assert at[("loss", 1e4, 0, layer)] < at[("lr", 1e4, 0, layer)]
    assert (table["grad_over_eps"] == table["grad_rms_init"] / 1e-7).all()


def test_figure_from_the_result_files_is_byte_identical(crafted, tmp_path):
    """Drawn through ``draw`` from crafted CSV files, twice: the same bytes."""
    from lossscale.figures import draw
    from lossscale.figures.theme import save_figure, set_theme

    phase, boundaries = crafted
    phase.to_csv(tmp_path / "phase.csv", index=False)
    boundaries.to_csv(tmp_path / "boundaries.csv", index=False)
    inputs = {"phase": [tmp_path / "phase.csv"], "phase_boundaries": [tmp_path / "boundaries.csv"]}
    set_theme()
    for name in ("a", "b"):
        fig = draw("phase_diagram", inputs, phase_data.config())
        save_figure(fig, tmp_path / f"{name}.pdf", tmp_path / f"{name}.png")
    for ext in ("pdf", "png"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()
