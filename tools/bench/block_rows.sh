#!/usr/bin/env bash
# tools/bench/block_rows.c against the block row kernels of two revisions: BASE (default HEAD) and the
# working tree, one after the other, one thread; prints per type the milliseconds of one ROWS x 3072 product
# and the speed-up. clang -O2, as SwiftPM builds the C target. ROWS=16384 makes the matrix too large for the
# caches (see block_rows.c).
#   BASE=<git revision>  ROWS=2048
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
git show "${BASE:-HEAD}:Sources/CQKVKernels/qkv_blocks.c" > "$out/base_blocks.c"
for side in base tree; do
    blocks=Sources/CQKVKernels/qkv_blocks.c
    [ "$side" = base ] && blocks=$out/base_blocks.c
    "${CC:-clang}" -O2 -w -I Sources/CQKVKernels/include -I Sources/CQKVKernels tools/bench/block_rows.c "$blocks" \
        Sources/CQKVKernels/qkv_kernels.c -o "$out/$side" -lm
done
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); one thread; BASE=${BASE:-HEAD}; ROWS=${ROWS:-2048}"
echo "| type | base ms | tree ms | speed-up | tree GB/s |"
echo "|---|---|---|---|---|"
"$out/base" "${ROWS:-2048}" > "$out/base.txt"
"$out/tree" "${ROWS:-2048}" > "$out/tree.txt"
paste -d' ' "$out/base.txt" "$out/tree.txt" | awk '{printf "| %s | %.3f | %.3f | %.2fx | %.2f |\n", $1, $2, $7, $2 / $7, $9}'
