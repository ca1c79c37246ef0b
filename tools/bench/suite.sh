#!/usr/bin/env bash
# Every benchmark in one command, one summary table: the machine and its read bandwidth, conversion
# (tools/bench/convert.sh), sentence embeddings (embed.sh), decoding (decode.sh), each side by side with
# its peer in the same run; then issue 7's targets as ratios, met or by how much missed. The generated
# part of Specs/benchmarks.md (between the `bench:suite` markers) is rewritten with it; nothing there is
# edited by hand. The peers' environments are made first when missing (tools/bench/peers.sh); then llama.cpp
# runs beside qkv on the same GGUF files: the LLaMA-134M shape at every dtype and block type people run
# (quant_types.sh), the real Gemma 3 270M Q4_K_M (gemma3.sh) and concurrent completions (serve.sh).
#   QKV_SCRATCH=dir  build in this scratch path;  RUNS, THREADS, SHAPES, DTYPES go to the benchmarks.
#   NO_WRITE=1       print only, leave Specs/benchmarks.md alone.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash tools/setup.sh >/dev/null
bash tools/bench/peers.sh >&2
scratch=(${QKV_SCRATCH:+--scratch-path "$QKV_SCRATCH"})
swift build -c release "${scratch[@]}" >/dev/null
export QKV_BIN="$(swift build -c release "${scratch[@]}" --show-bin-path)/qkv"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "suite: read bandwidth" >&2
python3 tools/bench/bandwidth.py "${THREADS:-$(nproc)}" > "$out/bandwidth.json"
echo "suite: conversion" >&2
BENCH_JSON="$out/convert.json" bash tools/bench/convert.sh > "$out/convert.md"
echo "suite: embeddings" >&2
BENCH_JSON="$out/embed.json" bash tools/bench/embed.sh > "$out/embed.md"
echo "suite: decoding" >&2
BENCH_JSON="$out/decode.json" bash tools/bench/decode.sh > "$out/decode.md"
echo "suite: llama.cpp beside qkv, per dtype and block type (LLaMA-134M)" >&2
TYPES="${LLAMACPP_TYPES:-f32 f16 bf16 q8_0 q4_0 q4_k_m q5_k_m q6_k}" ROUNDS=${LLAMACPP_ROUNDS:-2} ACTIVATIONS="f32 q8" \
    BENCH_JSON="$out/llamacpp-types.jsonl" bash tools/bench/quant_types.sh > "$out/llamacpp-types.md"
echo "suite: llama.cpp beside qkv, the real Gemma 3 270M Q4_K_M" >&2
ROUNDS=2 ACTIVATIONS="f32 q8" BENCH_JSON="$out/llamacpp-gemma3.jsonl" bash tools/bench/gemma3.sh > "$out/llamacpp-gemma3.md"
echo "suite: concurrent completions, qkv serve beside llama.cpp's server" >&2
REQUESTS=2 bash tools/bench/serve.sh > "$out/serve.md"

python3 tools/bench/summary.py "$out" > "$out/suite.md"
cat "$out/suite.md"
if [ -z "${NO_WRITE:-}" ]; then
    python3 tools/bench/summary.py "$out" --write Specs/benchmarks.md
    echo "suite: Specs/benchmarks.md rewritten between its bench:suite markers" >&2
fi
