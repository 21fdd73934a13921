"""What each statistic selects from the grid, known before anything is read.

The workflow needs, while it parses, which training jobs each statistic reads and what
it takes from the config; the statistics (:mod:`lossscale.stats`) need the same
selections when they run. Both read them here, so that parsing the workflow loads
neither the statistics nor their libraries.
"""

from __future__ import annotations

from collections.abc import Mapping

from lossscale.study import optimizers

# --- the eps knee -------------------------------------------------------------------

#: Optimizers with one scalar eps added to the update's denominator.
EPS_IN_DENOMINATOR = optimizers.eps_optimizers()
#: The settings of a knee cell (no compensation: the knee is what a compensation undoes).
KNEE_SETTINGS = {"precision": "float32", "regularization": "none", "compensation": "none"}


def knee_job(job) -> bool:
    """Whether a training job (a ``lossscale.study.grid.Job``) may hold knee cells."""
    return job.optimizer in EPS_IN_DENOMINATOR and job.precision == KNEE_SETTINGS["precision"]


def eps_settings(section: Mapping[str, Mapping]) -> dict[str, float]:
    """Each ``EPS_IN_DENOMINATOR`` optimizer's eps from the validated config's
    ``optimizers`` section."""
    try:
        return {name: float(section[name]["eps"]) for name in EPS_IN_DENOMINATOR}
    except KeyError as err:
        raise ValueError(f"optimizers: no eps for {err.args[0]!r} in the config") from None


# --- round-off in the exact cells ---------------------------------------------------

#: The exact cells: compensation -> the optimizers for which it undoes loss x alpha.
EXACT = {comp: optimizers.exact_optimizers(comp) for comp in ("none", "eps", "lr")}


def roundoff_job(job) -> bool:
    """Whether a training job (a ``lossscale.study.grid.Job``) may hold exact cells."""
    return any(job.optimizer in names for names in EXACT.values())


def is_exact(optimizer: str, compensation: str) -> bool:
    """Whether loss x alpha is exactly undone in a cell with these settings."""
    return optimizer in EXACT.get(compensation, ())


# --- loss magnitude -----------------------------------------------------------------

#: The task settings that change the loss by a constant factor, not the problem.
SCALE_KEY = "target_scale"


def _loss_factor(settings: Mapping) -> float | None:
    """``s^2`` of a diabetes task whose output is scaled with its targets, else None."""
    if settings.get("kind") != "diabetes" or not settings.get("scale_output", True):
        return None
    return float(settings.get(SCALE_KEY, 1.0)) ** 2


def magnitude_pairs(tasks: Mapping[str, Mapping]) -> list[tuple[str, str, float]]:
    """``(task, other, s_task^2 / s_other^2)`` for every two tasks whose settings agree
    except ``target_scale`` and per-optimizer learning rates (checked per optimizer by
    :func:`lossscale.stats.magnitude.magnitude_table`), the task with the smaller loss first; sorted."""
    factors = {name: _loss_factor(s) for name, s in tasks.items()}
    pairs = []
    for a, fa in factors.items():
        for b, fb in factors.items():
            if fa is None or fb is None or not fa < fb:
                continue
            rest = [
                {k: v for k, v in tasks[t].items() if k not in (SCALE_KEY, "lr")} for t in (a, b)
            ]
            if rest[0] == rest[1]:
                pairs.append((a, b, fa / fb))
    return sorted(pairs)
