# The two set-up commands (see README):
#   make run    install what is missing, then serve the site on http://127.0.0.1:8000
#   make test   install what is missing, then lint and run the whole test suite
.PHONY: run test lint bootstrap-run bootstrap-test

PY := .venv/bin/python

run: bootstrap-run
	$(PY) -m rtcsite.stack run

test: bootstrap-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

lint: bootstrap-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bootstrap-run:
	bash scripts/bootstrap.sh run

bootstrap-test:
	bash scripts/bootstrap.sh test
