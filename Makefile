# bland-operator build, test and demo entry points. `make help` lists them.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Tool versions, pinned. Each tool is built from the Go module proxy into bin/.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
KUSTOMIZE_VERSION ?= v5.8.1
CRD_REF_DOCS_VERSION ?= v0.3.0
HELM_VERSION ?= v3.22.0
ACTIONLINT_VERSION ?= v1.7.12
KIND_VERSION ?= v0.33.0
COSIGN_VERSION ?= v2.6.5

# The test control plane: built from source by hack/control-plane.sh and cached
# outside the checkout (see hack/control-plane.sh).
K8S_VERSION ?= 1.37.2
ETCD_VERSION ?= 3.6.16

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)
CRD_REF_DOCS ?= $(LOCALBIN)/crd-ref-docs-$(CRD_REF_DOCS_VERSION)
HELM ?= $(LOCALBIN)/helm-$(HELM_VERSION)
ACTIONLINT ?= $(LOCALBIN)/actionlint-$(ACTIONLINT_VERSION)
KIND ?= $(LOCALBIN)/kind-$(KIND_VERSION)
COSIGN ?= $(LOCALBIN)/cosign-$(COSIGN_VERSION)

export GOFLAGS ?= -buildvcs=false

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate the CRD and RBAC manifests from the Go markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate the DeepCopy methods.
	$(CONTROLLER_GEN) object paths="./..."

.PHONY: docs
docs: $(CRD_REF_DOCS) ## Generate docs/api-reference.md from the Go types.
	$(CRD_REF_DOCS) --source-path=./api --config=hack/api-docs.yaml --renderer=markdown --output-path=docs/api-reference.md

