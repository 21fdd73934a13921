# The README's commands. `make paper` regenerates the paper from nothing; `make test`
# runs the checks and the tests. Both install what they need first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SNAKEMAKE := $(BIN)/snakemake
CONFIG ?= config.yaml
SMOKE := workflow/configs/smoke.yaml
TEX_PACKAGES := latexmk texlive-latex-recommended texlive-science texlive-latex-extra lmodern

.PHONY: help paper smoke grid test lint tex venv dag clean archive verify

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-7s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required; set PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

venv: $(STAMP)  ## create .venv with the pinned dependencies

tex:  ## install TeX Live + latexmk via apt when missing (as root), else say how
	@if command -v latexmk >/dev/null && kpsewhich lmodern.sty booktabs.sty longtable.sty natbib.sty hyperref.sty adjustbox.sty siunitx.sty cleveref.sty >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing TeX Live and latexmk with apt-get (a few minutes, once)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $(TEX_PACKAGES) >/dev/null; \
	else \
		echo "note: latexmk/TeX Live not found and not root: paper.tex and paper.md will be"; \
		echo "      written, paper.pdf will not. Install with:"; \
		echo "      sudo apt-get install $(TEX_PACKAGES)"; \
	fi

paper: $(STAMP) tex  ## run the whole study and render paper/build/paper.{pdf,tex,md}
	@start=$$(date +%s); \
	$(SNAKEMAKE) --configfile $(CONFIG); \
	echo "paper written: $$(ls paper/build/paper.pdf paper/build/paper.tex paper/build/paper.md 2>/dev/null | tr '\n' ' ')(workflow took $$(( $$(date +%s) - start )) s)"

smoke: $(STAMP) tex  ## the whole workflow on the smoke config (seconds), into results/
	$(SNAKEMAKE) --configfile $(SMOKE) --replace-workflow-config

grid: $(STAMP)  ## print the training grid's size and estimated hours per block (CONFIG=file), training nothing
	$(BIN)/python -m lossscale.train.plan $(CONFIG) $(if $(REPLACE),--replace)

lint: $(STAMP)  ## ruff, snakefmt and snakemake --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/rules
	$(SNAKEMAKE) --lint --configfile $(CONFIG) >/dev/null

test: $(STAMP) tex lint  ## lint, then the tests (unit and the smoke workflow end to end)
	$(BIN)/pytest

dag: $(STAMP)  ## print the job graph of the current config (dot format)
	$(SNAKEMAKE) --configfile $(CONFIG) --dag

archive: $(STAMP)  ## pack CONFIG, results/ and paper/build/ into lossscale-<commit>-<hash>.tar.gz
	$(BIN)/python -m lossscale.archive create --config $(CONFIG)

verify: $(STAMP)  ## check ARCHIVE=file's manifest, rerun its config, compare file by file
	$(BIN)/python -m lossscale.archive verify "$(ARCHIVE)"

clean:  ## remove generated results, logs and the paper build (keeps .venv)
	rm -rf results logs paper/build .snakemake
