"""What a block of the asker's phase diagram (``phase: true``) may hold.

The grid refuses, before anything trains, a phase block that the diagram's statistics
(:mod:`lossscale.stats.phase`) could not use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lossscale.config import ConfigError
from lossscale.tables import PHASE_ARMS


def phase_blocks(config: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The validated config's blocks with ``phase: true``, by name."""
    return {name: b for name, b in config["train"]["blocks"].items() if b["phase"]}


def check_phase(config: Mapping[str, Any]) -> None:
    """Refuse what the phase diagram cannot use (a ConfigError naming key and value): a
    phase block with a regularization, a compensation that is not an arm or without
    compensation none; two phase tasks with the same target scale and output scaling; a
    layer probe of an unknown task."""
    seen: dict[tuple, str] = {}
    for name, block in phase_blocks(config).items():
        key = f"train.blocks.{name}"
        if block["regularizations"] != ["none"]:
            raise ConfigError(
                f"{key}.regularizations: value {block['regularizations']} is not allowed in a "
                "phase block; allowed: [none]"
            )
        arms = block["compensations"]
        if "none" not in arms or set(arms) - set(PHASE_ARMS):
            raise ConfigError(
                f"{key}.compensations: value {arms} is not allowed in a phase block; allowed: "
                f"none and any of {', '.join(c for c in PHASE_ARMS if c != 'none')}"
            )
        for task in block["tasks"]:
            magnitude = magnitude_of(config["tasks"][task])
            other = seen.setdefault(magnitude, task)
            if other != task:
                raise ConfigError(
                    f"{key}.tasks: {task!r} and {other!r} have the same target_scale and "
                    "scale_output; allowed: one task per loss magnitude"
                )


def magnitude_of(settings: Mapping[str, Any]) -> tuple[float, bool]:
    """A regression task's (target_scale, output scaled): its place in the diagram."""
    return float(settings.get("target_scale", 1.0)), bool(settings.get("scale_output", True))
