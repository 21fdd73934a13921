"""Tasks: a data split, a model shape and a loss, built from packaged or generated data."""

from lossscale.tasks.base import Task
from lossscale.tasks.diabetes import diabetes_task

TASKS = {"diabetes": diabetes_task}


def make_task(name: str, settings: dict, dtype, device) -> Task:
    """Build the task ``name`` with its config ``settings`` (``config["tasks"][name]``)."""
    if name not in TASKS:
        raise ValueError(f"train.tasks: value {name!r} is not allowed; allowed: {', '.join(TASKS)}")
    return TASKS[name](**settings, dtype=dtype, device=device)


__all__ = ["TASKS", "Task", "make_task"]
