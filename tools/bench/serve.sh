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
# MODE=embeddings instead: EMBED_CLIENTS (32) clients for EMBED_SECONDS (60) each posting /v1/embeddings of
# EMBED_INPUTS (1) sentences of the benchmark corpus (tools/bench/corpus.py), kept-alive connections, against
# `qkv serve` on the real all-MiniLM-L6-v2 (.qkv, --max-batch MAX_BATCH, 64) and then against
# sentence-transformers behind a plain batching loop (tools/bench/embed_serve_peer.py in the reference venv,
# $QKV_REF_PYTHON: batches of up to MAX_BATCH texts or what arrives within PEER_WAIT_MS, 2, of the first;
# torch.set_num_threads(THREADS)): sentences/s, p50/p99 latency, errors (tools/bench/serve_embed_load.py),
# and the smallest cosine between the two servers' vectors of the first 64 sentences.
set -euo pipefail
cd "$(dirname "$0")/../.."
clients=${CLIENTS:-8}
requests=${REQUESTS:-4}
max_tokens=${MAX_TOKENS:-64}
threads=${THREADS:-2}
dtype=${DTYPE:-f32}
models=${QKV_BENCH_MODELS:-$HOME/.cache/qkv-bench}
peer=~/.cache/qkv-llamacpp-venv/bin/python
if [ -n "${QKV_BIN:-}" ]; then
    qkv=$QKV_BIN
else
    swift build -c release >/dev/null
    qkv="$(swift build -c release --show-bin-path)/qkv"
fi
# Starts `qkv serve ARGS` on a free port in the background: sets server (its pid) and url once /health answers.
start_qkv() {
    "$qkv" serve "$@" --port 0 --threads "$threads" >"$log" 2>/dev/null &
    server=$!
    for _ in $(seq 600); do grep -q " on http://" "$log" && break; sleep 0.1; done
    url=$(sed -n 's/.* on //p' "$log" | head -1)
    until curl -sf "$url/health" >/dev/null; do sleep 0.1; done
}
log=$(mktemp)
server=
trap 'kill $server 2>/dev/null; rm -f "$log"' EXIT

if [ "${MODE:-}" = embeddings ]; then
    ref=${QKV_REF_PYTHON:-$HOME/.cache/qkv-ref-venv/bin/python}
    [ -x "$ref" ] || { echo "serve.sh: no reference python at $ref (see tools/make_references.py)" >&2; exit 2; }
    clients=${EMBED_CLIENTS:-32} seconds=${EMBED_SECONDS:-60} inputs=${EMBED_INPUTS:-1} max_batch=${MAX_BATCH:-64}
    work=$(mktemp -d)
    trap 'kill $server 2>/dev/null; rm -f "$log"; rm -rf "$work"' EXIT
    folder=$(bash tools/fetch-models.sh | sed -n 1p)
    python3 tools/bench/corpus.py "$work/corpus.txt" 1200 >/dev/null
    "$qkv" convert "$folder" "$work/minilm.qkv" -q
    echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; $threads threads; load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "all-MiniLM-L6-v2, $clients clients for ${seconds} s, $inputs sentence(s) a request, batches of up to $max_batch"
    echo "| server | requests | sentences | errors | sentences/s | p50 s | p99 s | texts per batch |"
    echo "|---|---|---|---|---|---|---|---|"
    row() { python3 -c 'import json, sys; r = json.loads(sys.argv[2]); print("| %s | %d | %d | %d | %.1f | %.3f | %.3f | %.1f |" % (sys.argv[1], r["requests"], r["sentences"], r["errors"], r["sentences_s"], r["p50_s"], r["p99_s"], float(sys.argv[3])))' "$@"; }
    start_qkv "minilm=$work/minilm.qkv" --max-batch "$max_batch"
    result=$(python3 tools/bench/serve_embed_load.py "$url" minilm "$work/corpus.txt" "$clients" "$seconds" "$inputs")
    # Texts per batch over the run (warm-up included), from the batch size histogram's sum and count.
    per_batch=$(curl -sf "$url/metrics" | awk '/^qkv_batch_size_sum\{.*minilm/ {s = $2} /^qkv_batch_size_count\{.*minilm/ {c = $2} END {printf "%.2f", c ? s / c : 0}')
    row "qkv serve" "$result" "$per_batch"
    python3 tools/bench/serve_embed_load.py --vectors "$url" minilm "$work/corpus.txt" 64 "$work/qkv.npy"
    kill $server; wait $server 2>/dev/null || true
    "$ref" tools/bench/embed_serve_peer.py "$folder" "$threads" "$max_batch" "${PEER_WAIT_MS:-2}" >"$log" 2>"$work/peer.log" &
    server=$!
    for _ in $(seq 1200); do grep -q "listening on" "$log" && break; sleep 0.1; done
    url=$(sed -n 's/listening on //p' "$log" | head -1)
    [ -n "$url" ] || { tail -5 "$work/peer.log" >&2; exit 1; }
    result=$(python3 tools/bench/serve_embed_load.py "$url" minilm "$work/corpus.txt" "$clients" "$seconds" "$inputs")
    stats=$(curl -sf "$url/stats")
    per_batch=$(python3 -c 'import json, sys; s = json.loads(sys.argv[1]); print(s["texts"] / max(s["batches"], 1))' "$stats")
    row "sentence-transformers, batching loop" "$result" "$per_batch"
    python3 -c 'import json, sys; s, r = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("peer: %.1f s of the %.1f s run in model.encode, %.1f sentences/s while in it" % (s["encode_seconds"], r["seconds"], s["texts"] / max(s["encode_seconds"], 1e-9)))' "$stats" "$result"
    python3 tools/bench/serve_embed_load.py --vectors "$url" minilm "$work/corpus.txt" 64 "$work/peer.npy"
    python3 -c 'import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
print("vectors of the first %d sentences, qkv against the peer: smallest cosine %.7f%s" % (len(c), c.min(), "" if c.min() >= 0.9999 else " (BELOW 0.9999)"))
sys.exit(0 if c.min() >= 0.9999 else 1)' "$work/qkv.npy" "$work/peer.npy"
    exit
fi

vocab=../shared/data/ggml-vocab-llama-spm.gguf
[ -f "$vocab" ] || { echo "serve.sh: $vocab is missing" >&2; exit 2; }
[ -d "$models/llama-134m" ] || { echo "serve.sh: $models/llama-134m is missing; run tools/bench/random_models.py $models with the reference venv" >&2; exit 2; }
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
start_qkv "$file" --parallel "$clients"
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
    start_qkv "minilm=$minilm" "$file" --parallel "$clients"
    echo
    echo "soak: $(python3 tools/bench/serve_soak.py "$url" "$server" "${SOAK_CLIENTS:-32}" "${SOAK_SECONDS:-600}" minilm "$name")"
fi
