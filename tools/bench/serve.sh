#!/usr/bin/env bash
# `qkv serve` under concurrent completions, beside llama.cpp's server on the same GGUF: the LLaMA-134M
# benchmark shape (tools/bench/random_models.py) at f32, with LLaMA's vocabulary so llama.cpp loads it.
# For 1 and CLIENTS concurrent clients, each sending REQUESTS greedy completions of the same 32 prompt ids
# (MAX_TOKENS tokens, end of text ignored by llama.cpp; the random model's greedy text does not end):
# generated tokens/s over the run, p50/p99 latency, errors. qkv serves with --parallel CLIENTS; llama.cpp
# (the xllamacpp wheel, ~/.cache/qkv-llamacpp-venv, in-process) with as many slots. Prints a Markdown table.
# With SOAK=1, then a soak: SOAK_CLIENTS (32) clients for SOAK_SECONDS (600) alternating embeddings (MiniLM) and
# completions against one server holding both, its resident memory read every 5 s (tools/bench/serve_soak.py).
# QKV_BIN runs that qkv instead of this tree's release build (to compare two builds).
#   CLIENTS=8  REQUESTS=4  MAX_TOKENS=64  THREADS=2  DTYPE=f32  QKV_BENCH_MODELS=~/.cache/qkv-bench  QKV_BIN=
set -euo pipefail
cd "$(dirname "$0")/../.."
clients=${CLIENTS:-8}
requests=${REQUESTS:-4}
max_tokens=${MAX_TOKENS:-64}
threads=${THREADS:-2}
dtype=${DTYPE:-f32}
models=${QKV_BENCH_MODELS:-$HOME/.cache/qkv-bench}
peer=~/.cache/qkv-llamacpp-venv/bin/python
vocab=../shared/data/ggml-vocab-llama-spm.gguf
[ -f "$vocab" ] || { echo "serve.sh: $vocab is missing" >&2; exit 2; }
[ -d "$models/llama-134m" ] || { echo "serve.sh: $models/llama-134m is missing; run tools/bench/random_models.py $models with the reference venv" >&2; exit 2; }
if [ -n "${QKV_BIN:-}" ]; then
    qkv=$QKV_BIN
else
    swift build -c release >/dev/null
    qkv="$(swift build -c release --show-bin-path)/qkv"
fi
mkdir -p "$models/quant"
file=$models/quant/llama-134m-$dtype.gguf
if [ ! -f "$file" ]; then
    "$qkv" convert "$models/llama-134m" "$file.bare" --to gguf --dtype "$dtype" -q
    python3 tools/bench/gguf_with_vocab.py "$file.bare" "$vocab" "$file" && rm "$file.bare"
fi
ids=$(python3 -c 'import random; r = random.Random(11); print(",".join(str(r.randrange(3, 32000)) for _ in range(32)))')
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $threads threads; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| server | clients | requests | errors | generated tok/s | p50 s | p99 s |"
echo "|---|---|---|---|---|---|---|"
row() { python3 -c 'import json, sys; r = json.loads(sys.argv[2]); print("| %s | %d | %d | %d | %.1f | %.2f | %.2f |" % (sys.argv[1], r["clients"], r["requests"], r["errors"], r["tok_s"], r["p50_s"], r["p99_s"]))' "$@"; }
log=$(mktemp)
"$qkv" serve "$file" --port 0 --threads "$threads" --parallel "$clients" >"$log" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 600); do grep -q " on http://" "$log" && break; sleep 0.1; done
url=$(sed -n 's/.* on //p' "$log" | head -1)
until curl -sf "$url/health" >/dev/null; do sleep 0.1; done
name=$(basename "$file" .gguf)
for n in 1 "$clients"; do
    row qkv "$(python3 tools/bench/serve_load.py qkv "$url" "$name" "$n" "$requests" "$ids" "$max_tokens")"
    if [ -x "$peer" ]; then
        row llama.cpp "$("$peer" tools/bench/serve_load.py llamacpp "$file" "$threads" "$n" "$requests" "$ids" "$max_tokens" 2>/dev/null)"
    fi
done

if [ -n "${SOAK:-}" ]; then
    kill $server 2>/dev/null; wait $server 2>/dev/null || true
    minilm=$(bash tools/fetch-models.sh | sed -n 1p)
    "$qkv" serve "minilm=$minilm" "$file" --port 0 --threads "$threads" --parallel "$clients" >"$log" 2>/dev/null &
    server=$!
    for _ in $(seq 600); do grep -q " on http://" "$log" && break; sleep 0.1; done
    url=$(sed -n 's/.* on //p' "$log" | head -1)
    until curl -sf "$url/health" >/dev/null; do sleep 0.1; done
    echo
    echo "soak: $(python3 tools/bench/serve_soak.py "$url" "$server" "${SOAK_CLIENTS:-32}" "${SOAK_SECONDS:-600}" minilm "$name")"
fi
