# Roster. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO_JOBS ?= $(shell nproc)
export CARGO_BUILD_JOBS := $(CARGO_JOBS)
# Where tests find Postgres and the broker (started by `make stack` if not running). The tests'
# memory broker has a port of its own, so that `make run` (9092, durable) never meets it.
export ROSTER_TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_KAFKA_PORT ?= 19192
export ROSTER_TEST_KAFKA ?= 127.0.0.1:$(TEST_KAFKA_PORT)
TEST_BROKER_DIR := $(or $(TMPDIR),/tmp)/roster-test-broker-$(TEST_KAFKA_PORT)

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-z][a-z0-9-]*:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

.PHONY: run
run: ## Build and run the whole stack (Postgres, Nisshi, gateway, projector, role-mapper); prints Tenant URL and Secret Token
	@scripts/run.sh

.PHONY: stop
stop: ## Stop this checkout's `make run` left in the background (normally Ctrl-C does it)
	@scripts/stop.sh

.PHONY: reset
reset: ## Drop the development database and the broker's log (.roster/), after saying so
	@scripts/reset.sh

.PHONY: build
build: ## Build every binary (release)
	cargo build --release --bins

.PHONY: stack
stack: ## Make sure Postgres and the tests' broker (Nisshi, memory storage, port 19192) are up
	@scripts/stack.sh postgres
	@KAFKA_PORT=$(TEST_KAFKA_PORT) scripts/stack.sh broker-memory $(TEST_BROKER_DIR)

.PHONY: stack-stop
stack-stop: ## Stop the tests' broker if `make stack` started it
	@scripts/stack.sh broker-stop $(TEST_BROKER_DIR)

TEST_STEPS := lint test-unit test-integration test-run test-scim2 test-postman test-chaos

.PHONY: test
test: ## Everything: lint, unit, integration, `make run`, scim2-tester, Postman; stops the broker it started (KEEP_STACK=1 keeps it)
	@started=0; [ -f $(TEST_BROKER_DIR)/nisshi.pid ] && kill -0 $$(cat $(TEST_BROKER_DIR)/nisshi.pid) 2>/dev/null || started=1; \
	  status=0; $(MAKE) --no-print-directory $(TEST_STEPS) || status=$$?; \
	  if [ $$started = 1 ] && [ -z "$(KEEP_STACK)" ]; then scripts/stack.sh broker-stop $(TEST_BROKER_DIR); fi; \
	  exit $$status

.PHONY: lint
lint: ## rustfmt, clippy -D warnings, crate boundaries, module cycles, deploy config copies, schema.rs and OpenAPI drift, buf lint + breaking, kustomize + manifest validation, and proof that the last two catch defects
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	scripts/check-boundaries.sh
	@for f in default.toml production.toml; do cmp -s config/$$f deploy/base/config/$$f || \
	  { echo "deploy/base/config/$$f differs from config/$$f: cp config/$$f deploy/base/config/"; exit 1; }; done
	@scripts/stack.sh postgres
	scripts/check-schema.sh
	scripts/check-openapi.sh
	scripts/check-proto.sh
	scripts/check-manifests.sh
	scripts/test-lint-catches.sh

.PHONY: test-unit
test-unit: ## Unit and property tests of every crate (no services needed)
	cargo test --workspace --exclude roster-integration-tests

.PHONY: test-integration
test-integration: stack ## Integration tests against the real Postgres and broker (and headless Chromium for the console's)
	@scripts/stack.sh chromium
	cargo test -p roster-integration-tests --test integration

.PHONY: test-run
test-run: stack ## `make run` twice with Ctrl-C between: prints the two lines, creates, keeps users
	scripts/test-make-run.sh

.PHONY: test-scim2
test-scim2: stack ## scim2-tester (PyPI) against a running gateway: every check must succeed
	scripts/test-scim2-tester.sh

.PHONY: chaos
chaos: ## The fault harness (release): kills, broker and Postgres restarts under load; 1 and 2 instances, dynamic and static group membership; then 0 lost, 0 duplicates, 0 gaps, 0 500s
	scripts/chaos.sh

.PHONY: test-chaos
test-chaos: ## The short form of `make chaos` that `make test` runs (dev build; 1 instance, then 2 with static membership)
	PROFILE=dev CHAOS_RUNS="1 2:static" scripts/chaos.sh --settle-ms 2500

.PHONY: test-postman
test-postman: stack ## Microsoft's SCIMReferenceCode Postman collection (newman) against a running gateway: at least 100 assertions must pass
	scripts/test-postman.sh

.PHONY: migrate
migrate: ## Apply migrations to ROSTER__DATABASE__URL (default: the local `roster` database)
	@scripts/stack.sh postgres
	cargo run --quiet --bin roster -- migrate --create-database

.PHONY: openapi
openapi: ## Regenerate docs/openapi.json (the admin API) from the handlers
	scripts/check-openapi.sh --write

.PHONY: schema
schema: ## Regenerate crates/store/src/schema.rs from the migrations
	scripts/check-schema.sh --write

.PHONY: bench
bench: ## Benchmarks (results go to docs/benchmarks.md by hand, with this command)
	@scripts/stack.sh postgres
	scripts/bench.sh

.PHONY: bench-idle
bench-idle: ## What `make run` costs at rest: CPU of every process of the stack over 30 s (IDLE_SECONDS)
	@scripts/stack.sh postgres
	scripts/idle-cpu.sh
