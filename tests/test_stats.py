"""The statistics stage on crafted frames: verdicts, Bonferroni, TOST, the eps knee, round-off."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from lossscale.config import ConfigError, load_schema, validate_config
from lossscale.exact import is_power_of_two
from lossscale.stats.knee import crossing, knee_table
from lossscale.stats.magnitude import magnitude_table
from lossscale.stats.paired import adjust, compare_all, paired_p, tost_p
from lossscale.stats.roundoff import roundoff_table
from lossscale.study.selections import magnitude_pairs
from lossscale.tables import (
    COMPARISON_COLUMNS,
    KNEE_COLUMNS,
    MAGNITUDE_COLUMNS,
    REFERENCE,
    ROUNDOFF_COLUMNS,
    VERDICTS,
)

pytestmark = pytest.mark.filterwarnings("error")  # no NaN or precision warnings

MARGIN, LEVEL = 0.02, 0.05
SETTING = {
    "task": "diabetes",
    "precision": "float32",
    "batch_size": 0,
    "steps": 10,
    "regularization": "none",
    "compensation": "none",
    "weight_decay": 0.0,
}


def adam_update(alpha: float, grad: float = 1e-11, eps: float = 1e-8, lr: float = 1e-3) -> float:
    """Adam's first-update size per coordinate for a gradient of ``alpha * grad``."""
    return lr * alpha * grad / (alpha * grad + eps)


def history(finals: dict[float, list[float]], steps=(0, 10), **setting) -> pd.DataFrame:
    """A cell's training rows: every alpha and seed at ``steps``; step 0 holds 1.0 and the
    last step the given final metric (train and test alike; NaN: diverged)."""
    cell = SETTING | {"optimizer": "adam"} | setting
    rows = []
    for alpha, values in finals.items():
        for seed, value in enumerate(values):
            for step in steps:
                metric = value if step == steps[-1] else 1.0
                rows.append(
                    cell
                    | {"alpha": alpha, "seed": seed, "step": step, "grad_rms": 1e-11}
                    | {"update_rms": adam_update(alpha) if step != steps[-1] else np.nan}
                    | {"train_metric": metric, "test_metric": metric}
                    | {"diverged": bool(np.isnan(value))}
                )
    return pd.DataFrame(rows)


def compared(finals: dict[float, list[float]], test: str = "t") -> pd.DataFrame:
    table = compare_all(history(finals), 0.95, 200, 0, test=test, margin=MARGIN, level=LEVEL)
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    return table[table["quantity"] == "test"].set_index("alpha")


REF = [0.50, 0.53, 0.47, 0.51, 0.49]


def shifted(delta: float, noise: float = 0.003) -> list[float]:
    return [v + delta + noise * (-1) ** i * (i + 1) for i, v in enumerate(REF)]


# --- comparisons -------------------------------------------------------------------


def test_verdicts_of_crafted_alphas() -> None:
    table = compared(
        {
            1.0: REF,
            2.0: REF,  # identical
            10.0: shifted(0.3),  # a large increase
            100.0: shifted(-0.3),  # a large decrease
            1e3: [*REF[:4], np.nan],  # one seed diverged
            1e4: shifted(0.001, noise=0.002),  # tiny, noisy: inside the margin
        }
    )
    assert table["verdict"].to_dict() == {
        1.0: "reference",
        2.0: "equivalent",
        10.0: "worse",
        100.0: "better",
        1e3: "diverged",
        1e4: "equivalent",
    }
    assert table.loc[2.0, "p_value"] == 1 and table.loc[2.0, "tost_p"] == 0
    assert np.isnan(table.loc[1.0, ["p_value", "p_adj", "tost_p", "tost_p_adj"]]).all()
    assert (table["margin"] == MARGIN).all() and (table["test"] == "t").all()
    assert table.loc[1e3, "n_diverged"] == 1 and table.loc[1e3, "n_pairs"] == 4


def test_a_finite_blow_up_counts_as_diverged() -> None:
    """A seed whose final training metric is finite but above phase.explode times its
    initial one (1.0 here) blew up: the comparison is not left inconclusive."""
    table = compared({1.0: REF, 10.0: [*REF[:4], 1e19], 100.0: [*REF[:4], 9.0]})
    assert table.loc[10.0, "n_exploded"] == 1 and table.loc[10.0, "n_diverged"] == 0
    assert table.loc[10.0, "verdict"] == "diverged"
    assert table.loc[100.0, "n_exploded"] == 0  # 9x its initial metric: not blown up
    assert table.loc[100.0, "verdict"] == "inconclusive"


