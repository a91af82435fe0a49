# streamstack: `make build` and `make test` set everything up on a fresh machine.
PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
SCAN_VENV := .venv-scan
CHECKOV   := checkov==3.3.30
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: build test bench diagram clean

## build: render every template into build/, validate params, cfn-lint and checkov (cached)
build: $(VENV)/.installed $(SCAN_VENV)/.installed
	$(PY) build.py

## test: the whole test suite (tier properties, snapshots, lint, scan, params, deploy)
test: build
	$(PY) -m pytest -n 2

## diagram: docs/architecture.png and .svg drawn from the built templates. The picture
## needs Debian's graphviz (`dot`); it is installed here when missing (as root).
diagram: build
	@command -v dot >/dev/null || { apt-get update && apt-get install -y graphviz; }
	$(PY) -m streamstack.diagram

## bench: time rendering, cfn-lint and checkov, cold and warm
bench: $(VENV)/.installed $(SCAN_VENV)/.installed
	$(PY) bench/build.py

clean:
	rm -rf build .pytest_cache

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) --upgrade pip
	$(VENV)/bin/pip install $(PIP_QUIET) -e '.[test]'
	touch $@

# checkov pins an old boto3, so it gets a venv of its own.
$(SCAN_VENV)/.installed:
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install $(PIP_QUIET) --upgrade pip
	$(SCAN_VENV)/bin/pip install $(PIP_QUIET) '$(CHECKOV)'
	touch $@

# -- StackSet environments (docs/stacksets.md) ----------------------------------------
# make deploy ENV=prod-global DEEP_PREVIEW=1; make execute ENV=prod-global PRUNE=1
DEPLOY_FLAGS += $(if $(PRUNE),--prune) $(if $(DEEP_PREVIEW),--deep-preview)
.PHONY: drift bench-stacksets

## drift ENV=x: StackSet drift: detection, then the drifted instances and resources (exit 6 if any)
drift: $(VENV)/.installed
	$(if $(ENV),,$(error ENV is required, e.g. make drift ENV=prod-global))
	$(PY) deploy.py drift $(ENV) $(DEPLOY_FLAGS)

## bench-stacksets: API calls of a 50 accounts x 4 regions StackSet environment (moto, no AWS)
bench-stacksets: $(VENV)/.installed
	$(PY) bench/stacksets.py --accounts 50
