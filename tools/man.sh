#!/usr/bin/env bash
# Writes qkv's man page, qkv.1 (every subcommand on one page), into DIR (default: the current directory).
# It is generated from the same help texts as `qkv --help` by swift-argument-parser's generate-manual
# plugin, which builds qkv in release mode first (a few minutes the first time).
#   bash tools/man.sh [DIR]
set -euo pipefail
dir=$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)
cd "$(dirname "$0")/.."
swift package plugin generate-manual >/dev/null
cp .build/plugins/GenerateManual/outputs/qkv/qkv.1 "$dir/qkv.1"
echo "$dir/qkv.1"
