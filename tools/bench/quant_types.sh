#!/usr/bin/env bash
# Block types side by side with llama.cpp: the LLaMA-134M benchmark shape (tools/bench/random_models.py)
# quantized by `qkv convert --dtype T` (bit-identical to llama.cpp's llama-quantize on the same f32) to a
# GGUF per type; qkv (release, from the mapping) and llama.cpp (the xllamacpp wheel,
# ~/.cache/qkv-llamacpp-venv, and llama-bench of the build for this CPU where there is one) run the same
# file with 256 prompt tokens, 64 decoded tokens and 2 threads, in alternation. Prints a Markdown table with the CPU model: prompt and decode tok/s, the
# ratio, and the GB/s of weights qkv reads per decoded token (every matrix once, the token embedding's
# one row aside). ACTIVATIONS="f32 q8" runs qkv once per mode in each round (`--activations q8`:
# 8-bit activations for the block types; a bf16 file then runs `--activations bf16` beside f32) beside one
# llama.cpp run, a row per mode. BENCH_JSON=file appends a JSON line per row
# (tools/bench/summary.py reads them).
#   TYPES="q4_0 q4_k q5_k q6_k q8_0"  ROUNDS=2  THREADS=2  ACTIVATIONS=f32  QKV_BENCH_MODELS=~/.cache/qkv-bench
set -euo pipefail
cd "$(dirname "$0")/../.."
types=${TYPES:-q4_0 q4_k q5_k q6_k q8_0}
rounds=${ROUNDS:-2}
threads=${THREADS:-2}
activations=${ACTIVATIONS:-f32}
models=${QKV_BENCH_MODELS:-$HOME/.cache/qkv-bench}
source_model=$models/llama-134m
peer=~/.cache/qkv-llamacpp-venv/bin/python
# llama.cpp loads no GGUF without a vocabulary; llama-134m has none, so its GGUFs get LLaMA's 32,000-token
# one (tools/bench/gguf_with_vocab.py). Both programs are fed the same ids.
vocab=../shared/data/ggml-vocab-llama-spm.gguf
[ -f "$vocab" ] || { echo "quant_types.sh: $vocab is missing" >&2; exit 2; }
[ -d "$source_model" ] || { echo "quant_types.sh: $source_model is missing; run tools/bench/random_models.py $models with the reference venv" >&2; exit 2; }
[ -x "$peer" ] || { echo "quant_types.sh: no llama.cpp venv; python3 -m venv ~/.cache/qkv-llamacpp-venv && ~/.cache/qkv-llamacpp-venv/bin/pip install xllamacpp numpy" >&2; exit 2; }
swift build -c release >/dev/null
qkv="$(swift build -c release --show-bin-path)/qkv"
mkdir -p "$models/quant"
ids=$(python3 -c 'import random; r = random.Random(7); print(",".join(str(r.randrange(3, 32000)) for _ in range(256)))')
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; flags: $(grep -m1 '^flags' /proc/cpuinfo | grep -o -w -E 'avx512f|avx512_vnni|avx512_bf16|avx2' | sort -u | tr '\n' ' '); $threads threads"
# llama.cpp built for this CPU (tools/bench/peers.sh with BUILD_LLAMACPP=1): its llama-bench times the same
# file's 256-token prompt and 64 tokens decoded after 256 (-d), in C++; each llama.cpp figure is then the
# better of the two builds, named in brackets (wheel: xllamacpp's AVX2 build; native: this CPU's).
native=$HOME/.cache/qkv-llamacpp-build/bin/llama-bench
[ -x "$native" ] || { native=""; echo "quant_types.sh: no llama.cpp build for this CPU ($HOME/.cache/qkv-llamacpp-build; BUILD_LLAMACPP=1 tools/bench/peers.sh makes it): the wheel alone" >&2; }
echo "| activations | type | file | round | qkv prompt tok/s | llama.cpp prompt tok/s | ratio | qkv decode tok/s | llama.cpp decode tok/s | ratio | qkv weights GB/s |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
declare -A qp qd   # per activation mode
for type in $types; do
    file=$models/quant/llama-134m-$type.gguf
    if [ ! -f "$file" ]; then
        "$qkv" convert "$source_model" "$file.bare" --to gguf --dtype "$type" -q
        python3 tools/bench/gguf_with_vocab.py "$file.bare" "$vocab" "$file" && rm "$file.bare"
    fi
    # Bytes read per decoded token: the file's tensors but the token embedding (one row of it is read).
    weights=$(python3 -c 'import sys, gguf; r = gguf.GGUFReader(sys.argv[1]); print(sum(t.n_bytes for t in r.tensors if t.name != "token_embd.weight"))' "$file")
    # 8-bit activations change only block-quantized products, bf16 ones only bf16 prompts: a bf16 file runs
    # f32 and bf16 activations when any reduced mode is asked for.
    modes=$activations
    case $type in
        f32|f16) modes=f32 ;;
        bf16) [ "$activations" = f32 ] && modes=f32 || modes="f32 bf16" ;;
    esac
    for round in $(seq "$rounds"); do
        for mode in $modes; do
            line=$("$qkv" generate "$file" --prompt-ids "$ids" --max-tokens 64 --ignore-eos --ids --threads "$threads" \
                --activations "$mode" 2>&1 >/dev/null | tail -1)
            qp[$mode]=$(echo "$line" | sed -E 's/.*prompt [0-9]+ tokens in [0-9.]+ s \(([0-9.]+) tok\/s\).*/\1/')
            qd[$mode]=$(echo "$line" | sed -E 's/.*generated [0-9]+ tokens in [0-9.]+ s \(([0-9.]+) tok\/s.*/\1/')
        done
        peer_json=$("$peer" tools/bench/gemma3_llamacpp.py "$file" "$threads" "$ids" 64 2>"$models/quant/llamacpp.log" | tail -1) ||
            { grep -v '^#[0-9]' "$models/quant/llamacpp.log" | grep -m5 -i -E 'error|unsupported|abort|failed' >&2
              echo "quant_types.sh: llama.cpp failed on $file (log: $models/quant/llamacpp.log)" >&2; exit 1; }
        read -r lp ld < <(echo "$peer_json" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("%.1f %.1f" % (j["prompt_tok_s"], j["decode_tok_s"]))')
        np=0; nd=0
        if [ -n "$native" ]; then
            rate='import json,sys; print("%.1f" % max(r["avg_ts"] for r in json.load(sys.stdin)))'
            np=$("$native" -m "$file" -p 256 -n 0 -t "$threads" -r 2 -o json 2>/dev/null | python3 -c "$rate")
            nd=$("$native" -m "$file" -p 0 -n 64 -d 256 -t "$threads" -r 2 -o json 2>/dev/null | python3 -c "$rate")
        fi
        for mode in $modes; do
            python3 - "$mode" "$type" "$(du -m "$file" | cut -f1)" "$round" "${qp[$mode]}" "$lp" "${qd[$mode]}" "$ld" "$weights" "$np" "$nd" <<'EOF'
import json, os, sys
a, t, mb, r, qp, lp, qd, ld, w, np_, nd = sys.argv[1:]
qp, lp, qd, ld, w, np_, nd = map(float, (qp, lp, qd, ld, w, np_, nd))
pb, db = ("native", np_) if np_ > lp else ("wheel", lp), ("native", nd) if nd > ld else ("wheel", ld)
print("| %s | %s | %s MB | %s | %.1f | %.1f (%s) | %.2f | %.1f | %.1f (%s) | %.2f | %.1f |"
      % (a, t, mb, r, qp, pb[1], pb[0], qp / pb[1], qd, db[1], db[0], qd / db[1], w * qd / 1e9))
if os.environ.get("BENCH_JSON"):
    with open(os.environ["BENCH_JSON"], "a") as f:
        f.write(json.dumps({"model": "llama-134m", "type": t, "activations": a, "round": int(r), "qkv_prompt": qp, "peer_prompt": pb[1],
                            "peer_prompt_build": pb[0], "qkv_decode": qd, "peer_decode": db[1], "peer_decode_build": db[0],
                            "weight_bytes": w}) + "\n")
EOF
        done
    done
done
