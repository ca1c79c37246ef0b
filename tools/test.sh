#!/usr/bin/env bash
# Sets up and runs every test: the Swift unit and command tests, then the Python checks that hold
# qkv against independent references (h5py, numpy, the spec-only .qkv reader in tools/).
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
swift build --build-tests
swift test
QKV_BIN="$(swift build --show-bin-path)/qkv" python3 -m pytest -q tools/tests
