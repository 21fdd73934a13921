"""Names shared by the writers and the readers of the result files (docs/results.md).

Result files are a public interface: their columns are defined once, here, and every
stage that writes or reads them uses these tuples. Display labels live here too, so the
figures and the paper name things the same way.
"""

from lossscale.study import optimizers

CLAIM_COLUMNS = (
    "claim_id",
    "optimizer",
    "transformation",
    "method",
    "alpha",
    "expected",
    "observed",
    "max_rel_deviation",
    "tolerance",
    "verdict",
)

#: How a claim is checked (claims.csv's ``method`` column), in the ledger's order.
SYMBOLIC, TRAJECTORY, BITWISE = "symbolic", "float64 trajectory", "bitwise"
CLAIM_METHODS = (SYMBOLIC, TRAJECTORY, BITWISE)

#: A training cell: one parquet file per (task, optimizer, precision, batch size, steps).
JOB = ("task", "optimizer", "precision", "batch_size", "steps")
#: What makes a replica within its job (lossscale.train.variants.Replica's fields).
REPLICA_COLUMNS = ("regularization", "compensation", "weight_decay", "alpha", "seed")
#: A cell of the comparisons: every alpha x seed of one setting.
CELL = (*JOB, "regularization", "compensation", "weight_decay")
TRAIN_ID_COLUMNS = (*JOB, *REPLICA_COLUMNS, "step")
TRAIN_RECORD_COLUMNS = (
    "train_loss",
    "test_loss",
    "train_metric",
    "test_metric",
    "grad_rms",
    "grad_zero_frac",
    "grad_nonfinite_frac",
    "param_rms",
    "update_rms",
    "diverged",
)

COMPARISON_COLUMNS = (
    *CELL,
    "quantity",
    "alpha",
    "n_seeds",
    "n_pairs",
    "n_diverged",
    "n_exploded",
    "mean",
    "ref_mean",
    "effect",
    "ci_low",
    "ci_high",
    "confidence",
    "test",
    "p_value",
    "family_size",
    "p_adj",
    "margin",
    "tost_p",
    "tost_p_adj",
    "progress",
    "ref_progress",
    "verdict",
)

#: A comparison's verdict (comparisons.csv's ``verdict``): the reference row (alpha = 1
#: against itself), then the outcomes of a comparison.
REFERENCE = "reference"
VERDICTS = ("equivalent", "better", "worse", "diverged", "neither_trains", "inconclusive")

#: The eps knee per cell (results/stats/knee.csv): alpha* = eps / gradient RMS at
#: initialization (predicted) against where the final training metric bends (measured).
KNEE_COLUMNS = (
    *CELL,
    "eps",
    "grad_rms_init",
    "predicted_knee",
    "measured_knee",
    "censored",
    "ratio",
    "factor",
    "agrees",
    "update_knee_first",
    "update_first_censored",
    "update_first_agrees",
    "update_knee_run",
    "update_run_censored",
    "update_run_agrees",
)

#: Round-off against effect (results/stats/roundoff.csv): runs whose loss scale is
#: exactly undone (by the optimizer's invariance or a compensation) against alpha = 1.
ROUNDOFF_COLUMNS = (
    *CELL,
    "alpha",
    "power_of_two",
    "n_seeds",
    "ref_progress",
    "trains",
    "bitwise",
    "max_abs_diff",
    "seed_sd",
    "ratio",
    "uncompensated_abs_effect",
    "uncompensated_ratio",
)

#: Every task's network (results/stats/networks.csv): its model, parameters per replica,
#: one example's input shape and the sizes of the training and held-out splits.
NETWORK_COLUMNS = ("task", "model", "parameters", "input_shape", "n_train", "n_test")

#: Loss magnitude as a loss scale (results/stats/magnitude.csv): runs of two tasks whose
#: losses differ by a constant factor, at loss scales that undo it.
MAGNITUDE_COLUMNS = (
    "task",
    "other_task",
    "loss_ratio",
    *(c for c in CELL if c != "task"),
    "alpha",
    "other_alpha",
    "n_pairs",
    "n_diverged",
    "train_metric",
    "other_train_metric",
    "max_abs_diff",
    "seed_sd",
    "ratio",
)

#: The phase diagram's arms, by the compensation that trains them: the loss times the
#: factor, the learning rate times it (loss unscaled), eps divided by it (loss unscaled).
PHASE_ARMS = {"none": "loss", "lr_instead": "lr", "eps_instead": "eps"}

#: Where a row of the phase diagram sits: a job and its task's loss magnitude, an arm.
PHASE_PLACE = ("optimizer", "task", "target_scale", "output_scaled", "precision", "arm")
#: The asker's phase diagram (results/stats/asker_phase.csv): one row per setting.
PHASE_COLUMNS = (
    *PHASE_PLACE,
    "factor",
    "lr",
    "eps",
    "n_seeds",
    "n_diverged",
    "n_exploded",
    "train_metric_init",
    "train_metric",
    "test_metric",
    "outcome",
    "grad_rms_init",
    "param_rms_init",
    "update_rms_first",
    "predicted_update",
    "predicted_regime",
    "measured_regime",
    "asker_pattern",
)

#: Predicted against measured boundaries of the phase diagram
#: (results/stats/asker_phase_boundaries.csv).
PHASE_BOUNDARY_COLUMNS = (
    *PHASE_PLACE,
    "boundary",
    "predicted",
    "measured",
    "censored",
    "factor",
    "agrees",
)

#: Per-layer gradients of a deeper network (results/stats/layer_gradients.csv).
LAYER_COLUMNS = (
    "task",
    "optimizer",
    "arm",
    "factor",
    "seed",
    "layer",
    "n_params",
    "grad_rms_init",
    "grad_over_eps",
    "param_rms_init",
    "update_rms_first",
    "distance",
    "train_metric",
)

#: The stats tables' columns by the names the workflow's rules give the tables (what a
#: figure checks of a table before it draws).
STATS_COLUMNS = {
    "comparisons": COMPARISON_COLUMNS,
    "knee": KNEE_COLUMNS,
    "phase": PHASE_COLUMNS,
    "phase_boundaries": PHASE_BOUNDARY_COLUMNS,
}

#: Optimizers in display order, with the names the figures and the paper use.
OPTIMIZER_LABELS = {o.name: o.label for o in optimizers.OPTIMIZERS.values()}
