# The README's commands. `make paper` regenerates the paper from nothing; `make test`
# runs the checks and the tests. Both install what they need first.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The Pythons lossscale supports (pyproject.toml's requires-python): the first of them on
# the PATH makes .venv, unless PYTHON=... names one.
PYTHONS := python3.11 python3.12 python3.13 python3
SUPPORTED := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach p,$(PYTHONS),$(shell $(p) -c '$(SUPPORTED)' >/dev/null 2>&1 && echo $(p))))
endif
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SNAKEMAKE := $(BIN)/snakemake
CONFIG ?= config.yaml
SMOKE := workflow/configs/smoke.yaml
TEX_PACKAGES := latexmk texlive-latex-recommended texlive-science texlive-latex-extra lmodern

.PHONY: help paper smoke grid test lint tex venv dag clean archive verify unlock

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-7s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements.lock
	@[ -n "$(PYTHON)" ] || { echo "error: no Python 3.11, 3.12 or 3.13 found on the PATH ($(PYTHONS)); install one or set PYTHON=..." >&2; exit 1; }
	@$(PYTHON) -c '$(SUPPORTED)' 2>/dev/null || { echo "error: PYTHON=$(PYTHON) is not Python 3.11, 3.12 or 3.13 ($$($(PYTHON) --version 2>&1))" >&2; exit 1; }
	@echo "making $(VENV) with $(PYTHON) ($$($(PYTHON) --version 2>&1))"
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
		echo "note: latexmk/TeX Live not found and not root: the .tex and .md files will be"; \
		echo "      written, the PDFs will not. Install with:"; \
		echo "      sudo apt-get install $(TEX_PACKAGES)"; \
	fi

paper: $(STAMP) tex  ## run the study, render paper/build/{paper,supplement}.{pdf,tex,md} (FORCE=file: remake it; REPLACE=1)
	@start=$$(date +%s); \
	$(SNAKEMAKE) --configfile $(CONFIG) $(if $(REPLACE),--replace-workflow-config) $(if $(FORCE),--forcerun $(FORCE)); \
	echo "paper written: $$(ls paper/build/paper.pdf paper/build/paper.tex paper/build/paper.md paper/build/supplement.pdf paper/build/supplement.tex paper/build/supplement.md 2>/dev/null | tr '\n' ' ')(workflow took $$(( $$(date +%s) - start )) s)"

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

unlock: $(STAMP)  ## release the results folder after a killed run (then rerun make paper)
	$(SNAKEMAKE) --configfile $(CONFIG) --unlock

dag: $(STAMP)  ## print the job graph of the current config (dot format)
	$(SNAKEMAKE) --configfile $(CONFIG) --dag

archive: $(STAMP)  ## pack CONFIG, results/ and paper/build/ into lossscale-<commit>-<hash>.tar.gz
	$(BIN)/python -m lossscale.archive create --config $(CONFIG)

verify: $(STAMP)  ## check ARCHIVE=file's manifest, rerun its config, compare file by file
	$(BIN)/python -m lossscale.archive verify "$(ARCHIVE)"

clean:  ## remove generated results, logs and the paper build (keeps .venv)
	rm -rf results logs paper/build .snakemake