def test_noisy_or_too_few_pairs_are_inconclusive() -> None:
    table = compared({1.0: [0.5, 0.6], 10.0: [0.9, 0.4], 100.0: [0.5, np.nan]})
    assert table.loc[10.0, "verdict"] == "inconclusive"  # 2 noisy pairs
    assert table.loc[100.0, "verdict"] == "diverged"
    single = compared({1.0: [0.5, np.nan], 10.0: [0.9, 0.4]})
    assert single.loc[10.0, "n_pairs"] == 1 and single.loc[10.0, "verdict"] == "inconclusive"
    assert np.isnan(single.loc[10.0, "p_value"])


def test_a_difference_inside_the_margin_is_equivalent_even_when_detectable() -> None:
    table = compared({1.0: REF, 10.0: shifted(0.005, noise=0.0001)})
    assert table.loc[10.0, "p_adj"] < LEVEL and table.loc[10.0, "verdict"] == "equivalent"


def test_constant_differences_are_decided_exactly() -> None:
    for test in ("t", "wilcoxon"):
        assert paired_p(np.zeros(5), test) == 1 and tost_p(np.zeros(5), MARGIN, test) == 0
        assert paired_p(np.full(5, 0.3), test) == 0 and tost_p(np.full(5, 0.3), MARGIN, test) == 1
        assert tost_p(np.full(5, -0.01), MARGIN, test) == 0
        assert tost_p(np.full(5, MARGIN), MARGIN, test) == 1  # the margin is excluded
        assert np.isnan(paired_p(np.array([0.1]), test))
    table = compared({1.0: REF, 10.0: [v + 0.25 for v in REF], 100.0: [v - 0.25 for v in REF]})
    assert table.loc[10.0, "verdict"] == "worse" and table.loc[100.0, "verdict"] == "better"


def test_paired_p_is_the_paired_t_and_signed_rank_test() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=7), rng.normal(size=7)
    assert paired_p(a - b, "t") == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-12)
    assert paired_p(a - b, "wilcoxon") == pytest.approx(stats.wilcoxon(a, b).pvalue, rel=1e-12)


def test_tost_p_by_hand() -> None:
    d = np.array([0.004, -0.006, 0.011, 0.002, 0.007])
    n, mean, se = d.size, d.mean(), d.std(ddof=1) / math.sqrt(d.size)
    lower = 1 - stats.t.cdf((mean + MARGIN) / se, n - 1)  # H0: mean <= -margin
    upper = stats.t.cdf((mean - MARGIN) / se, n - 1)  # H0: mean >= +margin
    assert tost_p(d, MARGIN, "t") == pytest.approx(max(lower, upper), rel=1e-12)
    # signed rank, all five shifted differences on one side: each one-sided p is 1/2^5
    assert tost_p(d, MARGIN, "wilcoxon") == pytest.approx(1 / 32)
    # and why t is the default: a two-sided signed-rank p is at least 2/2^5 with 5 seeds
    assert paired_p(np.array([0.1, 0.2, 0.3, 0.4, 0.5]), "wilcoxon") == pytest.approx(2 / 32)


def test_adjust_is_bonferroni() -> None:
    p = np.array([0.01, 0.04, np.nan, 0.3])
    np.testing.assert_allclose(adjust(p, 4), [0.04, 0.16, np.nan, 1.0])
    np.testing.assert_allclose(adjust(p, 1), p)
    with pytest.raises(ValueError, match="family_size: value 0"):
        adjust(p, 0)


