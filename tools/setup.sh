#!/usr/bin/env bash
# Installs what qkv needs on a Debian machine, skipping what is already there:
# the C libraries (libhdf5, zlib, OpenBLAS) and the light Python packages the checks use.
# Swift itself is expected on PATH (the Swift toolchain is not a Debian package).
set -euo pipefail

if ! command -v swift >/dev/null 2>&1; then
    echo "setup: swift is not on PATH; install a Swift 6 toolchain first" >&2
    exit 2
fi

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

missing=()
# chromium renders the `qkv attention --html` page in the test that screenshots it.
for package in libhdf5-dev zlib1g-dev libopenblas-dev pkg-config chromium; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! python3 -c "import numpy, h5py, safetensors, gguf, tokenizers, pytest, openai, jinja2, schemathesis" >/dev/null 2>&1; then
    echo "setup: installing numpy, h5py, safetensors, gguf, tokenizers, pytest, openai, jinja2, schemathesis"
    python3 -m pip install -q numpy h5py safetensors gguf tokenizers pytest openai jinja2 schemathesis
fi
