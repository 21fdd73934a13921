"""Tasks: a data split, a model shape and a loss, built from packaged or generated data.

A study names its tasks in the config (``tasks: {<name>: {kind: ..., ...}}``); the
``kind`` picks the builder below and the other keys are its settings, so one kind can
appear at several settings (diabetes at several target magnitudes, digits with
cross-entropy and with focal loss).
"""

import dataclasses

from lossscale.imports import load
from lossscale.tasks.base import Task

#: Task builders by ``kind``, as ``"module:function"`` (loaded when a task is built); the
#: settings of each kind are its ``$defs`` section of the config schema.
TASKS = {
    "diabetes": "lossscale.tasks.diabetes:diabetes_task",
    "digits": "lossscale.tasks.digits:digits_task",
    "teacher_student": "lossscale.tasks.teacher_student:teacher_student_task",
    "modular": "lossscale.tasks.modular:modular_task",
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
    task = load(TASKS[kind])(**settings, dtype=dtype, device=device)
    return dataclasses.replace(task, name=name)


__all__ = ["TASKS", "Task", "make_task"]
