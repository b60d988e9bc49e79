#!/usr/bin/env bash
# Builds the test control plane (kube-apiserver, kubectl, etcd) from source through
# the Go module proxy, because the usual setup-envtest download cannot reach the
# internet from the machines this project is built on. The binaries are cached
# outside the checkout and reused; a preset KUBEBUILDER_ASSETS wins over everything.
#
# Prints the directory that holds the binaries (use it as KUBEBUILDER_ASSETS);
# progress goes to stderr.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  for bin in kube-apiserver etcd kubectl; do
    [[ -x "${KUBEBUILDER_ASSETS}/${bin}" ]] || { echo "KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS} has no ${bin}" >&2; exit 1; }
  done
  echo "${KUBEBUILDER_ASSETS}"
  exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/bland-operator/k8s/${K8S_VERSION}-etcd${ETCD_VERSION}"
if [[ -x "${cache}/kube-apiserver" && -x "${cache}/kubectl" && -x "${cache}/etcd" ]]; then
  echo "${cache}"
  exit 0
fi

mkdir -p "${cache}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOWORK=off

# The v0.x version of every staging module that matches the Kubernetes release.
staging_version="v0.${K8S_VERSION#1.}"

echo ">> building kube-apiserver and kubectl ${K8S_VERSION} into ${cache} (first time only, several minutes)" >&2
mkdir -p "${work}/k8s"
(
  cd "${work}/k8s"
  go mod init control-plane/k8s >/dev/null 2>&1
  go mod edit -require="k8s.io/kubernetes@v${K8S_VERSION}"
  moddir="$(go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  # Kubernetes points its staging modules at ./staging; point them at the published copies.
  for mod in $(sed -n 's#^\s*\(k8s\.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "${moddir}"); do
    go mod edit -replace="${mod}=${mod}@${staging_version}"
  done
  cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  go build -o "${cache}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  go build -o "${cache}/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
) >&2

echo ">> building etcd ${ETCD_VERSION}" >&2
mkdir -p "${work}/etcd"
(
  cd "${work}/etcd"
  go mod init control-plane/etcd >/dev/null 2>&1
  go mod edit -require="go.etcd.io/etcd/server/v3@v${ETCD_VERSION}"
  go build -o "${cache}/etcd.tmp" go.etcd.io/etcd/server/v3
) >&2

# Rename last so that an interrupted build never leaves a half-filled cache behind.
for bin in kube-apiserver kubectl etcd; do
  mv "${cache}/${bin}.tmp" "${cache}/${bin}"
done
echo "${cache}"
