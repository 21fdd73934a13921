# Validation, wildcard constraints, input functions and the final targets.
import functools
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(str(workflow.current_basedir)).resolve().parents[1]  # the repository
# The package is importable from the checkout itself, here and in every job's Python
# (also in a `--use-conda` environment built from environment.yml).
sys.path.insert(0, str(ROOT / "src"))
os.environ.update(
    PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p
    )
)
ENV = str(ROOT / "environment.yml")

from lossscale.config import (
    ConfigError,
    base_hyperparameters,
    config_hash,
    load_schema,
    validate_config,
)
from lossscale import imports
from lossscale.figures import figure_inputs
from lossscale.study import selections
from lossscale.study.grid import (
    batches,
    block_jobs,
    expand as expand_grid,
    replica_dicts,
)

try:
    _validated = validate_config(
        config, load_schema(ROOT / "workflow/schemas/config.schema.yaml")
    )
    config.clear()
    config.update(_validated)
    GRID = expand_grid(config)
    #: The training cells, ``cells_per_job`` to a workflow job (rule train_batch_<n>).
    TRAIN_BATCHES = batches(GRID, config["cells_per_job"])
except ConfigError as err:
    sys.exit(f"lossscale: {err}")
# (where and how the jobs run, config cluster and cells_per_job, is not part of the
# hash: see config_hash)
CONFIG_HASH = config_hash(config)


def train_outputs():
    """Every training job's parquet file."""
    return [job.path for job in GRID]


def cell_params(cell):
    """What ``train_cell`` needs to train ``cell`` (a ``Job``), besides the shared keys."""
    return {
        "task": cell.task,
        "optimizer": cell.optimizer,
        "precision": cell.precision,
        "batch_size": cell.batch_size,
        "steps": cell.steps,
        "task_settings": config["tasks"][cell.task],
        "hyper": base_hyperparameters(config, cell.task, cell.optimizer),
        "replicas": replica_dicts(GRID[cell]),
        "checkpoint": cell.checkpoint,
    }


@functools.cache
def script_code(script, *modules):
    """The package's source files that ``workflow/scripts/<script>.py`` (and ``modules``,
    which it loads by name) imports: a rule's ``code`` input, so that editing a module
    reruns exactly the jobs that run it."""
    files = imports.script_code(ROOT / f"workflow/scripts/{script}.py")
    return sorted({*files, *(f for m in modules for f in imports.module_code(m))})


def want_pdf():
    """Whether to build paper.pdf (report.pdf: auto means 'if latexmk is installed')."""
    choice = config["report"]["pdf"]
    if choice == "auto":
        if shutil.which("latexmk") is None:
            print(
                "lossscale: latexmk not found, writing paper.tex and paper.md only "
                "(install TeX Live and latexmk, see README, for paper.pdf)",
                file=sys.stderr,
            )
            return False
        return True
    return bool(choice)


def get_final_output():
    """The paper in every format this machine can build, and the run's provenance."""
    targets = [
        "results/provenance.json",
        "paper/build/paper.tex",
        "paper/build/paper.md",
        "paper/build/runtime.md",
    ]
    if want_pdf():
        targets.append("paper/build/paper.pdf")
    return targets


def jobs_read_by(reads_job):
    """The training jobs' parquet files that ``reads_job`` selects (one of
    ``lossscale.study.selections``)."""
    return [job.path for job in GRID if reads_job(job)]


def magnitude_tasks():
    """The tasks of the grid's loss-magnitude pairs (``lossscale.stats.magnitude``)."""
    pairs = selections.magnitude_pairs(config["tasks"])
    return {task for pair in pairs for task in pair[:2]}


def layer_task_settings():
    """The settings of the task the layer probe trains (none without a probe)."""
    task = config["phase"]["layers"]["task"]
    return None if task is None else config["tasks"][task]


def layer_hyperparameters():
    """The base hyperparameters of the layer probe's optimizer on its task."""
    probe = config["phase"]["layers"]
    if probe["task"] is None:
        return config["optimizers"][probe["optimizer"]]
    return base_hyperparameters(config, probe["task"], probe["optimizer"])


def phase_outputs():
    """The parquet files of the phase blocks' jobs (the asker's phase diagram), sorted."""
    blocks = config["train"]["blocks"]
    return sorted(
        {
            job.path
            for name, block in blocks.items()
            if block["phase"]
            for job in block_jobs(name, block, config)
        }
    )


def made_by(rule, path):
    """One result file behind a table or figure, with the rule that made it (named in
    the caption, with the file's hash, by lossscale.report.render)."""
    return {
        "path": str(path),
        "rule": rule.rule.name,
        "rule_file": str(Path(rule.rule.snakefile).resolve().relative_to(ROOT)),
        "rule_line": rule.rule.lineno,
    }


def plot_inputs(wildcards):
    """The result files and package code the figure ``wildcards.figure`` reads: its
    block's training files and the stats tables it names, by the rules' outputs."""
    tables = {
        "comparisons": rules.compare_alphas.output.comparisons,
        "knee": rules.eps_knee.output.knee,
        "phase": rules.asker_phase.output.phase,
        "phase_boundaries": rules.asker_phase.output.boundaries,
    }
    return {
        **figure_inputs(wildcards.figure, config, tables),
        "code": script_code("plot_figure", f"lossscale.figures.{wildcards.figure}"),
    }


# Cluster resources. A local run uses only `threads` (and any `--resources` limits); the
# SLURM executor (profiles/slurm) turns these into sbatch options.
def per_attempt(amount):
    """A resource that grows with the attempt: ``amount`` on the first, twice that on the
    first retry (`--retries`), so a job killed for memory or time gets more."""
    return lambda wildcards, attempt: amount * attempt


def cpus_from_threads(wildcards, threads):
    """The job's CPUs on a cluster (sbatch --cpus-per-task): its threads."""
    return threads


def training_gpus():
    """GPUs per training job: config cluster.gpus, else 1 when device is cuda, else 0."""
    gpus = config["cluster"]["gpus"]
    if gpus is None:
        gpus = 1 if config["device"] == "cuda" else 0
    return gpus


def placement(gpus=0):
    """SLURM partition and account from config `cluster`, only where set (so that
    `--default-resources slurm_partition=... slurm_account=...` and the cluster's own
    defaults apply otherwise), and ``gpus`` GPUs (sbatch --gpus) when positive."""
    cluster = config["cluster"]
    resources = {
        key: cluster[name]
        for key, name in (
            ("slurm_partition", "partition"),
            ("slurm_account", "account"),
        )
        if cluster[name] is not None
    }
    if gpus:
        resources["gpu"] = gpus
    return resources