def test_family_is_the_grids_alphas_other_than_one_in_every_cell() -> None:
    """Two cells with different alpha grids share one family: the grid's three alphas."""
    big = history({1.0: REF, 2.0: shifted(0.01), 10.0: shifted(0.02), 100.0: shifted(0.05)})
    small = history({1.0: REF, 10.0: shifted(0.02)}, optimizer="sgd")
    table = compare_all(pd.concat([big, small]), 0.95, 200, 0, margin=MARGIN, level=LEVEL)
    rows = table[table["alpha"] != 1.0]
    assert (rows["family_size"] == 3).all()
    for name, adjusted in (("p_value", "p_adj"), ("tost_p", "tost_p_adj")):
        np.testing.assert_allclose(rows[adjusted], np.minimum(3 * rows[name], 1.0))
    at_ten = rows[(rows["alpha"] == 10.0) & (rows["quantity"] == "test")]
    assert at_ten["p_adj"].nunique() == 1 and at_ten["verdict"].nunique() == 1


def test_runs_that_stay_at_their_initial_metric_are_neither_trains() -> None:
    """Step 0 holds 1.0: finals within 5% of it do not train; the verdict says so even
    where the two runs are equal, and a trained reference keeps the ordinary verdict."""
    stuck = [0.99, 0.98, 1.0, 0.97, 0.99]
    table = compared({1.0: stuck, 10.0: stuck, 100.0: REF})
    assert table.loc[10.0, "verdict"] == "neither_trains"
    assert table.loc[10.0, "progress"] == pytest.approx(1 - np.mean(stuck))
    assert table.loc[100.0, "verdict"] == "better"  # it trains, the reference does not
    trained = compared({1.0: REF, 10.0: stuck})
    assert trained.loc[10.0, "verdict"] == "worse"
    loose = compare_all(
        history({1.0: [0.9] * 5, 10.0: [0.91] * 5}), 0.95, 200, 0, untrained=0.2, margin=MARGIN
    )
    assert set(loose.loc[loose["alpha"] == 10.0, "verdict"]) == {"neither_trains"}


def test_early_stopped_quantity_is_the_lowest_held_out_value_before_divergence() -> None:
    rows = history({1.0: REF, 10.0: [*REF[:4], np.nan]}, steps=(0, 5, 10))
    middle = rows["step"] == 5
    rows.loc[middle, "test_metric"] = 0.2  # held-out bottoms out mid-run
    rows.loc[rows["step"] == 10, "diverged"] = rows.loc[rows["step"] == 10, "diverged"]
    table = compare_all(rows, 0.95, 200, 0, margin=MARGIN, level=LEVEL)
    best = table[table["quantity"] == "test_best"].set_index("alpha")
    assert best.loc[1.0, "mean"] == pytest.approx(0.2)
    # the diverged seed's best counts as diverged, like its final value
    assert best.loc[10.0, "n_diverged"] == 1 and best.loc[10.0, "verdict"] == "diverged"
    final = table[table["quantity"] == "test"].set_index("alpha")
    assert final.loc[1.0, "mean"] == pytest.approx(np.mean(REF))


def test_unknown_test_is_an_error_naming_the_key() -> None:
    with pytest.raises(ValueError, match=r"stats\.test: value 'z'"):
        compare_all(history({1.0: REF}), 0.95, 200, 0, test="z")


def test_schema_bounds_of_the_stats_keys(root) -> None:
    schema = load_schema(root / "workflow/schemas/config.schema.yaml")
    defaults = validate_config({}, schema)["stats"]
    assert (defaults["test"], defaults["margin"], defaults["level"]) == ("t", 0.02, 0.05)
    assert defaults["knee_factor"] == 10
    for key, value in (("margin", 0), ("level", 1), ("knee_factor", 1), ("test", "z")):
        with pytest.raises(ConfigError, match=rf"stats\.{key}: value"):
            validate_config({"stats": {key: value}}, schema)


# --- the eps knee ------------------------------------------------------------------

ALPHAS = [10.0**k for k in range(-4, 9)]


def sigmoid(knee: float, start: float = 1.0, end: float = 0.1) -> dict[float, list[float]]:
    """Final metrics falling from ``start`` to ``end`` as a logistic in log10 alpha, half
    way at ``knee``; the seeds scatter by +-0.002."""
    curve = {a: end + (start - end) / (1 + (a / knee) ** 1.5) for a in ALPHAS}
    return {a: [v + 0.002 * s for s in (-1, 0, 1)] for a, v in curve.items()}


def knees(frame: pd.DataFrame, factor: float = 10.0) -> pd.DataFrame:
    table = knee_table([frame], {"adam": 1e-8}, factor)  # predicted: 1e-8 / 1e-11 = 1000
    assert list(table.columns) == list(KNEE_COLUMNS)
    return table


