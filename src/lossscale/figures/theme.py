"""The one place that sets the plotting style and saves figures reproducibly.

Figures are drawn at print size (``TEXT_WIDTH`` wide, the paper's text width), so the
fonts set here (7 to 8 pt) are the sizes on the page.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import seaborn as sns
from matplotlib import font_manager

from lossscale.io import atomic_path

PALETTE = "colorblind"
#: The paper's text width in inches: every figure is drawn this wide.
TEXT_WIDTH = 6.3
#: Font sizes in points at print size.
FONT_RC = {
    "font.size": 8,
    "axes.labelsize": 8,
    "axes.titlesize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "legend.title_fontsize": 7,
    "figure.titlesize": 8,
}


def use_bundled_fonts() -> None:
    """Draw with matplotlib's own TrueType fonts only, in a fixed order. Its font cache is
    shared by every installation of the same matplotlib version on the machine and may
    list other copies of the same families (Debian's DejaVu, which TeX Live pulls in),
    or another environment's; which copy is drawn, and the figures' bytes, would then
    depend on which environment last rebuilt the cache."""
    manager = font_manager.fontManager
    manager.ttflist = []
    for path in sorted((Path(matplotlib.get_data_path()) / "fonts/ttf").glob("*.ttf")):
        manager.addfont(path)
    manager._findfont_cached.cache_clear()


def set_theme() -> None:
    """Seaborn's paper style with a colour-blind-safe palette and fixed fonts."""
    use_bundled_fonts()
    sns.set_theme(context="paper", style="ticks", palette=PALETTE, font="DejaVu Sans", rc=FONT_RC)
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
