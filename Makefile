# bland-operator build, test and demo entry points. `make help` lists them.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

# Tool versions, pinned. Each tool is built from the Go module proxy into bin/.
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0
KUSTOMIZE_VERSION ?= v5.8.1

# The test control plane: built from source by hack/control-plane.sh and cached
# outside the checkout (see SPEC section 9).
K8S_VERSION ?= 1.37.2
ETCD_VERSION ?= 3.6.16

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
KUSTOMIZE ?= $(LOCALBIN)/kustomize-$(KUSTOMIZE_VERSION)

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
test: verify unit integration ## Everything CI runs: generated files, format, vet, lint, unit and envtest tests.

.PHONY: verify
verify: manifests generate vet lint ## Fail if generated files are stale or code is not gofmt-clean.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [[ -n "$$unformatted" ]]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	@if ! git diff --quiet -- api config internal cmd; then \
		echo "make manifests generate changed tracked files; run them and commit:"; \
		git --no-pager diff --stat -- api config internal cmd; exit 1; fi

.PHONY: unit
unit: ## Unit tests (no control plane needed).
	go test -count=1 ./api/... ./internal/bland/... ./internal/blandsim/... ./internal/plan/...

.PHONY: integration
integration: ## Integration tests on a real kube-apiserver and etcd (envtest).
	KUBEBUILDER_ASSETS="$$(hack/control-plane.sh)" go test -count=1 -timeout 20m ./internal/controller/...

.PHONY: control-plane
control-plane: ## Build (or find in the cache) kube-apiserver, etcd and kubectl.
	@K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/control-plane.sh

##@ Build

.PHONY: build
build: ## Build the manager and the Bland simulator into bin/.
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/manager ./cmd
	CGO_ENABLED=0 go build -trimpath -o $(LOCALBIN)/blandsim ./cmd/blandsim

.PHONY: run
run: ## Run the manager against the current kubeconfig.
	go run ./cmd

##@ Tools

$(LOCALBIN):
	mkdir -p $(LOCALBIN)

$(CONTROLLER_GEN): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(LOCALBIN)/controller-gen $@

$(GOLANGCI_LINT): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(LOCALBIN)/golangci-lint $@

$(KUSTOMIZE): | $(LOCALBIN)
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	mv $(LOCALBIN)/kustomize $@

.PHONY: tools
tools: $(CONTROLLER_GEN) $(GOLANGCI_LINT) $(KUSTOMIZE) ## Build every pinned tool into bin/.
