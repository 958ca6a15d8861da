# `make run` and `make test` each work alone on a fresh machine with only Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run sandbox test lint format deploy-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/tipline run

sandbox: $(STAMP)
	$(BIN)/tipline sandbox

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/python -m pytest

# deploy/ must stay valid: the compose file (Debian's docker-compose, no engine needed) and the
# systemd unit's hardening (exposure score at most 2 of 10).
deploy-check:
	TIPLINE_ENV_FILE=.env.example docker-compose --env-file deploy/.env.example \
		-f deploy/compose.yaml config --quiet
	systemd-analyze security --offline=yes --threshold=20 deploy/tipline.service >/dev/null

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
