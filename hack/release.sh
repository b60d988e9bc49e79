#!/usr/bin/env bash
# make release VERSION=vX.Y.Z: every artefact of a release, in $DIST (dist/).
#   install.yaml  CRDs, RBAC and the Deployment, image tagged VERSION
#   crds.yaml     the CRDs alone, for teams that manage them separately
#   bland-operator-X.Y.Z.tgz  the Helm chart, version and appVersion stamped
#   manager-linux-{amd64,arm64}, blandsim-linux-{amd64,arm64}  static binaries
#   checksums.txt SHA-256 of all of the above
# The working tree is not modified: the kustomize overlay is rendered from a copy.
set -euo pipefail

: "${VERSION:?set VERSION, e.g. make release VERSION=v0.2.0}"
: "${KUSTOMIZE:?}" "${HELM:?}"
[[ "${VERSION}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || { echo "VERSION must look like v1.2.3, not ${VERSION}" >&2; exit 1; }
IMAGE_REPO="${IMAGE_REPO:-ghcr.io/bland-operator/bland-operator}"
DIST="${DIST:-dist}"
mkdir -p "${DIST}"
DIST="$(cd "${DIST}" && pwd)"

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

echo ">> manifests for ${IMAGE_REPO}:${VERSION}"
cp -r config "${work}/config"
(cd "${work}/config/manager" && "${KUSTOMIZE}" edit set image "controller=${IMAGE_REPO}:${VERSION}")
"${KUSTOMIZE}" build "${work}/config/default" > "${DIST}/install.yaml"
"${KUSTOMIZE}" build "${work}/config/crd" > "${DIST}/crds.yaml"

echo ">> chart"
"${HELM}" package charts/bland-operator --version "${VERSION#v}" --app-version "${VERSION}" --destination "${DIST}" >/dev/null

for arch in amd64 arm64; do
  echo ">> binaries for linux/${arch}"
  for bin in manager blandsim; do
    pkg=./cmd
    [[ "${bin}" == blandsim ]] && pkg=./cmd/blandsim
    CGO_ENABLED=0 GOOS=linux GOARCH="${arch}" go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION}" -o "${DIST}/${bin}-linux-${arch}" "${pkg}"
  done
done

(cd "${DIST}" && sha256sum install.yaml crds.yaml "bland-operator-${VERSION#v}.tgz" manager-linux-* blandsim-linux-* > checksums.txt)
echo ">> ${DIST}:"
ls -l "${DIST}"