def test_knee_of_a_sigmoid() -> None:
    row = knees(history(sigmoid(300.0))).iloc[0]
    assert row["predicted_knee"] == pytest.approx(1e3) and row["grad_rms_init"] == 1e-11
    # log-linear interpolation between decades: within 15% of the sigmoid's midpoint
    assert row["measured_knee"] == pytest.approx(300, rel=0.15) and row["censored"] == ""
    assert row["ratio"] == pytest.approx(row["measured_knee"] / 1e3)
    assert row["agrees"]
    assert not knees(history(sigmoid(300.0)), factor=2).iloc[0]["agrees"]
    far = knees(history(sigmoid(1e7))).iloc[0]
    assert far["measured_knee"] == pytest.approx(1e7, rel=0.15) and not far["agrees"]


def test_knee_by_update_is_where_the_update_reaches_half_its_top() -> None:
    """The update curve is Adam's ``lr alpha g / (alpha g + eps)``: exactly half its top
    at alpha = eps / g = 1000, whatever the final metrics do."""
    for finals in (sigmoid(1e7), {a: [0.95, 0.96] for a in ALPHAS}):
        row = knees(history(finals)).iloc[0]
        for name in ("first", "run"):
            assert row[f"update_knee_{name}"] == pytest.approx(1e3, rel=0.2)
            assert row[f"update_{name}_censored"] == "" and row[f"update_{name}_agrees"]
    shifted_curve = history(sigmoid(300.0))
    shifted_curve["update_rms"] = shifted_curve["alpha"].map(lambda a: adam_update(a, eps=1e-5))
    row = knees(shifted_curve).iloc[0]
    assert row["update_knee_first"] == pytest.approx(1e6, rel=0.2)
    assert not row["update_first_agrees"]  # predicted 1000, measured 1e6
    unsaturated = history(sigmoid(300.0))
    unsaturated["update_rms"] = unsaturated["alpha"] * 1e-12  # linear: SGD-like, no knee
    row = knees(unsaturated).iloc[0]
    assert (row["update_knee_first"], row["update_first_censored"]) == (ALPHAS[-1], "above")
    assert not row["update_first_agrees"]  # 1e8 is more than 10x the predicted 1000
    frozen = history(sigmoid(300.0)).assign(update_rms=0.0)
    assert knees(frozen).iloc[0]["update_first_censored"] == "flat"


def test_knee_ignores_diverged_seeds() -> None:
    finals = sigmoid(300.0)
    finals[1e8] = [np.nan, *finals[1e8][1:]]
    assert knees(history(finals)).iloc[0]["measured_knee"] == pytest.approx(300, rel=0.15)


def test_knee_censoring() -> None:
    below = knees(history(sigmoid(1e-7))).iloc[0]
    assert below["censored"] == "below" and below["measured_knee"] == ALPHAS[0]
    assert not below["agrees"]  # predicted 1000 > 10 x 1e-4
    flat = knees(history({a: [0.95, 0.96] for a in ALPHAS})).iloc[0]
    assert flat["censored"] == "flat" and np.isnan(flat["measured_knee"])
    assert pd.isna(flat["agrees"])
    # no alpha reaches the level: the largest alpha, a lower bound
    assert crossing([1.0, 10.0, 100.0], [0.9, 0.8, 0.7], 0.5) == (100.0, "above")
    assert crossing([1.0, 10.0], [0.9, 0.5], 0.7) == (pytest.approx(10**0.5), "")


def test_knee_cells_only_where_it_is_defined() -> None:
    few = history({1.0: [0.9], 1e4: [0.2]})  # two alphas
    no_ref = history({10.0: [0.9], 100.0: [0.5], 1e4: [0.2]}, optimizer="nadam")
    sgd = history(sigmoid(300.0), optimizer="sgd")
    eps = history(sigmoid(300.0), compensation="eps")
    assert knees(pd.concat([few, no_ref, sgd, eps])).empty
    with pytest.raises(ValueError, match=r"optimizers\.rmsprop\.eps"):
        knee_table([history(sigmoid(3.0), optimizer="rmsprop")], {"adam": 1e-8}, 10)
    zero = knee_table([history(sigmoid(300.0))], {"adam": 0.0}, 10).iloc[0]  # eps = 0
    assert zero["predicted_knee"] == 0 and zero["ratio"] == math.inf and not zero["agrees"]
    with pytest.raises(ValueError, match=r"stats\.knee_factor: value 1"):
        knee_table([], {"adam": 1e-8}, 1)


