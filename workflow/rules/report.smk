# Report: one JSON context from the result files, rendered by Jinja2 to paper.tex and
# paper.md (same context, same prose partials), then latexmk builds paper.pdf.

PAPER_TEMPLATES = ROOT / "paper/templates"
PAPER_FIGURES = FIGURE_FILES
#: Snakemake benchmark files of the rules before the report: the run-time summary's input.
BENCHMARKS = [
    rules.check_claims.benchmark,
    *(
        getattr(rules, f"train_batch_{batch}").benchmark
        for batch in range(len(TRAIN_BATCHES))
    ),
    *(
        getattr(rules, rule).benchmark
        for rule in (
            "compare_alphas",
            "eps_knee",
            "describe_networks",
            "roundoff",
            "magnitude",
            "asker_phase",
        )
    ),
    rules.probe_layers.benchmark,
    *expand(rules.plot_figure.benchmark, figure=FIGURE_NAMES),
]


rule build_context:
    input:
        claims=rules.check_claims.output.claims,
        symbolic=rules.check_claims.output.symbolic,
        ledger=rules.check_claims.output.ledger,
        comparisons=rules.compare_alphas.output.comparisons,
        knee=rules.eps_knee.output.knee,
        networks=rules.describe_networks.output.networks,
        roundoff=rules.roundoff.output.roundoff,
        magnitude=rules.magnitude.output.magnitude,
        phase=rules.asker_phase.output.phase,
        phase_boundaries=rules.asker_phase.output.boundaries,
        layers=rules.probe_layers.output.layers,
        code=script_code("build_context"),
    output:
        context="results/report/context.json",
    log:
        "logs/build_context.log",
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        study={
            key: config[key]
            for key in (
                "train",
                "tasks",
                "optimizers",
                "stats",
                "derivations",
                "phase",
            )
        },
        config_hash=CONFIG_HASH,
        figures=FIGURE_NAMES,
        root=ROOT,
    script:
        "../scripts/build_context.py"


rule render_paper:
    input:
        context=rules.build_context.output.context,
        templates=sorted(PAPER_TEMPLATES.rglob("*.j2")),
        bib=PAPER_TEMPLATES / "refs.bib",
        figures=PAPER_FIGURES,
        code=script_code("render_paper"),
    output:
        tex="paper/build/paper.tex",
        md="paper/build/paper.md",
        bib="paper/build/refs.bib",
        figures=[f"paper/build/figures/{Path(f).name}" for f in PAPER_FIGURES],
    log:
        "logs/render_paper.log",
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        templates=PAPER_TEMPLATES,
    script:
        "../scripts/render_paper.py"


rule summarize_runtime:
    input:
        benchmarks=BENCHMARKS,
        code=script_code("summarize_runtime"),
    output:
        summary="results/runtime/summary.json",
    log:
        "logs/summarize_runtime.log",
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        root=lambda wildcards, output: Path(output.summary).parent,
        cores=workflow.cores,
    script:
        "../scripts/summarize_runtime.py"


rule render_runtime:
    input:
        summary=rules.summarize_runtime.output.summary,
        templates=sorted(PAPER_TEMPLATES.glob("runtime.*.j2")),
        partial=PAPER_TEMPLATES / "partials/runtime_text.j2",
        code=script_code("render_runtime"),
    output:
        tex="paper/build/runtime.tex",
        md="paper/build/runtime.md",
    log:
        "logs/render_runtime.log",
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    params:
        templates=PAPER_TEMPLATES,
    script:
        "../scripts/render_runtime.py"


rule build_pdf:
    input:
        tex=rules.render_paper.output.tex,
        runtime=rules.render_runtime.output.tex,
        bib=rules.render_paper.output.bib,
        figures=rules.render_paper.output.figures,
    output:
        pdf="paper/build/paper.pdf",
    log:
        "logs/build_pdf.log",
    conda:
        ENV
    resources:
        **placement(),
        mem_mb=per_attempt(1000),
        runtime=per_attempt(10),
        cpus_per_task=cpus_from_threads,
    script:
        "../scripts/build_pdf.py"