.PHONY: actionlint
actionlint: $(ACTIONLINT) ## Check the GitHub workflows.
	$(ACTIONLINT) -shellcheck= .github/workflows/*.yaml

.PHONY: chart-files
chart-files: ## Copy the CRDs, RBAC rules, alerts, dashboard and Argo CD check from config/ into the Helm chart; write its README from values.yaml.
	go run ./hack/chartsync
	go run ./hack/chartdoc

.PHONY: fmt
fmt: ## Run gofmt on the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint with .golangci.yml.
	$(GOLANGCI_LINT) run ./...

##@ Testing

.PHONY: test
test: verify unit integration e2e chart-test docs-test release-test reliability-short ## Everything CI runs: generated files, format, vet, lint, unit, envtest, end-to-end, Helm chart, docs, release and short reliability tests.

.PHONY: verify
verify: ## Fail if make manifests generate docs would change a file, or code is not gofmt-clean; then the version check, vet and lint.
	@snapshot() { git status --porcelain -- api config internal cmd docs charts; git diff -- api config internal cmd docs charts | sha256sum; }; \
	before="$$(snapshot)"; \
	$(MAKE) --no-print-directory manifests generate docs chart-files >/dev/null; \
	if [[ "$$(snapshot)" != "$$before" ]]; then \
		echo "make manifests generate docs chart-files changed files; run them and commit the result:"; \
		git status --porcelain -- api config internal cmd docs charts; exit 1; fi
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [[ -n "$$unformatted" ]]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(MAKE) --no-print-directory verify-version vet lint actionlint

UNIT_PACKAGES = ./api/... ./cmd/... ./internal/bland/... ./internal/blandsim/... ./internal/persona/... ./test/contract/... ./test/argocd/... ./test/monitoring/... ./test/controlplane/... ./test/podspec/... ./hack/chartdoc/...

.PHONY: unit
unit: ## Unit tests, the fuzz seed corpora, and the alert rules under Prometheus' own parser and PromQL engine.
	go test -count=1 $(UNIT_PACKAGES)
	cd hack/alerttest && go test -count=1 ./...

.PHONY: integration
integration: ## Integration tests on a real kube-apiserver and etcd (envtest).
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test -count=1 -timeout 15m ./internal/controller/... ./test/plugin/... ./test/admission/...

.PHONY: e2e
e2e: ## End-to-end: config/ applied with kubectl, the manager binary as an RBAC-limited user, make demo.
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test -count=1 -timeout 15m -v ./test/e2e/...

.PHONY: chart-test
chart-test: $(HELM) ## The Helm chart with the real helm CLI: lint, template, install into envtest, uninstall.
	HELM=$(HELM) KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test -count=1 -timeout 10m ./test/chart/...

.PHONY: docs-test
docs-test: $(HELM) ## Run every shell block of README.md and docs/*.md against envtest, the chart or kustomize install, the manager binary and the Bland simulator.
	HELM=$(HELM) KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test -count=1 -timeout 10m -v ./test/docs/...

.PHONY: release-test
release-test: $(KUSTOMIZE) $(HELM) ## Run make release into a temporary folder and check every artefact.
	go test -count=1 -timeout 10m ./test/release/...

RELIABILITY_LOG ?= /tmp/bland-operator-reliability.log

.PHONY: reliability-short
reliability-short: ## The reliability suite, short form: faults, crashes, failover, hot loops (a few minutes).
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test -count=1 -timeout 20m -v ./test/reliability/... 2>&1 \
		| tee $(RELIABILITY_LOG) | grep -E '^(--- |ok|FAIL)|REPORT'

.PHONY: test-reliability
test-reliability: ## The reliability suite, long form (200 bindings, 50 crashes); figures for the release notes.
	RELIABILITY_LONG=1 KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test -count=1 -timeout 60m -v ./test/reliability/... 2>&1 \
		| tee $(RELIABILITY_LOG) | grep -E '^(--- |ok|FAIL)|REPORT'

SEED ?=
STEPS ?= 60
MODEL_DURATION ?= 30m

.PHONY: test-live
test-live: ## The contract check against the real Bland (BLAND_LIVE_API_KEY, BLAND_LIVE_NUMBERS; see docs/contract.md); without them, against the simulator.
	@if [ -z "$$BLAND_LIVE_API_KEY" ] || [ -z "$$BLAND_LIVE_NUMBERS" ]; then \
		echo "BLAND_LIVE_API_KEY or BLAND_LIVE_NUMBERS is not set: running the contract against the simulator as a stand-in"; fi
	go test -count=1 -v -run '^TestContract$$' ./test/contract/ 2>&1 | grep -E '^(--- |ok|FAIL)|REPORT|wrote|step|answered|Bland'

.PHONY: test-fidelity
test-fidelity: ## The preview's fidelity check at 10,000 scenarios (make test runs 1,000). FIDELITY_SCENARIOS=n sets how many.
	FIDELITY_SCENARIOS=$(or $(FIDELITY_SCENARIOS),10000) KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" \
		go test -count=1 -timeout 90m -v -run '^TestThePlanPredictsWhatTheOperatorDoes$$' ./internal/controller/ 2>&1 | grep -E '^(--- |ok|FAIL)|REPORT|scenario [0-9]+:|^ +fid-'

.PHONY: test-model
test-model: ## The randomized model test. SEED=n STEPS=n replays one run; without SEED, new seeds for MODEL_DURATION (30m).
	MODEL_SEED=$(SEED) MODEL_STEPS=$(STEPS) MODEL_DURATION=$(if $(SEED),0s,$(MODEL_DURATION)) \
		KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test -count=1 -timeout 90m -v -run '^TestModel$$' ./test/reliability/... 2>&1 \
		| tee $(RELIABILITY_LOG) | grep -E '^(\s*--- |ok|FAIL)|REPORT|MODEL_SEED|at quiescence|detach of|^\s{8}[a-z]'

FUZZTIME ?= 1m

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (1m).
	go test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(FUZZTIME) ./internal/bland/
	go test -run '^$$' -fuzz '^FuzzDecide$$' -fuzztime $(FUZZTIME) ./internal/persona/

.PHONY: control-plane
control-plane: ## Build (or find in the cache) kube-apiserver, etcd and kubectl.
	@K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/control-plane.sh

##@ Performance

.PHONY: bench
bench: build ## Measure the performance targets against the built manager; writes docs/benchmarks.md.
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go run ./hack/bench --manager $(LOCALBIN)/manager --out docs/benchmarks.md
	go test -run '^$$' -bench . -benchmem ./internal/persona/ ./internal/bland/
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test -run '^$$' -bench . -benchtime 5x ./test/plugin/

##@ Demo

DEMO_EXIT ?= 0

.PHONY: demo
demo: ## Local control plane + Bland simulator + manager, and a binding walked through. DEMO_EXIT=1 exits at the end.
	DEMO_EXIT=$(DEMO_EXIT) hack/demo.sh

##@ Build

# The version, written only here. make build, docker-build, build-installer and
# release stamp it; make bump VERSION=vX.Y.Z moves it and every place that
# repeats it, and make verify-version fails when those places disagree.
VERSION ?= v0.2.0
IMG ?= ghcr.io/bland-operator/bland-operator:$(VERSION)

.PHONY: build
build: kubectl-bland ## Build the manager, the Bland simulator and the kubectl plugin into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(LOCALBIN)/manager ./cmd
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/blandsim ./cmd/blandsim

.PHONY: kubectl-bland
kubectl-bland: ## Build the kubectl plugin (kubectl bland plan) into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(LOCALBIN)/kubectl-bland ./cmd/kubectl-bland

.PHONY: run
run: ## Run the manager against the current kubeconfig.
	go run ./cmd

.PHONY: build-installer
build-installer: manifests $(KUSTOMIZE) ## Write dist/install.yaml (CRD, RBAC, Deployment, the detach warning policy) for IMG.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default > dist/install.yaml

.PHONY: release
release: $(KUSTOMIZE) $(HELM) ## Every release artefact into dist/, for VERSION (make release VERSION=v1.2.3-rc.1 for another).
	KUSTOMIZE=$(KUSTOMIZE) HELM=$(HELM) VERSION=$(VERSION) hack/release.sh

.PHONY: bump
bump: ## Move the version everywhere it is written: make bump VERSION=vX.Y.Z.
	@case "$(origin VERSION)" in "command line"|environment) ;; *) echo "name the new version: make bump VERSION=vX.Y.Z" >&2; exit 1;; esac
	hack/bump.sh $(VERSION)

.PHONY: verify-version
verify-version: ## Fail when the Makefile, kustomization, chart and CHANGELOG name different versions (RELEASE_TAG=vX.Y.Z: the tag too).
	@RELEASE_TAG=$(RELEASE_TAG) hack/verify-version.sh

PLATFORMS ?= linux/amd64,linux/arm64

.PHONY: docker-buildx
docker-buildx: ## Build and push the multi-arch image (needs docker buildx and a registry login).
	docker buildx build --platform=$(PLATFORMS) --sbom=true --provenance=mode=max --build-arg VERSION=$(VERSION) --tag $(IMG) --push .

.PHONY: docker-build
docker-build: ## Build the image (needs a container engine, which CI machines lack).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .

##@ Tools

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

$(CONTROLLER_GEN): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

$(GOLANGCI_LINT): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $@

$(CRD_REF_DOCS): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/elastic/crd-ref-docs@$(CRD_REF_DOCS_VERSION)
	mv $(LOCALBIN)/crd-ref-docs $@

$(ACTIONLINT): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	mv $(LOCALBIN)/actionlint $@

# As helm's own release build does: its default Kubernetes version (for
# helm template and lint, and the chart's kubeVersion check) is the one its
# client-go speaks (v3.22: 1.37), not the 1.20 a plain go install leaves.
HELM_K8S_MINOR ?= 37
HELM_LDFLAGS = $(foreach p,chartutil lint/rules,-X helm.sh/helm/v3/pkg/$(p).k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$(p).k8sVersionMinor=$(HELM_K8S_MINOR)) \
	-X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION)
$(HELM): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install -ldflags "$(HELM_LDFLAGS)" helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(LOCALBIN)/helm $@

$(KUSTOMIZE): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $@

$(KIND): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kind@$(KIND_VERSION)
	mv $(LOCALBIN)/kind $@

$(COSIGN): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/sigstore/cosign/v2/cmd/cosign@$(COSIGN_VERSION)
	mv $(LOCALBIN)/cosign $@

# make -s print-HELM prints the path of make's pinned helm (likewise KIND,
# COSIGN, KUSTOMIZE): the release workflow finds its tools this way.
print-%:
	@echo '$($*)'

.PHONY: tools
tools: $(CONTROLLER_GEN) $(GOLANGCI_LINT) $(KUSTOMIZE) $(CRD_REF_DOCS) $(HELM) $(ACTIONLINT) ## Build every pinned tool the tests use into bin/ (the release workflow builds kind and cosign when it needs them).
