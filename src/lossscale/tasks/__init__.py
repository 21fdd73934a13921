"""Tasks: a data split, a model shape and a loss, built from packaged or generated data.

A study names its tasks in the config (``tasks: {<name>: {kind: ..., ...}}``); the
``kind`` picks the builder below and the other keys are its settings, so one kind can
appear at several settings (diabetes at several target magnitudes, digits with
cross-entropy and with focal loss).
"""

import dataclasses

from lossscale.tasks.base import Task
from lossscale.tasks.diabetes import diabetes_task
from lossscale.tasks.digits import digits_task
from lossscale.tasks.teacher_student import teacher_student_task

#: Task builders by ``kind``.
TASKS = {
    "diabetes": diabetes_task,
    "digits": digits_task,
    "teacher_student": teacher_student_task,
}


def make_task(name: str, settings: dict, dtype, device) -> Task:
    """Build task ``name`` from its config ``settings`` (``config["tasks"][name]``)."""
    settings = dict(settings)
    settings.pop("lr", None)  # the optimizers' rates on this task: the trainer's, not the data's
    kind = settings.pop("kind", name)
    if kind not in TASKS:
        raise ValueError(
            f"tasks.{name}.kind: value {kind!r} is not allowed; allowed: {', '.join(TASKS)}"
        )
    task = TASKS[kind](**settings, dtype=dtype, device=device)
    return dataclasses.replace(task, name=name)


__all__ = ["TASKS", "Task", "make_task"]
