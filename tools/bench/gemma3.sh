#!/usr/bin/env bash
# The real Gemma 3 270M Q4_K_M: qkv (release, from the mapping) against llama.cpp (the xllamacpp wheel,
# ~/.cache/qkv-llamacpp-venv, and llama-bench of the build for this CPU where tools/bench/peers.sh made one:
# the better of the two per figure, its build named) on the same file, 256 prompt tokens and 2 threads, in
# alternation: prompt tok/s and decode tok/s (64 tokens, after the prompt). Prints a table for Specs/benchmarks.md with the CPU model.
# ACTIVATIONS="f32 q8" runs qkv once per `--activations` mode in each round, a row per mode. BENCH_JSON=file
# appends a JSON line per row (tools/bench/summary.py reads them).
#   ROUNDS=3  ACTIVATIONS=f32
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${ROUNDS:-3}
activations=${ACTIVATIONS:-f32}
swift build -c release >/dev/null
qkv="$(swift build -c release --show-bin-path)/qkv"
gemma=$(bash tools/fetch-models.sh | sed -n 3p)
peer=~/.cache/qkv-llamacpp-venv/bin/python
[ -x "$peer" ] || { echo "gemma3.sh: no llama.cpp venv; python3 -m venv ~/.cache/qkv-llamacpp-venv && ~/.cache/qkv-llamacpp-venv/bin/pip install xllamacpp numpy" >&2; exit 2; }
# 256 prompt ids: BOS, then the tokens of Fixtures/reference/gemma3's long prompt.
# Bytes read per decoded token: every tensor but the token embedding, of which one row is read (but for the
# tied output head, which reads all of it: counted once as the head).
weights=$(python3 -c 'import sys, gguf; r = gguf.GGUFReader(sys.argv[1]); print(sum(t.n_bytes for t in r.tensors))' "$gemma")
ids=$(python3 -c 'import json; c=json.load(open("Fixtures/reference/gemma3/cases.json")); l=[x for x in c["cases"] if x["name"]=="long"][0]; print(",".join(map(str, l["prompt_ids"][:256])))')
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx512f|avx512_vnni|avx512_bf16|avx2' | sort -u | tr '\n' ' ')"
native=$HOME/.cache/qkv-llamacpp-build/bin/llama-bench
[ -x "$native" ] || native=""
echo "| round | activations | qkv prompt tok/s | llama.cpp prompt tok/s | qkv decode tok/s | llama.cpp decode tok/s | decode ratio |"
echo "|---|---|---|---|---|---|---|"
for round in $(seq "$rounds"); do
    declare -A qp qd
    for mode in $activations; do
        line=$("$qkv" generate "$gemma" --prompt-ids "$ids" --max-tokens 64 --ignore-eos --ids --threads 2 --activations "$mode" 2>&1 >/dev/null | tail -1)
        qp[$mode]=$(echo "$line" | sed -E 's/.*prompt [0-9]+ tokens in [0-9.]+ s \(([0-9.]+) tok\/s\).*/\1/')
        qd[$mode]=$(echo "$line" | sed -E 's/.*generated [0-9]+ tokens in [0-9.]+ s \(([0-9.]+) tok\/s.*/\1/')
    done
    peer_json=$("$peer" tools/bench/gemma3_llamacpp.py "$gemma" 2 "$ids" 64 2>/dev/null | tail -1)
    lp=$(echo "$peer_json" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["prompt_tok_s"])')
    ld=$(echo "$peer_json" | python3 -c 'import json,sys; print("%.1f" % json.load(sys.stdin)["decode_tok_s"])')
    lpb=wheel; ldb=wheel
    if [ -n "$native" ]; then
        rate='import json,sys; print("%.1f" % max(r["avg_ts"] for r in json.load(sys.stdin)))'
        np=$("$native" -m "$gemma" -p 256 -n 0 -t 2 -r 2 -o json 2>/dev/null | python3 -c "$rate")
        nd=$("$native" -m "$gemma" -p 0 -n 64 -d 256 -t 2 -r 2 -o json 2>/dev/null | python3 -c "$rate")
        if python3 -c "import sys; sys.exit(0 if $np > $lp else 1)"; then lp=$np; lpb=native; fi
        if python3 -c "import sys; sys.exit(0 if $nd > $ld else 1)"; then ld=$nd; ldb=native; fi
    fi
    for mode in $activations; do
        echo "| $round | $mode | ${qp[$mode]} | $lp ($lpb) | ${qd[$mode]} | $ld ($ldb) | $(python3 -c "print('%.2f' % (${qd[$mode]} / $ld))") |"
        if [ -n "${BENCH_JSON:-}" ]; then
            echo "{\"model\": \"gemma3-270m\", \"type\": \"q4_k_m\", \"activations\": \"$mode\", \"round\": $round, \"qkv_prompt\": ${qp[$mode]}, \"peer_prompt\": $lp, \"qkv_decode\": ${qd[$mode]}, \"peer_decode\": $ld, \"weight_bytes\": $weights}" >> "$BENCH_JSON"
        fi
    done
done
