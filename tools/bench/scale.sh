#!/usr/bin/env bash
# A 7B-shaped LLaMA (tools/bench/make_7b_checkpoint.py: random f16, sharded safetensors, 13 GB) through
# qkv at full size: convert to .qkv, to GGUF whole and split, and to q4_k_m; validate --deep; generate a
# few tokens from the f16 .qkv and from the q4_k_m GGUF. Each step's wall time and peak resident memory
# (anonymous and file-backed apart: tools/bench/peak_memory.py), beside `cp` of the same shards. Needs
# about 45 GB free under SCALE_DIR (outputs are removed as soon as the next step no longer needs them).
#   SCALE_DIR=~/.cache/qkv-bench/scale  THREADS=2  STEPS="qkv gguf split q4km" (which conversions to run)
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=${SCALE_DIR:-$HOME/.cache/qkv-bench/scale}
threads=${THREADS:-2}
source_model=$dir/llama-7b
swift build -c release >/dev/null
qkv="$(swift build -c release --show-bin-path)/qkv"
mkdir -p "$dir"
[ -f "$source_model/model.safetensors.index.json" ] || python3 tools/bench/make_7b_checkpoint.py "$source_model"
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $threads threads; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "source: $(du -sh "$source_model" | cut -f1) in $(ls "$source_model"/*.safetensors | wc -l) shards"
step() {   # step NAME COMMAND...: one Markdown row
    local name=$1; shift
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    local result
    result=$(python3 tools/bench/peak_memory.py "$@" 2>&1 >/dev/null | tail -1)
    python3 -c 'import json, sys; r = json.loads(sys.argv[2]); print("| %s | %.1f | %d | %d | %d |" % (sys.argv[1], r["seconds"], r["rss_anon_mib"], r["rss_file_mib"], r["exit"]))' "$name" "$result"
}
echo "| step | seconds | peak anonymous MiB | peak file-backed MiB | exit |"
echo "|---|---|---|---|---|"
steps=" ${STEPS:-qkv gguf split q4km} "
want() { [[ "$steps" == *" $1 "* ]]; }
# The peer: the same bytes copied and made durable, as qkv's writers fsync before they rename.
step "cp + sync of the shards (baseline)" bash -c "cp -r '$source_model' '$dir/copy' && sync"
rm -rf "$dir/copy"
if want qkv || want q4km; then
    step "convert to .qkv (f16)" "$qkv" convert "$source_model" "$dir/llama-7b.qkv" -q
    step "validate --deep .qkv" "$qkv" validate "$dir/llama-7b.qkv" --deep
    step "generate 4 tokens from .qkv (f16)" "$qkv" generate "$dir/llama-7b.qkv" --prompt-ids 1,450,4996,17354 --max-tokens 4 --ignore-eos --ids --threads "$threads"
fi
if want gguf; then
    step "convert to GGUF (f16)" "$qkv" convert "$source_model" "$dir/llama-7b.gguf" --to gguf -q
    rm -f "$dir/llama-7b.gguf"
fi
if want split; then
    mkdir -p "$dir/split"
    step "convert to GGUF split at 4G" "$qkv" convert "$source_model" "$dir/split/llama-7b.gguf" --to gguf --split-max-size 4G -q
    rm -rf "$dir/split"
fi
if want q4km; then
    step "convert .qkv to q4_k_m GGUF" "$qkv" convert "$dir/llama-7b.qkv" "$dir/llama-7b-q4_k_m.gguf" --to gguf --dtype q4_k_m -q
    step "generate 4 tokens from q4_k_m" "$qkv" generate "$dir/llama-7b-q4_k_m.gguf" --prompt-ids 1,450,4996,17354 --max-tokens 4 --ignore-eos --ids --threads "$threads"
fi
rm -f "$dir/llama-7b.qkv" "$dir/llama-7b-q4_k_m.gguf"
