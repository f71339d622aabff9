# The two commands of the README, and the pieces they are made of.
#   make run    runs the collector on its built-in default config (embedded, nothing else to start)
#   make test   runs the whole test suite, after installing everything it needs
#               (the virtualenv, a Kafka broker from Maven Central: scripts/dev-services,
#               and Debian's chromium for the console's browser tests)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test lint venv clean services services-stop browser deploy-tools systemd-tools

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

run: venv
	$(BIN)/session-collector run $(ARGS)

# Debian's chromium, which the console's tests drive with Playwright (Playwright cannot
# download its own browser here); installed with apt-get when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  sudo=$$( [ "$$(id -u)" -eq 0 ] || echo sudo ); \
	  echo "installing chromium from Debian's packages"; \
	  { $$sudo apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq chromium; } >/dev/null \
	  || { echo "could not install chromium with apt-get" >&2; exit 1; }; }

# helm v3 and deploy/helm/validate (Kubernetes API types) into .tools/bin, from the Go module
# proxy, for tests/deploy/test_helm.py; skips what is already built (scripts/deploy-tools)
deploy-tools:
	scripts/deploy-tools

# systemd-analyze and python3-seccomp from Debian's packages when missing, for
# tests/deploy/test_systemd.py (scripts/systemd-tools)
systemd-tools:
	scripts/systemd-tools

test: venv browser deploy-tools systemd-tools
	@line=$$(scripts/dev-services start) || { echo "the Kafka broker did not start" >&2; exit 1; }; \
	export $$line; echo "$$line"; \
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	echo "the Kafka broker is left running for the next run; stop it with: make services-stop"; \
	exit $$status

services: ## start the services the tests use (Kafka on 127.0.0.1:$${KAFKA_PORT:-9092})
	scripts/dev-services start

services-stop: ## stop the services `make test` and `make services` started
	scripts/dev-services stop

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
