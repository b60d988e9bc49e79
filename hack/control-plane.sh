#!/usr/bin/env bash
# Finds or makes the test control plane (kube-apiserver, kubectl, etcd), in order:
#   1. a preset KUBEBUILDER_ASSETS;
#   2. the cache outside the checkout, from an earlier run;
#   3. a prebuilt download with setup-envtest (pinned), given at most
#      DOWNLOAD_TIMEOUT seconds (30) to answer; CONTROL_PLANE_DOWNLOAD=off skips it;
#   4. a build from source through the Go module proxy, for machines that reach
#      only the proxy (7 to 20 minutes on two cores, the first time only).
#
# Prints the directory that holds the binaries (use it as KUBEBUILDER_ASSETS);
# progress goes to stderr.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
SETUP_ENVTEST_VERSION="${SETUP_ENVTEST_VERSION:-v0.25.1}"
DOWNLOAD_TIMEOUT="${DOWNLOAD_TIMEOUT:-30}"

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
  for bin in kube-apiserver etcd kubectl; do
    [[ -x "${KUBEBUILDER_ASSETS}/${bin}" ]] || { echo "KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS} has no ${bin}" >&2; exit 1; }
  done
  echo "${KUBEBUILDER_ASSETS}"
  exit 0
fi

cache="${XDG_CACHE_HOME:-$HOME/.cache}/bland-operator/k8s/${K8S_VERSION}-etcd${ETCD_VERSION}"
# A cached kube-apiserver that reports no version (built before the version
# was stamped in) is rebuilt: Helm's kubeVersion check reads it.
if [[ -x "${cache}/kube-apiserver" && -x "${cache}/kubectl" && -x "${cache}/etcd" ]] &&
  [[ "$("${cache}/kube-apiserver" --version 2>/dev/null)" == "Kubernetes v${K8S_VERSION}" ]]; then
  echo "${cache}"
  exit 0
fi

# A prebuilt control plane, where the network allows.
if [[ "${CONTROL_PLANE_DOWNLOAD:-on}" != off ]]; then
  echo ">> trying a prebuilt control plane (setup-envtest ${SETUP_ENVTEST_VERSION}, at most ${DOWNLOAD_TIMEOUT}s)" >&2
  root="${cache%/*}"
  if GOBIN="${root}/tools" timeout "${DOWNLOAD_TIMEOUT}" go install "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" >&2 &&
    dir="$(timeout "${DOWNLOAD_TIMEOUT}" "${root}/tools/setup-envtest" use "${K8S_VERSION}" --bin-dir "${root}/envtest" -p path 2>&2)" &&
    [[ -x "${dir}/kube-apiserver" && -x "${dir}/etcd" && -x "${dir}/kubectl" ]]; then
    echo ">> using the prebuilt control plane in ${dir}" >&2
    echo "${dir}"
    exit 0
  fi
  echo ">> no prebuilt control plane within ${DOWNLOAD_TIMEOUT}s: building it from source instead" >&2
fi

mkdir -p "${cache}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOWORK=off

# The v0.x version of every staging module that matches the Kubernetes release.
staging_version="v0.${K8S_VERSION#1.}"
# Stamped in as Kubernetes' own release build does, so that the API server
# and kubectl report v${K8S_VERSION} (a plain go build says v0.0.0-master).
minor="${K8S_VERSION#1.}"
minor="${minor%%.*}"
version_ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  version_ldflags+=" -X ${pkg}.gitVersion=v${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor} -X ${pkg}.gitTreeState=clean"
done

echo ">> [1/3] fetching Kubernetes ${K8S_VERSION} modules and building kube-apiserver into ${cache} (first time only; 7 to 20 minutes on two cores)" >&2
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
  go build -ldflags "${version_ldflags}" -o "${cache}/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  echo ">> [2/3] building kubectl ${K8S_VERSION}" >&2
  go build -ldflags "${version_ldflags}" -o "${cache}/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl
) >&2

echo ">> [3/3] building etcd ${ETCD_VERSION}" >&2
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
