# Figures: seaborn, PDF for LaTeX and PNG for Markdown; one rule for all of them, each
# figure reading only its block's training files (lossscale.figures.figure_inputs).

from lossscale.figures import available_figures

#: The figures this config has data for, PDF and PNG of each: the report's inputs.
FIGURE_NAMES = available_figures(config)
FIGURE_FILES = [
    f"results/figures/{name}.{ext}" for name in FIGURE_NAMES for ext in ("pdf", "png")
]
#: What the figures read of the config (a change elsewhere does not redraw them).
FIGURE_CONFIG = {
    "tasks": config["tasks"],
    "train": {"blocks": config["train"]["blocks"]},
    # the phase diagram's colour bar marks the trains threshold
    "phase": {"trains": config["phase"]["trains"]},
}


rule plot_figure:
    input:
        unpack(plot_inputs),
    output:
        pdf="results/figures/{figure}.pdf",
        # the PNG, which every browser shows inline, in `snakemake --report`
        png=report("results/figures/{figure}.png", category="Figures"),
    log:
        "logs/plot_{figure}.log",
    benchmark:
        "results/runtime/plot_figure/{figure}.tsv"
    wildcard_constraints:
        figure="|".join(FIGURE_NAMES) or "(?!)",
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        config=FIGURE_CONFIG,
    script:
        "../scripts/plot_figure.py"
