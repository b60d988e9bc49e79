#!/usr/bin/env bash
# make verify-version: the version is written in one place, VERSION in the
# Makefile; every other place that names it must agree:
#   Makefile                             IMG's default tag is $(VERSION)
#   config/manager/kustomization.yaml    the image's newTag is VERSION
#   charts/bland-operator/Chart.yaml     version is VERSION without the v,
#                                        appVersion is VERSION
#   CHANGELOG.md                         has a heading for the version
# With RELEASE_TAG (the release workflow sets it to the pushed tag), the tag
# must be VERSION, and the CHANGELOG heading must carry the release's date.
# `make bump VERSION=vX.Y.Z` moves every place at once.
#
# ROOT (default: the checkout this script is in) is the tree to check.
set -euo pipefail

ROOT="${ROOT:-$(cd "$(dirname "$0")/.." && pwd)}"
cd "${ROOT}"

version="$(sed -n 's/^VERSION ?= *//p' Makefile)"
if [[ -z "${version}" ]]; then
  echo "Makefile: no 'VERSION ?= vX.Y.Z' line, the one place the version is written" >&2
  exit 1
fi
if [[ ! "${version}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  echo "Makefile: VERSION is '${version}', which does not look like v1.2.3" >&2
  exit 1
fi

failed=0
# drift FILE WHAT FOUND WANT: report one place that disagrees.
drift() {
  echo "$1: $2 is '$3', but the Makefile's VERSION says '$4' (make bump VERSION=${version} moves every place)" >&2
  failed=1
}

img="$(sed -n 's/^IMG ?= *//p' Makefile)"
# shellcheck disable=SC2016 # the Makefile's own $(VERSION), literally
if [[ "${img}" != *':$(VERSION)' && "${img}" != *":${version}" ]]; then
  drift Makefile "IMG's default" "${img}" "<image>:\$(VERSION)"
fi

tag="$(sed -n 's/^ *newTag: *//p' config/manager/kustomization.yaml)"
[[ "${tag}" == "${version}" ]] || drift config/manager/kustomization.yaml "the image's newTag" "${tag}" "${version}"

chart_version="$(sed -n 's/^version: *//p' charts/bland-operator/Chart.yaml)"
[[ "${chart_version}" == "${version#v}" ]] || drift charts/bland-operator/Chart.yaml "version" "${chart_version}" "${version#v}"
app_version="$(sed -n 's/^appVersion: *//p' charts/bland-operator/Chart.yaml | tr -d '"')"
[[ "${app_version}" == "${version}" ]] || drift charts/bland-operator/Chart.yaml "appVersion" "${app_version}" "${version}"

heading="$(grep -m1 -F "## [${version#v}]" CHANGELOG.md || true)"
if [[ -z "${heading}" ]]; then
  latest="$(grep -m1 -E '^## \[[0-9]' CHANGELOG.md || true)"
  drift CHANGELOG.md "the newest version heading" "${latest:-none}" "## [${version#v}]"
fi

if [[ -n "${RELEASE_TAG:-}" ]]; then
  if [[ "${RELEASE_TAG}" != "${version}" ]]; then
    echo "the tag is '${RELEASE_TAG}', but the Makefile's VERSION says '${version}': tag the commit that ran make bump VERSION=${RELEASE_TAG}" >&2
    failed=1
  elif [[ -n "${heading}" && ! "${heading}" =~ ^'## ['[^]]+'] - '[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]; then
    echo "CHANGELOG.md: the heading of ${RELEASE_TAG} is '${heading}'; give it the release's date (## [${version#v}] - YYYY-MM-DD) in the tagged commit" >&2
    failed=1
  fi
fi

if ((failed)); then
  exit 1
fi
echo "version ${version}: Makefile, config/manager/kustomization.yaml, charts/bland-operator/Chart.yaml and CHANGELOG.md agree${RELEASE_TAG:+, and so does the tag}"
