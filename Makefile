# MediaCraft developer commands. `make test` and `make run` install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
SERVICES := gateway identity scheduler worker-watermark worker-merge worker-generate cleanup standalone
STAMP := $(VENV)/.installed
CLIENTS := cli
PYPROJECTS := shared/pyproject.toml $(foreach s,$(SERVICES),services/$(s)/pyproject.toml) $(foreach c,$(CLIENTS),clients/$(c)/pyproject.toml) requirements-dev.txt constraints.txt

.PHONY: install constraints system-deps lint test test-unit drills bench run stack screenshots clean

install: $(STAMP)

$(STAMP): $(PYPROJECTS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q -c constraints.txt -e 'shared[all]' $(foreach s,$(SERVICES),-e services/$(s)) $(foreach c,$(CLIENTS),-e clients/$(c)) -r requirements-dev.txt
	@touch $(STAMP)

# Pin what is installed now (after changing a dependency: edit the pyproject, `make install`, then this).
constraints: install
	@{ echo "# Pinned versions of every third-party package, used by \`make install\` (so CI) and by the images"; \
	   echo "# (deploy/docker/Dockerfile). Regenerate after changing a dependency: make constraints"; \
	   $(PIP) freeze --exclude-editable | grep -v '^mediacraft'; } > constraints.txt

# ffmpeg and a running RabbitMQ broker: installed from Debian's packages when missing.
system-deps:
	@scripts/ensure-system-deps.sh

# The whole product in one process on http://127.0.0.1:$${MEDIACRAFT_HTTP_PORT:-8000}, data in $${MEDIACRAFT_DATA_DIR:-./var}.
run: install
	@scripts/ensure-system-deps.sh --no-broker
	$(PY) -m mediacraft.standalone

# Every service as its own process on RabbitMQ + SeaweedFS (WORKERS processes per pool).
WORKERS ?= 1
stack: install system-deps
	$(PY) -m mediacraft.standalone.stack --workers $(WORKERS)

# ruff (lint, and the format check) and mypy over every package, tests and benchmarks; settings in
# pyproject.toml. All three run, so one run shows every finding; any finding fails.
MYPY_PACKAGES := shared $(subst -,_,$(SERVICES)) $(CLIENTS)
lint: install
	@status=0; \
	$(VENV)/bin/ruff check . || status=1; \
	$(VENV)/bin/ruff format --check . || status=1; \
	$(VENV)/bin/mypy $(foreach p,$(MYPY_PACKAGES),-p mediacraft.$(p)) -p tests -p bench || status=1; \
	exit $$status

test: install lint system-deps
	$(PY) -m pytest $(PYTEST_ARGS)

# The fault drills (tests marked `drill`): broker outages run on a private RabbitMQ node they start.
# The controls drill's broker outage lasts DRILL_OUTAGE_SECONDS here (8 s by default in the test suite).
DRILL_OUTAGE_SECONDS ?= 60
drills: install system-deps
	MEDIACRAFT_DRILL_OUTAGE_SECONDS=$(DRILL_OUTAGE_SECONDS) $(PY) -m pytest -m drill --drill-report docs/drills.md $(PYTEST_ARGS)

test-unit: install
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

bench: install system-deps
	$(PY) -m bench

# The web UI's main screens in both languages, on a desktop and a phone, for review.
SCREENSHOTS_DIR ?= build/screenshots
screenshots: install system-deps
	$(PY) scripts/screenshots.py $(SCREENSHOTS_DIR)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
