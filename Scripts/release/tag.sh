#!/usr/bin/env bash
# Creates the annotated git tag v<version> for the version in BuildInfo.version
# (Sources/TFLA/Support/BuildInfo.swift), the one `from:` dependencies select.
# Refuses when the working tree is dirty, when the tag exists, or when
# CHANGELOG.md has no section for the version ("## <version>", released:
# "(unreleased)" is refused too). Pushing the tag is left to the publisher:
#   git push origin v<version>
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

source_file=Sources/TFLA/Support/BuildInfo.swift
version=$(sed -n 's/^ *public static let version = "\([^"]*\)".*/\1/p' "$source_file")
if [ -z "$version" ]; then
    echo "release-tag: no 'public static let version = \"…\"' in $source_file" >&2
    exit 1
fi
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]]; then
    echo "release-tag: version '$version' in $source_file is not a semantic version" >&2
    exit 1
fi
tag="v$version"

if [ -n "$(git status --porcelain)" ]; then
    echo "release-tag: the working tree has uncommitted changes; commit or stash them first" >&2
    exit 1
fi
if git rev-parse -q --verify "refs/tags/$tag" >/dev/null; then
    echo "release-tag: tag $tag already exists (at $(git rev-parse --short "$tag^{commit}"))" >&2
    exit 1
fi
heading=$(grep -E "^## \[?$(printf '%s' "$version" | sed 's/\./\\./g')\]?( |$)" CHANGELOG.md | head -1 || true)
if [ -z "$heading" ]; then
    echo "release-tag: CHANGELOG.md has no section '## $version'; add one before tagging" >&2
    exit 1
fi
if [[ "$heading" == *unreleased* ]]; then
    echo "release-tag: CHANGELOG.md's section is '$heading'; give it the release date first (## $version - YYYY-MM-DD)" >&2
    exit 1
fi

git tag -a "$tag" -m "TFLA $version"
echo "created tag $tag at $(git rev-parse --short HEAD); publish it with: git push origin $tag"
