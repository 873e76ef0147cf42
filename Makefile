# The project's commands, run the same way by people, pre-commit and CI (.ci/run calls `make test`).
#
#   make setup   install what is missing (idempotent; seconds when everything is present)
#   make up      setup, then run the whole local stack (Ctrl-C stops it)
#   make test    setup, the static checks, then the whole test suite
#   make check   lint, format check, types, import layers
#   make bench   setup, then every benchmark in bench/ (prints figures)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := .venv/bin
PYTEST_ARGS ?=
UP_ARGS ?=

.PHONY: help setup up test check bench

help:
	@sed -n '3,8p' Makefile | sed 's/^# *//'

setup:
	scripts/setup.sh

up: setup
	$(VENV)/auralink up $(UP_ARGS)

test: check
	$(VENV)/pytest -p no:cacheprovider tests $(PYTEST_ARGS)

check: setup
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy auralink
	$(VENV)/lint-imports
	cd web && npm run -s typecheck

bench: setup
	for b in bench/*.py; do echo "== $$b"; $(VENV)/python "$$b"; done
