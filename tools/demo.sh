#!/usr/bin/env bash
# The main job, from a fresh Debian machine: set up, build in release, then convert, inspect and
# validate a model. (Until the encoder lands this is the LLaMA-style fixture; then the real MiniLM.)
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
swift build -c release
qkv="$(swift build -c release --show-bin-path)/qkv"
mkdir -p out

model=Fixtures/llama-tiny.h5
echo "== convert $model to .qkv"
"$qkv" convert "$model" out/llama-tiny.qkv
echo
echo "== inspect"
"$qkv" inspect out/llama-tiny.qkv
echo
echo "== validate --deep"
"$qkv" validate --deep out/llama-tiny.qkv
echo
echo "== back to HDF5 as bf16, one compressed chunk per attention head"
"$qkv" convert out/llama-tiny.qkv out/llama-tiny-bf16.h5 --dtype bf16 --compress
echo
echo "== per-head weight norms, layer 0"
"$qkv" inspect out/llama-tiny-bf16.h5 --heads | sed -n '/^heads/,$p' | head -7
