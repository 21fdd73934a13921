# Report: one JSON context from the result files, rendered by Jinja2 to paper.tex and
# paper.md (same context, same prose partials), then latexmk builds paper.pdf.

PAPER_TEMPLATES = ROOT / "paper/templates"
PAPER_FIGURES = [rules.plot_alpha_sweep.output.pdf, rules.plot_alpha_sweep.output.png]


rule build_context:
    input:
        claims=rules.check_claims.output.claims,
        symbolic=rules.check_claims.output.symbolic,
        ledger=rules.check_claims.output.ledger,
        comparisons=rules.compare_alphas.output.comparisons,
        code=package_code(
            "report",
            "stats/slices.py",
            "grid.py",
            "provenance.py",
            "io.py",
            "tables.py",
        ),
    output:
        context="results/report/context.json",
    log:
        "logs/build_context.log",
    conda:
        ENV
    params:
        study={
            key: config[key]
            for key in ("train", "tasks", "optimizers", "stats", "derivations")
        },
        config_hash=CONFIG_HASH,
        figures=sorted({Path(f).stem for f in PAPER_FIGURES}),
        root=ROOT,
    script:
        "../scripts/build_context.py"


rule render_paper:
    input:
        context=rules.build_context.output.context,
        templates=sorted(PAPER_TEMPLATES.rglob("*.j2")),
        bib=PAPER_TEMPLATES / "refs.bib",
        figures=PAPER_FIGURES,
        code=package_code("report"),
    output:
        tex="paper/build/paper.tex",
        md="paper/build/paper.md",
        bib="paper/build/refs.bib",
        figures=[f"paper/build/figures/{Path(f).name}" for f in PAPER_FIGURES],
    log:
        "logs/render_paper.log",
    conda:
        ENV
    params:
        templates=PAPER_TEMPLATES,
    script:
        "../scripts/render_paper.py"


rule build_pdf:
    input:
        tex=rules.render_paper.output.tex,
        bib=rules.render_paper.output.bib,
        figures=rules.render_paper.output.figures,
    output:
        pdf="paper/build/paper.pdf",
    log:
        "logs/build_pdf.log",
    conda:
        ENV
    resources:
        runtime=10,
    script:
        "../scripts/build_pdf.py"
