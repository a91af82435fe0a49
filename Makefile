# streamstack: `make build` and `make test` set everything up on a fresh machine.
PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
SCAN_VENV := .venv-scan
CHECKOV   := checkov==3.3.30
PIP_QUIET := --quiet --disable-pip-version-check
# LocalStack needs Python 3.13 (pyenv provides it here) and these pins to start.
LOCAL_PYTHON ?= $(firstword $(wildcard /root/.pyenv/versions/3.13*/bin/python3.13) python3.13)
LOCAL_VENV   := .venv-local
LOCALSTACK   := 'localstack-core[runtime]==2026.3.0' 'cbor2<6' 'pyopenssl<25' \
                'cryptography<45' service_identity 'joserfc==1.0.4'

# deploy.py options from make variables: make deploy ENV=prod, LOCAL=1, YES=1,
# ALLOW_DATA_LOSS=1, WAIT=1, PR=1 (a pull request's plan: never executable),
# REVERT_DRIFT=1 (a plan that restores drifted values), NO_DRIFT=1 (skip drift detection),
# IMAGES=Api=<ecr image>@sha256:<digest>,... (a plan with new images; image delivery)
ENV ?=
DEPLOY_FLAGS := $(if $(LOCAL),--local) $(if $(YES),--yes) \
                $(if $(ALLOW_DATA_LOSS),--allow-data-loss) $(if $(WAIT),--wait) \
                $(if $(PR),--pull-request) $(if $(REVERT_DRIFT),--revert-drift) \
                $(if $(NO_DRIFT),--no-drift) $(if $(IMAGES),--images '$(IMAGES)')
DEPLOY := $(PY) deploy.py

.PHONY: build test unit lint bench diagram clean bootstrap deploy execute refactor status doctor destroy local local-stop e2e edge standby cost rollback release-continue restore-test

## build: render every template into build/, validate params, cfn-lint and checkov (cached)
build: $(VENV)/.installed $(SCAN_VENV)/.installed
	$(PY) build.py

## test: ruff (make lint), then the whole test suite (tier properties, snapshots, lint,
## scan, params, deploy with Stubber, and end-to-end against LocalStack, which the tests
## start themselves)
test: lint build $(LOCAL_VENV)/.installed
	$(PY) -m pytest -n 2

## unit: the fast tests, without the end-to-end ones (no LocalStack needed)
unit: $(VENV)/.installed $(SCAN_VENV)/.installed
	$(PY) -m pytest -n 2 -m "not e2e"

## lint: ruff's checks and its format check over the code
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## diagram: docs/architecture.png and .svg drawn from the built templates. The picture
## needs the docs extra (the diagrams package) and Debian's graphviz (`dot`); both are
## installed here when missing (graphviz with apt-get, as root).
diagram: build $(VENV)/.docs-installed
	@command -v dot >/dev/null || { apt-get update && apt-get install -y graphviz; }
	$(PY) -m streamstack.diagram

## bench: cold, no-change and one-tier-changed build times (BEFORE=<commit> measures it too)
bench: $(VENV)/.installed $(SCAN_VENV)/.installed
	$(PY) bench/build.py $(if $(BEFORE),--before $(BEFORE))

## cost ENV=x: monthly cost estimate of an environment from its params and the built templates
## (a table, and build/cost/ENV.md for the pull-request comment)
cost: build
	$(PY) -m streamstack.cost $(ENV)

## bootstrap ENV=x: artifact bucket, ECR, then the execution role, workload boundary and
## CI roles (deploy-role stack) for the account/region
bootstrap: $(VENV)/.installed $(SCAN_VENV)/.installed
	$(DEPLOY) bootstrap $(ENV) $(DEPLOY_FLAGS)

## edge ENV=x: CloudFront's WAF web ACL and certificate in us-east-1 (before deploy)
edge: $(VENV)/.installed $(SCAN_VENV)/.installed
	$(DEPLOY) edge $(ENV) $(DEPLOY_FLAGS)

## standby ENV=x: the standby stack in params standby.region (before and after the first deploy)
standby: $(VENV)/.installed $(SCAN_VENV)/.installed
	$(DEPLOY) standby $(ENV) $(DEPLOY_FLAGS)

## deploy ENV=x: build if stale, upload, plan (dev executes at once: execute: auto)
deploy: $(VENV)/.installed $(SCAN_VENV)/.installed
	$(DEPLOY) deploy $(ENV) $(DEPLOY_FLAGS)

