#!/usr/bin/env bash
# The peers' Python environments the benchmarks run beside qkv, made when missing (from PyPI, outside git):
#   ~/.cache/qkv-ref-venv       torch, transformers, sentence-transformers (and the tools/ reference scripts)
#   ~/.cache/qkv-llamacpp-venv  xllamacpp: llama.cpp prebuilt, with its server, driven in-process
#   ~/.cache/qkv-llamacpp-build llama.cpp built for this CPU from the llama-cpp-python sdist (llama-quantize,
#                               llama-gguf-split, llama-bench: AVX-512 and VNNI where the CPU has them, which
#                               the xllamacpp wheel's AVX2 build lacks): optional, about 5 minutes on 2 cores;
#                               only with BUILD_LLAMACPP=1.
# Prints one line per peer: ready, made, or skipped and why. Nothing here runs in CI.
set -euo pipefail
ref=$HOME/.cache/qkv-ref-venv
cpp=$HOME/.cache/qkv-llamacpp-venv
build=$HOME/.cache/qkv-llamacpp-build
if "$ref/bin/python" -c "import torch, transformers, sentence_transformers" 2>/dev/null; then
    echo "peers: reference venv ready ($ref)"
else
    python3 -m venv "$ref"
    "$ref/bin/pip" install -q torch transformers sentence-transformers safetensors numpy gguf tokenizers h5py
    echo "peers: reference venv made ($ref)"
fi
if "$cpp/bin/python" -c "import xllamacpp" 2>/dev/null; then
    echo "peers: llama.cpp venv ready ($cpp)"
else
    python3 -m venv "$cpp"
    "$cpp/bin/pip" install -q xllamacpp numpy gguf cmake ninja
    echo "peers: llama.cpp venv made ($cpp)"
fi
if [ -x "$build/bin/llama-quantize" ] && [ -x "$build/bin/llama-bench" ]; then
    echo "peers: llama.cpp build for this CPU ready ($build)"
elif [ -n "${BUILD_LLAMACPP:-}" ]; then
    src=$HOME/.cache/qkv-llamacpp-src
    mkdir -p "$src"
    "$cpp/bin/pip" download -q --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36 -d "$src"
    tar -xzf "$src"/llama_cpp_python-0.3.36.tar.gz -C "$src"
    PATH="$cpp/bin:$PATH" cmake -S "$src/llama_cpp_python-0.3.36/vendor/llama.cpp" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
        -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=ON >/dev/null
    PATH="$cpp/bin:$PATH" cmake --build "$build" -j "$(nproc)" --target llama-quantize llama-gguf-split llama-bench >/dev/null
    echo "peers: llama.cpp built for this CPU ($build)"
else
    echo "peers: llama.cpp build for this CPU skipped (BUILD_LLAMACPP=1 makes it, about 5 minutes; the quantizer references need it)"
fi