# --- round-off ---------------------------------------------------------------------


def roundoff_history(optimizer: str, compensation: str, runs: dict) -> pd.DataFrame:
    """Every alpha's seeds, each a list of metrics at steps 0, 10, 20."""
    rows = []
    for alpha, seeds in runs.items():
        for seed, values in enumerate(seeds):
            for step, value in zip((0, 10, 20), values, strict=True):
                rows.append(
                    SETTING
                    | {"optimizer": optimizer, "compensation": compensation}
                    | {"alpha": alpha, "seed": seed, "step": step}
                    | {"train_metric": value, "test_metric": value, "diverged": False}
                )
    return pd.DataFrame(rows)


UNTRAINED = 0.05
RUNS = [[1.0, 0.7, 0.50], [1.0, 0.6, 0.54], [1.0, 0.8, 0.46]]  # final SD 0.04


def perturbed(step: int, delta: float) -> list[list[float]]:
    return [[v + delta * (i == step) for i, v in enumerate(run)] for run in RUNS]


def test_roundoff_detects_bitwise_and_final_differences() -> None:
    runs = {1.0: RUNS, 2.0: RUNS, 10.0: perturbed(1, 1e-7), 0.1: perturbed(2, 0.002)}
    table = roundoff_table([roundoff_history("lion", "none", runs)], UNTRAINED)
    assert list(table.columns) == list(ROUNDOFF_COLUMNS)
    assert table["trains"].all() and table["ref_progress"].eq(0.5).all()
    table = table.set_index("alpha")
    assert table["bitwise"].to_dict() == {0.1: False, 2.0: True, 10.0: False}
    assert table["power_of_two"].to_dict() == {0.1: False, 2.0: True, 10.0: False}
    assert table.loc[10.0, "max_abs_diff"] == 0  # differs only before the final step
    assert table.loc[0.1, "seed_sd"] == pytest.approx(0.04)
    assert table.loc[0.1, "ratio"] == pytest.approx(0.002 / 0.04)
    assert table["uncompensated_abs_effect"].isna().all() and (table["n_seeds"] == 3).all()


def test_roundoff_compares_a_compensated_cell_with_its_uncompensated_effect() -> None:
    compensated = roundoff_history("adam", "eps", {1.0: RUNS, 10.0: RUNS})
    plain = roundoff_history("adam", "none", {1.0: RUNS, 10.0: perturbed(2, -0.1)})
    sgd = roundoff_history("sgd", "none", {1.0: RUNS, 10.0: RUNS})  # not an exact cell
    table = roundoff_table([pd.concat([compensated, plain]), sgd], UNTRAINED)
    assert len(table) == 1 and table.loc[0, "compensation"] == "eps"
    assert table.loc[0, "bitwise"] and not table.loc[0, "power_of_two"]
    assert table.loc[0, "uncompensated_abs_effect"] == pytest.approx(0.1)
    assert table.loc[0, "uncompensated_ratio"] == pytest.approx(0.1 / 0.04)


def test_roundoff_marks_cells_whose_reference_does_not_train() -> None:
    stuck = [[1.0, 0.99, 0.98], [1.0, 1.0, 0.99], [1.0, 0.98, 0.97]]
    table = roundoff_table([roundoff_history("lion", "none", {1.0: stuck, 2.0: stuck})], 0.05)
    assert not table.loc[0, "trains"] and table.loc[0, "ref_progress"] == pytest.approx(0.02)
    assert roundoff_table([roundoff_history("lion", "none", {1.0: stuck, 2.0: stuck})], 0.01)[
        "trains"
    ].all()


def test_roundoff_of_nothing_is_the_header() -> None:
    assert list(roundoff_table([], UNTRAINED).columns) == list(ROUNDOFF_COLUMNS)
    assert list(knee_table([], {}, 10).columns) == list(KNEE_COLUMNS)


