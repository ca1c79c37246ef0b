#!/usr/bin/env bash
# tools/bench/block_rows.c against the block row kernels of two revisions: BASE (default HEAD) and the
# working tree, one after the other, one thread; prints per type the milliseconds of one ROWS x 3072 product
# and the speed-up. clang -O2, as SwiftPM builds the C target. ROWS=16384 makes the matrix too large for the
# caches (see block_rows.c). ACTIVATIONS=q8 measures the 8-bit-activation kernels; LEVELS=1 runs the working
# tree at the AVX2 level as "base" against its AVX-512 level (VNNI where the CPU has it) instead of two
# revisions.
#   BASE=<git revision>  ROWS=2048  ACTIVATIONS=f32|q8  LEVELS=1
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
activations=${ACTIVATIONS:-f32}
kernels="Sources/CQKVKernels/qkv_kernels.c Sources/CQKVKernels/qkv_blocks_q8.c Sources/CQKVKernels/qkv_blocks_q8_vnni.c"
build() {   # build SIDE BLOCKS_C DIR: the benchmark against that qkv_blocks.c and the q8 kernels in DIR
    "${CC:-clang}" -O2 -w -I Sources/CQKVKernels/include -I "$3" -I Sources/CQKVKernels tools/bench/block_rows.c "$2" \
        $(for f in $kernels; do echo "$3/$(basename "$f")"; done) -o "$out/$1" -lm
}
if [ -n "${LEVELS:-}" ]; then
    build tree Sources/CQKVKernels/qkv_blocks.c Sources/CQKVKernels
    "$out/tree" "${ROWS:-2048}" "$activations" 1 > "$out/base.txt"
    "$out/tree" "${ROWS:-2048}" "$activations" 2 > "$out/tree.txt"
    what="AVX2 level against AVX-512 level"
else
    mkdir "$out/base_src"
    for f in qkv_blocks.c qkv_blocks_q8.h qkv_blocks_common.h qkv_prefetch.h $kernels; do git show "${BASE:-HEAD}:Sources/CQKVKernels/$(basename "$f")" > "$out/base_src/$(basename "$f")" 2>/dev/null || true; done
    for f in "$out"/base_src/*; do [ -s "$f" ] || rm "$f"; done
    for f in qkv_blocks_q8.c qkv_blocks_q8_vnni.c; do [ -f "$out/base_src/$f" ] || echo '#include "qkv_kernels.h"' > "$out/base_src/$f"; done
    build base "$out/base_src/qkv_blocks.c" "$out/base_src"
    build tree Sources/CQKVKernels/qkv_blocks.c Sources/CQKVKernels
    "$out/base" "${ROWS:-2048}" "$activations" > "$out/base.txt"
    "$out/tree" "${ROWS:-2048}" "$activations" > "$out/tree.txt"
    what="BASE=${BASE:-HEAD} against the working tree"
fi
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); one thread; $what; ROWS=${ROWS:-2048}; $activations activations"
echo "| type | base ms | tree ms | speed-up | tree GB/s |"
echo "|---|---|---|---|---|"
paste -d' ' "$out/base.txt" "$out/tree.txt" | awk '{printf "| %s | %.3f | %.3f | %.2fx | %.2f |\n", $1, $2, $7, $2 / $7, $9}'
