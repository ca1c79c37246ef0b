#!/usr/bin/env bash
# Builds and runs tools/bench/direct_products.c (the C kernel for a few tokens against OpenBLAS's sgemm,
# the measurement behind WeightMatrix.directTokens) with the same OpenBLAS kernels qkv picks. clang, as
# SwiftPM builds the C target: GCC 12 keeps the tile's 24 sums out of registers (a third of the speed).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"${CC:-clang}" -O2 -w -I Sources/CQKVKernels/include tools/bench/direct_products.c -o "$out/direct_products" -lopenblas -lm
OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX} "$out/direct_products"
