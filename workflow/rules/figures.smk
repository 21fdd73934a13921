# Figures: seaborn, PDF for LaTeX and PNG for Markdown.

from lossscale.stats.slices import MAIN_SETTINGS, grid_orders, main_slice


rule plot_alpha_sweep:
    input:
        train=train_outputs(),
        code=package_code("figures", "stats", "tables.py"),
    output:
        pdf=report("results/figures/final_loss_vs_alpha.pdf", category="Figures"),
        png="results/figures/final_loss_vs_alpha.png",
    log:
        "logs/plot_alpha_sweep.log",
    conda:
        ENV
    params:
        tasks=config["tasks"],
        settings={axis: main_slice(config)[axis] for axis in MAIN_SETTINGS},
        orders=grid_orders(config),
    script:
        "../scripts/plot_alpha_sweep.py"