## execute ENV=x: execute exactly the reviewed plan
execute: $(VENV)/.installed
	$(DEPLOY) execute $(ENV) $(DEPLOY_FLAGS)

## refactor ENV=x: move the plan's MOVE rows between nested stacks without replacing them
## (CloudFormation stack refactoring; YES=1 executes after the review)
refactor: $(VENV)/.installed
	$(DEPLOY) refactor $(ENV) $(DEPLOY_FLAGS)

## status ENV=x: stack tree, status, outputs and drift
status: $(VENV)/.installed
	$(DEPLOY) status $(ENV) $(DEPLOY_FLAGS)

## doctor ENV=x: repair stuck stacks (YES=1 confirms), delete old change sets
doctor: $(VENV)/.installed
	$(DEPLOY) doctor $(ENV) $(DEPLOY_FLAGS)

## restore-test ENV=x: restore the newest Aurora, DynamoDB and EFS recovery points beside the
## live resources, time them, delete the copies (YES=1 confirms)
restore-test: $(VENV)/.installed
	$(DEPLOY) restore-test $(ENV) $(DEPLOY_FLAGS)

## rollback ENV=x: roll back the api/web release in progress (YES=1 confirms)
rollback: $(VENV)/.installed
	$(DEPLOY) rollback $(ENV) $(DEPLOY_FLAGS)

## release-continue ENV=x: let a release paused for approval move production traffic (YES=1)
release-continue: $(VENV)/.installed
	$(DEPLOY) release-continue $(ENV) $(DEPLOY_FLAGS)

## destroy ENV=x: delete a throw-away environment (its params must allow it)
destroy: $(VENV)/.installed
	$(DEPLOY) destroy $(ENV) $(DEPLOY_FLAGS)

## local: start LocalStack on 127.0.0.1:$STREAMSTACK_LOCAL_PORT (default 4566) through its fixes
## (streamstack/deploy/localstack_fixes.py), returning once it answers; local-stop stops it
local: $(VENV)/.installed $(LOCAL_VENV)/.installed
	$(PY) -m streamstack.deploy.local start

local-stop: $(VENV)/.installed
	$(PY) -m streamstack.deploy.local stop

## e2e: only the end-to-end test of the real tree on LocalStack (started if nothing answers)
e2e: $(VENV)/.installed $(LOCAL_VENV)/.installed
	$(PY) -m pytest -m e2e -p no:xdist -v

clean:
	rm -rf build .pytest_cache

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install $(PIP_QUIET) --upgrade pip
	$(VENV)/bin/pip install $(PIP_QUIET) -e '.[test]'
	touch $@

$(VENV)/.docs-installed: $(VENV)/.installed
	$(VENV)/bin/pip install $(PIP_QUIET) -e '.[test,docs]'
	touch $@

# checkov pins an old boto3, so it gets a venv of its own.
$(SCAN_VENV)/.installed:
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/pip install $(PIP_QUIET) --upgrade pip
	$(SCAN_VENV)/bin/pip install $(PIP_QUIET) '$(CHECKOV)'
	touch $@

# LocalStack gets its own Python 3.13 venv.
$(LOCAL_VENV)/.installed:
	$(LOCAL_PYTHON) -m venv $(LOCAL_VENV)
	$(LOCAL_VENV)/bin/pip install $(PIP_QUIET) --upgrade pip
	$(LOCAL_VENV)/bin/pip install $(PIP_QUIET) $(LOCALSTACK)
	touch $@

# -- StackSet environments (docs/stacksets.md) ------------------------------------------------
# make deploy ENV=prod-global DEEP_PREVIEW=1; make execute ENV=prod-global PRUNE=1
DEPLOY_FLAGS += $(if $(PRUNE),--prune) $(if $(DEEP_PREVIEW),--deep-preview)
.PHONY: drift bench-stacksets

## drift ENV=x: StackSet drift: detection, then the drifted instances and resources (exit 6 if any)
drift: $(VENV)/.installed
	$(if $(ENV),,$(error ENV is required, e.g. make drift ENV=prod-global))
	$(DEPLOY) drift $(ENV) $(DEPLOY_FLAGS)

## bench-stacksets: API calls of a 50 accounts x 4 regions StackSet environment (moto, no AWS)
bench-stacksets: $(VENV)/.installed
	$(PY) bench/stacksets.py --accounts 50
