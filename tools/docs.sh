#!/usr/bin/env bash
# Builds the DocC documentation of every library module (Sources/<Module>/<Module>.docc: a landing page
# and articles, with the doc comments of the public API) through swift-docc-plugin, in one invocation, one
# archive per module: .build-docs/<Module>.doccarchive (outside git). Fails on any DocC warning: an
# unresolved symbol link, a parameter documented that does not exist or left out of a `- Parameters:` list.
#   tools/docs.sh [Module ...]     default: every library module
# Read an archive with `docc preview`, or serve its folder: `python3 -m http.server -d .build-docs/QKVFormat.doccarchive`,
# then http://localhost:8000/documentation/qkvformat.
set -euo pipefail
cd "$(dirname "$0")/.."

modules=("$@")
[ ${#modules[@]} -gt 0 ] || modules=(QKVSchema QKVFormat QKVTokenizers QKVInference QKVTemplates QKVServer QKVVisualize)
out=.build-docs
targets=()
for module in "${modules[@]}"; do
    rm -rf "${out:?}/$module.doccarchive"
    targets+=(--target "$module")
done
mkdir -p "$out"
swift package --allow-writing-to-directory "$out" generate-documentation "${targets[@]}" --output-path "$out" --warnings-as-errors
echo "docs: ${modules[*]} in $out/"
