# Report: one JSON context from the result files, rendered by Jinja2 to the paper and
# its supplement, each as .tex and .md (same context, same prose partials), then
# latexmk builds paper.pdf and supplement.pdf.

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


_CONTEXT = made_by(rules.build_context, rules.build_context.output.context)
_COMPARISONS = made_by(rules.compare_alphas, rules.compare_alphas.output.comparisons)
#: The result files behind each table and figure, by its name in the templates.
SOURCES = {
    "rule": [_CONTEXT],
    "tasks": [_CONTEXT],
    "blocks": [_CONTEXT],
    "theory": [
        made_by(rules.check_claims, rules.check_claims.output.claims),
        made_by(rules.check_claims, rules.check_claims.output.symbolic),
    ],
    "claims": [made_by(rules.check_claims, rules.check_claims.output.claims)],
    "results": [_COMPARISONS],
    "verdicts": [_COMPARISONS],
    "knee": [made_by(rules.eps_knee, rules.eps_knee.output.knee)],
    "roundoff": [made_by(rules.roundoff, rules.roundoff.output.roundoff)],
    "phase": [made_by(rules.asker_phase, rules.asker_phase.output.boundaries)],
    "layers": [made_by(rules.probe_layers, rules.probe_layers.output.layers)],
} | {
    name: [made_by(rules.plot_figure, f"results/figures/{name}.pdf")]
    for name in FIGURE_NAMES
}


rule render_paper:
    input:
        context=rules.build_context.output.context,
        sources=sorted({f["path"] for files in SOURCES.values() for f in files}),
        templates=sorted(PAPER_TEMPLATES.rglob("*.j2")),
        bib=PAPER_TEMPLATES / "refs.bib",
        figures=PAPER_FIGURES,
        code=script_code("render_paper"),
    output:
        tex="paper/build/paper.tex",
        md="paper/build/paper.md",
        supplement_tex="paper/build/supplement.tex",
        supplement_md="paper/build/supplement.md",
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
        sources=SOURCES,
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
        supplement=rules.render_paper.output.supplement_tex,
        runtime=rules.render_runtime.output.tex,
        bib=rules.render_paper.output.bib,
        figures=rules.render_paper.output.figures,
    output:
        pdf="paper/build/paper.pdf",
        supplement="paper/build/supplement.pdf",
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
