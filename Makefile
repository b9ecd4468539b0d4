# kitcore: one entry point for running, testing and building the monorepo.
# Every target sets up what it needs (virtual environment, generated code,
# system packages, images) the first time, on a machine with only Python,
# make and Docker.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed

# Generated gRPC code lives in build/gen (never committed, never hand-edited).
GEN    := build/gen
export PYTHONPATH := $(CURDIR)/services:$(CURDIR)/$(GEN)

# A current Compose: `docker compose` where the user has it, otherwise the
# Compose binary the dev requirements install into the venv (never v1.29).
COMPOSE := $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo "$(CURDIR)/$(BIN)/docker-compose")
export COMPOSE

.DEFAULT_GOAL := help
.PHONY: help venv proto system-deps test test-unit test-integration lint \
        images up down clean logs ps new-service bench run-gateway run-book run-user \
        test-k8s k8s-secrets swarm-up swarm-down test-swarm test-outages

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(STAMP): requirements-dev.lock libs/kitcore/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e libs/kitcore
	touch $@

venv: $(STAMP) ## create the virtual environment (.venv) from the lock file

proto: $(STAMP) ## generate Python gRPC code from proto/*.proto into build/gen
	$(PY) scripts/gen_proto.py proto $(GEN)

system-deps: ## install etcd, Redis and PostgreSQL servers for the tests (Debian)
	@scripts/install-system-deps.sh

test: test-unit test-k8s test-integration ## run every test: unit, Kubernetes manifests, then the stack under compose

test-unit: proto system-deps ## unit tests of kitcore and the services (real etcd/Redis/PostgreSQL processes)
	$(BIN)/pytest -q libs/kitcore/tests services tests/layout tests/new_service tests/reliability/fuzz docker tests/docs

# One pytest session, so the stack comes up once for all; the disruptive runs go last.
test-integration: proto images ## black-box tests of the running stack under compose, then its reliability (security, chaos, outages)
	$(BIN)/pytest -q tests/integration tests/reliability/stack

test-outages: proto images ## only the dependency-outage run (PostgreSQL, Redis, user, Jaeger, etcd paused) against the stack
	$(BIN)/pytest -q tests/reliability/stack/test_outages.py

# Three Docker-in-Docker nodes form the swarm; this engine joins no swarm.
# Not part of `make test` yet: about 2 min warm here, but a cold CI run grows by
# the node image too (see docs/multi-machine.md).
test-swarm: proto images ## the stack on a three-node Docker Swarm: deploy, rolling update, scale, node loss
	$(BIN)/pytest -q tests/swarm

SWARM_STACK ?= kitcore
swarm-up: $(STAMP) images ## deploy the stack on Docker Swarm (docker stack deploy) and wait until it runs
	@SWARM_STACK=$(SWARM_STACK) scripts/swarm-up.sh

swarm-down: $(STAMP) ## remove the Swarm stack (keeps its volumes; the engine stays in its swarm)
	docker stack rm $(SWARM_STACK)

# Offline: kubectl kustomize renders each overlay, kubernetes-validate checks it.
test-k8s: $(STAMP) ## render deploy/k8s's overlays and check them against the Kubernetes schemas
	@command -v kubectl >/dev/null 2>&1 || { echo "error: kubectl is needed to render deploy/k8s 1.27 or newer, with kustomize v5" >&2; exit 1; }
	$(BIN)/pytest -q tests/k8s

OVERLAY ?= local
k8s-secrets: $(STAMP) ## write deploy/k8s/overlays/$(OVERLAY)/secrets.env with random values (kept if present)
	$(PY) scripts/k8s_secrets.py deploy/k8s/overlays/$(OVERLAY)

lint: $(STAMP) ## ruff
	$(BIN)/ruff check .

images: $(STAMP) ## build every image the stack needs (offline from Debian packages when no registry answers)
	@scripts/build-images.sh

up: $(STAMP) ## build what is missing, start the whole stack and wait until it is healthy
	@scripts/stack-up.sh

down: $(STAMP) ## stop the stack (keeps data)
	$(COMPOSE) down

clean: $(STAMP) ## stop the stack and remove its volumes
	$(COMPOSE) down -v --remove-orphans

logs: $(STAMP) ## follow the stack's logs
	$(COMPOSE) logs -f

ps: $(STAMP) ## list the stack's containers
	$(COMPOSE) ps

new-service: $(STAMP) ## copy the template service: make new-service NAME=inventory
	$(PY) scripts/new_service.py "$(NAME)"

# The services run alone with this checkout's secrets from .env (written on first use):
# user signs tokens with KIT_JWT_SECRET and the gateway checks them with the same one.
WITH_SECRETS = scripts/env-secrets.sh && set -a && . ./.env && set +a &&

run-gateway: proto ## run the gateway alone on :8080 (user at KIT_USER_ADDRS, book at KIT_BOOK_ADDRS)
	$(WITH_SECRETS) $(PY) -m gateway

# Ports beside a local gateway: it finds book's gRPC on :50051 and user's HTTP on :8081.
run-book: proto ## run book alone: HTTP :8082, gRPC :50051, SQLite in ./book.db
	$(WITH_SECRETS) KIT_HTTP_PORT=8082 KIT_GRPC_PORT=50051 $(PY) -m book

run-user: proto ## run user alone: HTTP :8081, gRPC :50052, SQLite in ./user.db
	$(WITH_SECRETS) KIT_HTTP_PORT=8081 KIT_GRPC_PORT=50052 $(PY) -m user

bench: proto ## run the benchmarks and write bench/report
	@scripts/bench.sh
