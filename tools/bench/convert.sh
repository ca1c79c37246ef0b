#!/usr/bin/env bash
# Conversion benchmark: the real MiniLM (tools/fetch-models.sh) from its Hugging Face folder to .qkv,
# .h5 and back to .safetensors, next to a plain `cp` of the same weights, in one run on one machine.
# Release build; wall time and peak RSS (GNU time) are the median of RUNS runs (default 5), with the
# page cache warm (every input is read once first). Prints a Markdown table for Specs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${RUNS:-5}
bash tools/setup.sh >/dev/null
if [ -n "${QKV_BIN:-}" ]; then   # a release qkv built already (tools/bench/suite.sh)
    qkv=$QKV_BIN
else
    swift build -c release >/dev/null
    qkv="$(swift build -c release --show-bin-path)/qkv"
fi
model=$(bash tools/fetch-models.sh | sed -n 1p)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

measure() {  # measure LABEL COMMAND... -> "LABEL|median seconds|median peak KiB"
    local label=$1; shift
    local times=() rss=()
    for _ in $(seq "$runs"); do
        rm -rf "$work/out"; mkdir -p "$work/out"
        # Wall time to the nanosecond (GNU time's %e has only 10 ms), peak RSS from GNU time.
        local start end
        start=$(date +%s%N)
        /usr/bin/time -f "%M" -o "$work/time" "$@" >/dev/null
        end=$(date +%s%N)
        t=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
        read -r m < "$work/time"
        times+=("$t"); rss+=("$m")
    done
    local mt mr
    mt=$(printf '%s\n' "${times[@]}" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
    mr=$(printf '%s\n' "${rss[@]}" | sort -g | sed -n "$(( (runs + 1) / 2 ))p")
    echo "$label|$mt|$mr"
}

cat "$model/model.safetensors" > /dev/null
"$qkv" convert "$model" "$work/keep.qkv" -q
"$qkv" convert "$work/keep.qkv" "$work/keep.h5" -q

size=$(stat -c %s "$model/model.safetensors")
rows=(
    "$(measure "cp model.safetensors (peer)" cp "$model/model.safetensors" "$work/out/copy.bin")"
    "$(measure "copy + fsync (durable peer)" dd if="$model/model.safetensors" of="$work/out/copy.bin" bs=8M conv=fsync status=none)"
    "$(measure "convert HF folder -> .qkv" "$qkv" convert "$model" "$work/out/a.qkv" -q)"
    "$(measure "convert .qkv -> .safetensors" "$qkv" convert "$work/keep.qkv" "$work/out/b.safetensors" -q)"
    "$(measure "convert .qkv -> .h5" "$qkv" convert "$work/keep.qkv" "$work/out/c.h5" -q)"
    "$(measure "convert .h5 -> .qkv" "$qkv" convert "$work/keep.h5" "$work/out/d.qkv" -q)"
    "$(measure "validate --deep .qkv" "$qkv" validate --deep "$work/keep.qkv" -q)"
)
peer_time=$(echo "${rows[0]}" | cut -d'|' -f2)
peer_rss=$(echo "${rows[0]}" | cut -d'|' -f3)

echo "MiniLM model.safetensors: $((size / 1024 / 1024)) MiB; $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'); median of $runs runs"
echo
echo "| operation | seconds | x cp | peak RSS MiB | x cp | RSS / model size |"
echo "|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
    IFS='|' read -r label t m <<< "$row"
    awk -v l="$label" -v t="$t" -v m="$m" -v pt="$peer_time" -v pm="$peer_rss" -v s="$size" 'BEGIN {
        printf "| %s | %.3f | %.1f | %.1f | %.1f | %.2f |\n", l, t, (pt > 0 ? t / pt : 0), m / 1024, m / pm, m * 1024 / s }'
done
if [ -n "${BENCH_JSON:-}" ]; then   # for tools/bench/suite.sh
    printf '%s\n' "${rows[@]}" | python3 -c 'import json, sys
rows = [line.rstrip("\n").split("|") for line in sys.stdin if line.strip()]
json.dump({"model_bytes": int(sys.argv[2]), "rows": {label: {"seconds": float(t), "rss_kib": int(m)} for label, t, m in rows}}, open(sys.argv[1], "w"))' "$BENCH_JSON" "$size"
fi
