#!/usr/bin/env bash
# make bump VERSION=vX.Y.Z: move the version everywhere it is written.
#   Makefile                           VERSION ?= vX.Y.Z (the one place; IMG,
#                                      make build, docker-build and release
#                                      read it)
#   config/manager/kustomization.yaml  the image's newTag: vX.Y.Z
#   charts/bland-operator/Chart.yaml   version: X.Y.Z, appVersion: vX.Y.Z
#   CHANGELOG.md                       the entries under [Unreleased] move under
#                                      a new heading "## [X.Y.Z] - unreleased",
#                                      and an empty [Unreleased] opens above it
# Nothing is dated and nothing is tagged: before tagging, replace "unreleased"
# in the heading with the day of the release (the release workflow checks).
# hack/verify-version.sh then checks that the places agree.
#
# ROOT (default: the checkout this script is in) is the tree to change.
set -euo pipefail

new="${1:-}"
if [[ ! "${new}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "usage: make bump VERSION=vX.Y.Z (got '${new}')" >&2
  exit 1
fi
ROOT="${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "${ROOT}"

old="$(sed -n 's/^VERSION ?= *//p' Makefile)"
[[ -n "${old}" ]] || { echo "Makefile: no 'VERSION ?= ...' line to move" >&2; exit 1; }

# edit FILE SED-SCRIPT: rewrite FILE in place (portable: no sed -i).
edit() {
  local tmp
  tmp="$(mktemp)"
  sed -e "$2" "$1" > "${tmp}"
  cat "${tmp}" > "$1"
  rm -f "${tmp}"
}

edit Makefile "s/^VERSION ?= .*/VERSION ?= ${new}/"
edit config/manager/kustomization.yaml "s/^\( *newTag:\).*/\1 ${new}/"
edit charts/bland-operator/Chart.yaml "s/^version:.*/version: ${new#v}/; s/^appVersion:.*/appVersion: ${new}/"

if grep -qF "## [${new#v}]" CHANGELOG.md; then
  echo "CHANGELOG.md already has a heading for ${new#v}; left as it is"
elif grep -qx '## \[Unreleased\]' CHANGELOG.md; then
  edit CHANGELOG.md "s/^## \[Unreleased\]\$/## [Unreleased]\\
\\
## [${new#v}] - unreleased/"
else
  echo "CHANGELOG.md has no '## [Unreleased]' heading to turn into ${new#v}; add the heading '## [${new#v}] - unreleased' by hand" >&2
  exit 1
fi

echo "version ${old} -> ${new}: Makefile, config/manager/kustomization.yaml, charts/bland-operator/Chart.yaml, CHANGELOG.md"
