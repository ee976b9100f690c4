# The two set-up commands (see README):
#   make run    install what is missing, then serve the site on http://127.0.0.1:8000
#   make test   install what is missing, then lint and run the whole test suite
# More:
#   make cluster              production topology: 2 daphne + nginx (HTTPS) + Redis + Coturn
#   make manage ARGS=...      manage.py with the settings `make run` uses
#   make run ARGS="--tls"     development server behind HTTPS (for a second device's camera)
.PHONY: run test lint cluster manage bootstrap-run bootstrap-test

PY := .venv/bin/python
ARGS ?=

run: bootstrap-run
	$(PY) -m devstack run $(ARGS)

cluster: bootstrap-test
	$(PY) -m devstack cluster $(ARGS)

manage: bootstrap-run
	$(PY) -m devstack manage $(ARGS)

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
