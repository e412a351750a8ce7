# alsobought: build, local services (Kafka + Redis without Docker) and tests.
# Run `make help` for the list of targets. GNU make; recipes use bash.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := bin/alsobought
LOCAL     := deploy/local
PROM      := deploy/prometheus
# Where deploy/local/up.sh writes the settings (follows ALSOBOUGHT_LOCAL_RUN_DIR).
RUN_DIR   := $(or $(ALSOBOUGHT_LOCAL_RUN_DIR),.run)
ENV_FILE  := $(RUN_DIR)/env
# Where deploy/local/cluster-up.sh writes ALSOBOUGHT_REDIS_CLUSTER_ADDRS.
CLUSTER_ENV_FILE := $(RUN_DIR)/cluster-env
# Where deploy/local/sentinel-up.sh writes ALSOBOUGHT_REDIS_SENTINEL_ADDRS and _MASTER.
SENTINEL_ENV_FILE := $(RUN_DIR)/sentinel-env
# The secured endpoints (TLS ports, SASL_SSL listener, CA, passwords) that
# up.sh and cluster-up.sh write for the tests.
SECURE_ENV_FILE := $(RUN_DIR)/secure-env
TEST_FLAGS ?= -race -count=1 -timeout 20m
PKGS      ?= ./...

# The shared public data sets (../shared/data), read by the data-set tests;
# the project never needs them at run time.
ALSOBOUGHT_SHARED_DATA ?= $(abspath $(firstword $(wildcard ../shared/data /work/shared/data)))
export ALSOBOUGHT_SHARED_DATA

# Export the KEY=VALUE lines of $(ENV_FILE) into the recipe's shell.
load_env = set -a; . "$(ENV_FILE)"; set +a
load_cluster_env = set -a; . "$(CLUSTER_ENV_FILE)"; set +a
load_sentinel_env = set -a; . "$(SENTINEL_ENV_FILE)"; set +a
load_secure_env = set -a; . "$(SECURE_ENV_FILE)"; set +a

.PHONY: help build up down status cluster-up cluster-down test test-unit run fmt vet lint clean

help: ## List the targets
	@echo "Usage: make <target>"
	@echo
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
		awk 'BEGIN {FS = ":.*?## "}; {printf "  %-13s %s\n", $$1, $$2}'
	@echo
	@echo "Local services: Kafka on 127.0.0.1:19092, Redis on 127.0.0.1:16379,"
	@echo "Redis Cluster on 127.0.0.1:17001-17006 (make cluster-up, make test),"
	@echo "state under $(RUN_DIR)/ (see deploy/local/README.md)."

# -buildvcs=auto: stamp the Git commit into the binary (alsobought version,
# alsobought_build_info) even where GOFLAGS turns stamping off.
build: ## Build bin/alsobought
	$(GO) build -buildvcs=auto -o $(BIN) ./cmd/alsobought

up: ## Start local Kafka + Redis (idempotent); settings in .run/env
	@$(LOCAL)/up.sh

down: ## Stop local Kafka + Redis (idempotent)
	@$(LOCAL)/down.sh

status: ## Show whether local Kafka + Redis are up (exit 1 if not)
	@$(LOCAL)/status.sh

cluster-up: ## Start the local Redis Cluster, 3 masters + 3 replicas (idempotent); setting in .run/cluster-env
	@$(LOCAL)/cluster-up.sh

cluster-down: ## Stop the local Redis Cluster (idempotent; keeps its data)
	@$(LOCAL)/cluster-down.sh

.PHONY: sentinel-up sentinel-down
sentinel-up: ## Start the local Redis with Sentinel, master + replica + sentinel (idempotent); settings in .run/sentinel-env
	@$(LOCAL)/sentinel-up.sh

sentinel-down: ## Stop the local Redis with Sentinel (idempotent; keeps its data and roles)
	@$(LOCAL)/sentinel-down.sh

# Services (Kafka + Redis, and the Redis Cluster) are stopped whatever happens;
# the exit status is the first failure's. KEEP_SERVICES=1 leaves them running afterwards.
test: ## up + cluster-up, check docker-compose.yml and the Prometheus rules, ensure chromium, go test -race ./... with the services, then cluster-down + down
	@status=0; \
	$(LOCAL)/up.sh >/dev/null || status=$$?; \
	if [ $$status -eq 0 ]; then $(LOCAL)/cluster-up.sh >/dev/null || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(LOCAL)/sentinel-up.sh >/dev/null || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(LOCAL)/check-compose.sh || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(PROM)/check.sh || status=$$?; fi; \
	if [ $$status -eq 0 ]; then $(LOCAL)/ensure-chromium.sh || status=$$?; fi; \
	if [ $$status -eq 0 ]; then \
		$(load_env); $(load_cluster_env); $(load_secure_env); $(load_sentinel_env); \
		echo "go test $(TEST_FLAGS) $(PKGS)  (ALSOBOUGHT_KAFKA_BROKERS=$$ALSOBOUGHT_KAFKA_BROKERS ALSOBOUGHT_REDIS_ADDRS=$$ALSOBOUGHT_REDIS_ADDRS ALSOBOUGHT_REDIS_CLUSTER_ADDRS=$$ALSOBOUGHT_REDIS_CLUSTER_ADDRS)"; \
		ALSOBOUGHT_REQUIRE_SERVICES=1 $(GO) test $(TEST_FLAGS) $(PKGS) || status=$$?; \
	fi; \
	if [ -z "$${KEEP_SERVICES:-}" ]; then $(LOCAL)/sentinel-down.sh || true; $(LOCAL)/cluster-down.sh || true; $(LOCAL)/down.sh || true; fi; \
	exit $$status

# -short: every test that needs a service (Kafka, Redis, a browser, Prometheus)
# skips (internal/testenv decides), whatever the environment holds.
# No -race: the race build of every package takes minutes; make test has it.
test-unit: ## go test -short ./... (unit tests only, no services, well under a minute)
	$(GO) test -count=1 -short $(PKGS)

run: build up ## Build, start the services, run deploy/local/demo.sh
	@test -x $(LOCAL)/demo.sh || { echo "$(LOCAL)/demo.sh is missing or not executable" >&2; exit 1; }
	@$(load_env); $(LOCAL)/demo.sh

fmt: ## Fail if gofmt would change a file
	@out="$$(gofmt -l .)"; \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet: ## go vet ./...
	$(GO) vet $(PKGS)

lint: fmt vet ## fmt + vet

clean: ## Remove bin/ (not .run/ or .cache/)
	rm -rf bin
