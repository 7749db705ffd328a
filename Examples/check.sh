#!/usr/bin/env bash
# Builds and runs Examples/QuickStart as a user would: depending on vaecodec by version. A bare clone of this
# checkout's HEAD, tagged with the version in Package.swift's example (0.2.0), stands in for the published
# repository, so the example tests the code that ships. Fails unless the example compresses, decompresses and
# denoises the fixture face.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
git clone -q --bare "$root" "$work/vaecodec.git"
# Only this tag, so `from: "0.2.0"` cannot resolve to a later release than the code under test.
git -C "$work/vaecodec.git" tag -l | xargs -r git -C "$work/vaecodec.git" tag -d >/dev/null
git -C "$work/vaecodec.git" tag 0.2.0 HEAD
cp -R "$root/Examples/QuickStart" "$work/QuickStart"
cd "$work/QuickStart"
export VAECODEC_URL="$work/vaecodec.git"
out="$(swift run -q QuickStart "$root/Fixtures/images/face-lfw-64.png")"
echo "$out"
[[ "$out" == *"bytes by faces"*"decoded 64x64"* ]] && [ -s face.decoded.png ]
