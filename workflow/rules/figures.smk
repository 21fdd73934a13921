# Figures: seaborn, PDF for LaTeX and PNG for Markdown.


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
    script:
        "../scripts/plot_alpha_sweep.py"
