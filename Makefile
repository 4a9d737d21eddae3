# One target per task. `make run` and `make test` do all the setup on a fresh machine.
.PHONY: run test unit e2e lint fmt crds build bench-schedule bench-runner bench-facade bench-writepath openapi controlplane helm chart cluster-up cluster-down cluster-status

run: ## Punctual on a local control plane (or the cluster of KUBECONFIG), with the examples
	bash e2e/run.sh

test: lint ## Lint, unit tests, then end-to-end tests on a fresh local control plane
	bash e2e/test.sh all

unit: ## Unit tests only (no cluster)
	bash e2e/test.sh unit

e2e: ## End-to-end tests only (starts and stops a local control plane)
	bash e2e/test.sh e2e

lint: ## rustfmt and clippy, as CI runs them
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --test e2e -- -D warnings # the end-to-end target is not in --all-targets (test = false)
	cargo clippy --test faults -- -D warnings # nor is the control-plane fault target

fmt:
	cargo fmt

crds: ## Regenerate crds/ from the Rust types
	cargo run --quiet -- crds --out-dir crds

build:
	cargo build --release

bench-schedule: ## Schedule lag with 1000 and 5000 Actions due in the same minute (prints figures)
	bash e2e/bench.sh schedule 1000 5000

bench-facade: ## REST facade vs API server with 10,000 Actions: req/s, p50/p99 of list and get (prints figures)
	bash e2e/bench.sh facade 10000

openapi: ## Print the facade's OpenAPI document and validate it (openapi-spec-validator in a venv)
	bash e2e/openapi-check.sh

bench-runner: ## Runs per second and nominal-to-endpoint latency, 200 and 1000 runs (prints figures)
	bash e2e/bench.sh runner 200 1000

bench-writepath: ## Write path side by side: raw create rate, Punctual vs CronJob slot latency, writes per run, RSS (prints figures)
	bash e2e/bench.sh writepath 1000 5000

controlplane: ## Build (or reuse) etcd, kube-apiserver, kube-controller-manager, kubectl
	bash e2e/cluster.sh build

helm: ## Build (or reuse) helm from its Go module, cached in ~/.cache/punctual/bin
	bash e2e/tools.sh helm

chart: ## Render the Helm chart with default values (pass VALUES="--set replicaCount=2" for others)
	"$$(bash e2e/tools.sh helm)" template punctual charts/punctual --namespace punctual-system $(VALUES)

cluster-up: ## Start the local control plane in .cluster/ (prints the kubeconfig path)
	bash e2e/cluster.sh up

cluster-down:
	bash e2e/cluster.sh down

cluster-status:
	bash e2e/cluster.sh status
