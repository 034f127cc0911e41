# OncoPortal: `make run` starts the platform, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

.PHONY: run test setup lint audit migrate clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python dependencies into $(VENV) (first time: a few minutes)..."
	$(PIP) install --quiet --upgrade pip wheel
	$(PIP) install --quiet --progress-bar on ".[dev]"
	@rm -f $(VENV)/.installed-* && touch $@

migrate: setup
	$(PY) manage.py migrate --noinput

# Models first, so the demo studies are queued for prediction as they load.
run: migrate
	$(PY) manage.py register_models --activate-missing --untrained-fallback
	$(PY) manage.py setup_demo
	@# A slice of the public training data as base examples, so a Curator can freeze a snapshot and
	@# retrain at once (idempotent; skipped with a message when ONCOPORTAL_DATA_DIR has no data).
	-$(PY) manage.py import_base_data --limit-per-class 25
	@# Drift watch's baselines: each active model's validation images, scored by the worker once it
	@# starts (about a minute of CPU for the three bundled models; skipped when they have one).
	-$(PY) manage.py drift_reference --active --missing --queue
	@$(PY) manage.py api_token demo >/dev/null
	@bash scripts/run.sh

# Tests keep their database, files and broker queue apart from `make run`'s.
test: setup
	ONCOPORTAL_VAR_DIR=$${ONCOPORTAL_VAR_DIR:-$(CURDIR)/var/test} $(PY) -m pytest $(PYTEST_ARGS)

# mypy reads its files and strictness from pyproject.toml ([tool.mypy]).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# Deployment checks (docs/security.md "Deployment checks"): Django's `check --deploy` under
# production settings (throwaway keys, behind a TLS proxy), then the dependency audit, which fails
# on a known vulnerability with a fix and, by default, when no vulnerability service answers.
AUDIT_UNAVAILABLE ?= fail
audit: setup
	env -u DEBUG -u SECURE_SSL_REDIRECT -u SECURE_HSTS_SECONDS ONCOPORTAL_PRODUCTION=1 \
		SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))')" \
		ONCOPORTAL_PSEUDONYM_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))')" \
		ALLOWED_HOSTS=oncoportal.example ONCOPORTAL_BEHIND_PROXY=1 ONCOPORTAL_VAR_DIR=$(CURDIR)/var/deploy-check \
		$(PY) manage.py check --deploy --fail-level WARNING
	$(PY) scripts/audit_deps.py --unavailable $(AUDIT_UNAVAILABLE)

clean:
	rm -rf var test-artifacts
