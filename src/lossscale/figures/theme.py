"""The one place that sets the plotting style and saves figures reproducibly."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import seaborn as sns

from lossscale.io import atomic_path

PALETTE = "colorblind"


def set_theme() -> None:
    """Seaborn's paper context with a colour-blind-safe palette and fixed fonts."""
    sns.set_theme(context="paper", style="ticks", palette=PALETTE, font="DejaVu Sans")
    plt.rcParams.update({"svg.hashsalt": "lossscale", "pdf.fonttype": 42})


def save_figure(fig: plt.Figure, pdf: str | Path, png: str | Path, dpi: int = 200) -> None:
    """Write ``fig`` as PDF and PNG without timestamps or tool names, atomically."""
    with atomic_path(pdf) as tmp:
        fig.savefig(
            tmp,
            format="pdf",
            bbox_inches="tight",
            metadata={"CreationDate": None, "Producer": None, "Creator": None},
        )
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
