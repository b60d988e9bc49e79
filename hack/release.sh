#!/usr/bin/env bash
# make release VERSION=vX.Y.Z: every artefact of a release, in $DIST (dist/).
#   install.yaml  CRDs, RBAC and the Deployment, image tagged VERSION
#   crds.yaml     the CRDs alone, for teams that manage them separately
#   bland-operator-X.Y.Z.tgz  the Helm chart, version and appVersion stamped
#   manager-linux-{amd64,arm64}, blandsim-linux-{amd64,arm64}  static binaries
#   kubectl-bland-{linux,darwin}-{amd64,arm64}.tar.gz  the kubectl plugin, its
#                 completion shim (kubectl_complete-bland) and the LICENSE
#   bland.yaml    the plugin's krew manifest, with the archives' checksums
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

# The kubectl plugin, as krew installs it: one archive per platform holding
# the binary, reproducible (fixed times and owners), and a manifest.
platforms=""
for os in linux darwin; do
  for arch in amd64 arm64; do
    echo ">> kubectl-bland for ${os}/${arch}"
    dir="${work}/plugin-${os}-${arch}"
    mkdir -p "${dir}"
    CGO_ENABLED=0 GOOS="${os}" GOARCH="${arch}" go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o "${dir}/kubectl-bland" ./cmd/kubectl-bland
    cp LICENSE "${dir}/LICENSE"
    cp hack/kubectl_complete-bland "${dir}/kubectl_complete-bland"
    archive="kubectl-bland-${os}-${arch}.tar.gz"
    tar -C "${dir}" --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - kubectl-bland kubectl_complete-bland LICENSE | gzip -n > "${DIST}/${archive}"
    sum="$(sha256sum "${DIST}/${archive}" | cut -d' ' -f1)"
    platforms+="  - selector:
      matchLabels: {os: ${os}, arch: ${arch}}
    uri: https://github.com/bland-operator/bland-operator/releases/download/${VERSION}/${archive}
    sha256: ${sum}
    files:
    - {from: kubectl-bland, to: .}
    - {from: kubectl_complete-bland, to: .}
    - {from: LICENSE, to: .}
    bin: kubectl-bland
"
  done
done
cat > "${DIST}/bland.yaml" <<KREW
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: bland
spec:
  version: ${VERSION}
  homepage: https://github.com/bland-operator/bland-operator
  shortDescription: Preview and steer bland-operator's PersonaBindings
  description: |
    kubectl bland plan shows what applying PersonaBindings would do to Bland
    phone numbers before it happens: attaches, detaches, numbers moved between
    bindings, detach limits and conflicts. reconcile, approve, suspend, resume
    and status act on one binding, as flux and cmctl do.
  platforms:
${platforms%$'\n'}
KREW

(cd "${DIST}" && sha256sum install.yaml crds.yaml "bland-operator-${VERSION#v}.tgz" manager-linux-* blandsim-linux-* kubectl-bland-*.tar.gz bland.yaml > checksums.txt)
echo ">> ${DIST}:"
ls -l "${DIST}"