def test_power_of_two() -> None:
    assert all(map(is_power_of_two, (1.0, 2.0**10, 0.5, 2.0**-30, 2.0**20)))
    assert not any(map(is_power_of_two, (10.0, 3.0, 0.0, -2.0, math.inf, 1e-8)))


def test_crafted_grid_covers_every_verdict() -> None:
    """Every verdict of tables.VERDICTS occurs on a crafted cell (guards renames)."""
    finals = {1.0: REF, 2.0: REF, 10.0: shifted(0.3), 100.0: shifted(-0.3)}
    finals |= {1e3: [*REF[:4], np.nan], 1e4: [0.9, 0.1, 0.5, 0.2, 0.8]}
    seen = set(compared(finals)["verdict"])
    seen |= set(compared({1.0: [1.0] * 5, 2.0: [1.0] * 5})["verdict"])
    assert seen == {REFERENCE, *VERDICTS}


# --- loss magnitude as a loss scale ------------------------------------------------

MAGNITUDE_TASKS = {
    "tiny": {"kind": "diabetes", "target_scale": 1e-2, "scale_output": True, "lr": {}},
    "unit": {"kind": "diabetes", "target_scale": 1.0, "scale_output": True, "lr": {"sgd": 0.1}},
    "targets": {"kind": "diabetes", "target_scale": 1e-2, "scale_output": False},
    "deep": {"kind": "diabetes", "target_scale": 1e-2, "scale_output": True, "hidden": [8]},
    "digits": {"kind": "digits"},
}


def test_magnitude_pairs_are_tasks_that_differ_only_by_target_scale() -> None:
    assert magnitude_pairs(MAGNITUDE_TASKS) == [("tiny", "unit", pytest.approx(1e-4))]
    assert magnitude_pairs({"a": {"kind": "digits"}, "b": {"kind": "digits"}}) == []


def magnitude_final(task: str, optimizer: str, finals: dict[float, list[float]]) -> pd.DataFrame:
    rows = history(finals, optimizer=optimizer, task=task)
    return rows[rows["step"] == rows["step"].max()]


def test_magnitude_table_pairs_alpha_s2_and_skips_different_learning_rates() -> None:
    final = pd.concat(
        [
            magnitude_final("tiny", "adam", {1.0: REF, 100.0: REF, 1e4: shifted(0.01)}),
            magnitude_final("unit", "adam", {1e-4: REF, 1e-2: REF, 1.0: shifted(0.0)}),
            magnitude_final("tiny", "sgd", {1e4: REF}),  # sgd's lr differs between them
            magnitude_final("unit", "sgd", {1.0: REF}),
        ]
    )
    table = magnitude_table(final, MAGNITUDE_TASKS)
    assert list(table.columns) == list(MAGNITUDE_COLUMNS)
    assert set(table["optimizer"]) == {"adam"}
    assert table["alpha"].tolist() == [1.0, 100.0, 1e4]
    assert table["other_alpha"].tolist() == pytest.approx([1e-4, 1e-2, 1.0])
    assert table["max_abs_diff"].tolist()[:2] == [0.0, 0.0]
    expected = np.abs(np.array(shifted(0.01)) - np.array(shifted(0.0))).max()
    assert table["max_abs_diff"].iloc[2] == pytest.approx(expected)
    assert table["ratio"].iloc[2] == pytest.approx(expected / np.std(shifted(0.0), ddof=1))
    assert magnitude_table(final[final["task"] == "tiny"], MAGNITUDE_TASKS).empty


def test_an_alpha_with_fewer_seeds_is_missing_them_not_diverged() -> None:
    """Blocks may train one alpha with fewer seeds: the missing seeds are not counted."""
    rows = history({1.0: REF + REF, 10.0: shifted(0.1)})  # 10 seeds at 1, 5 at 10
    table = compare_all(rows, 0.95, 200, 0, margin=MARGIN, level=LEVEL)
    at_ten = table[(table["alpha"] == 10.0) & (table["quantity"] == "test")].iloc[0]
    assert (at_ten["n_seeds"], at_ten["n_pairs"], at_ten["n_diverged"]) == (5, 5, 0)
    assert at_ten["verdict"] == "worse" and at_ten["ref_mean"] == pytest.approx(np.mean(REF))
    ref = table[(table["alpha"] == 1.0) & (table["quantity"] == "test")].iloc[0]
    assert ref["n_seeds"] == 10
