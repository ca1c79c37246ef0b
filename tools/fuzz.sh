#!/usr/bin/env bash
# Runs one libFuzzer harness for SECONDS: tools/fuzz.sh qkv|safetensors|gguf|pytorch|hdf5 SECONDS [libFuzzer flags...]
#
# Builds the harness (Sources/Fuzz, one target for every reader) with Swift's -sanitize=fuzzer,address in its own scratch
# directory (.build-fuzz), seeds a working corpus (.build-fuzz/work/<target>/, ignored by git) from Fixtures/ (the
# conformance corpus and the other fixtures of that format), and runs it. Crashes land in
# .build-fuzz/work/<target>/crashes/; reproduce one with `swift build --product Fuzz` and
# `QKV_FUZZ_FORMAT=<target> .build/debug/Fuzz FILE` (an ordinary build is a reproducer), then add it to
# tools/fixtures_conformance.py. The last lines printed are libFuzzer's executions and coverage.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: tools/fuzz.sh qkv|safetensors|gguf|pytorch|hdf5 SECONDS [libFuzzer flags...]}"
seconds="${2:?usage: tools/fuzz.sh TARGET SECONDS}"
shift 2
case "$target" in
    qkv) patterns=("*.qkv") ;;
    safetensors) patterns=("*.safetensors") ;;
    gguf) patterns=("*.gguf") ;;
    pytorch) patterns=("*.bin") ;;
    hdf5) patterns=("*.h5") ;;
    *) echo "unknown target '$target': qkv, safetensors, gguf, pytorch or hdf5" >&2; exit 2 ;;
esac

# The corpus is generated; make it if this is a clean clone.
[ -f Fixtures/conformance/manifest.json ] || python3 tools/make_fixtures.py >/dev/null

# QKV_FUZZ_SCRATCH: another build directory, so two people (or a long run and a change) do not share one.
scratch="${QKV_FUZZ_SCRATCH:-.build-fuzz}"
swift build -c debug --scratch-path "$scratch" --product Fuzz \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DFUZZING >&2
binary="$(swift build -c debug --scratch-path "$scratch" --show-bin-path)/Fuzz"

work="$scratch/work/$target"
mkdir -p "$work/corpus" "$work/seeds" "$work/crashes"
for pattern in "${patterns[@]}"; do
    # Seeds: files up to 64 KiB (libFuzzer's -max_len below); larger ones only slow it down.
    find Fixtures -name "$pattern" -size -64k -exec cp {} "$work/seeds/" \;
done
# The PyTorch reader's hostile and broken files: the conformance corpus keeps them (Fixtures/conformance/pytorch);
# their generator writes them again, so a case added there seeds the fuzzer before the corpus is remade.
if [ "$target" = pytorch ]; then python3 tools/fixtures_pytorch.py "$work/seeds"; fi
# Single .qkv files for the qkv harness come only from the corpus; give it the real converter's output too.
if [ "$target" = qkv ] && [ -x .build/debug/qkv ]; then
    .build/debug/qkv convert Fixtures/llama-tiny.h5 "$work/seeds/llama-tiny.qkv" --quiet 2>/dev/null || true
fi

# -rss_limit_mb: a reader that allocates by a declared size fails here. -timeout: one input may not hang.
QKV_FUZZ_FORMAT="$target" ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}" \
"$binary" "$work/corpus" "$work/seeds" \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=10 \
    -artifact_prefix="$work/crashes/" -print_final_stats=1 "$@"
