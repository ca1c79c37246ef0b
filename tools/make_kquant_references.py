#!/usr/bin/env python3
"""llama.cpp's own quantizer on the K-quant sources, for `qkv convert --dtype` to be checked against.

Runs llama.cpp's `llama-quantize` (no importance matrix, so every K type goes through ggml's reference
quantizers `quantize_row_q*_K_ref`) on the f32 LLaMA sources tools/fixtures_quant.py writes, once per
scheme qkv offers, and commits what it wrote per tensor: the ggml type and the SHA-256 of the bytes.
Also records each source tensor's SHA-256, so a test that regenerates the sources knows they are the
same values. Runs once, by hand, outside CI; writes Fixtures/reference/kquant/references.json.

Set-up (outside git): llama.cpp's source from the llama-cpp-python sdist (see make_arch_references.py),
built for its quantize tool alone:

    ~/.cache/qkv-llamacpp-venv/bin/pip install cmake ninja
    cmake -S ~/.cache/qkv-llamacpp-src/llama_cpp_python-0.3.36/vendor/llama.cpp -B ~/.cache/qkv-llamacpp-build \\
        -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \\
        -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DGGML_NATIVE=ON
    ninja -C ~/.cache/qkv-llamacpp-build llama-quantize
    python3 tools/make_kquant_references.py

(ggml-quants.c, where the reference quantizers live, is part of ggml-base, which is compiled without
-march flags: no FMA contraction, so the results do not depend on the CPU.)
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import gguf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures_quant as fq  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Fixtures", "reference", "kquant", "references.json")
BUILD = os.environ.get("QKV_LLAMACPP_BUILD") or os.path.expanduser("~/.cache/qkv-llamacpp-build")

# qkv's --dtype -> (llama-quantize type, --pure). The plain K types are pure (one type everywhere, with
# llama.cpp's fallbacks); the suffixed ones are llama.cpp's mixes; q6_k is both (llama.cpp's Q6_K mix
# changes nothing a pure Q6_K does not).
SCHEMES = {
    "q2_k": ("Q2_K", True), "q3_k": ("Q3_K_S", True), "q4_k": ("Q4_K_S", True), "q5_k": ("Q5_K_S", True),
    "q6_k": ("Q6_K", False),
    "q3_k_s": ("Q3_K_S", False), "q3_k_m": ("Q3_K_M", False), "q3_k_l": ("Q3_K_L", False),
    "q4_k_s": ("Q4_K_S", False), "q4_k_m": ("Q4_K_M", False), "q5_k_s": ("Q5_K_S", False), "q5_k_m": ("Q5_K_M", False),
    "q4_0": ("Q4_0", True), "q4_1": ("Q4_1", True), "q5_0": ("Q5_0", True), "q5_1": ("Q5_1", True), "q8_0": ("Q8_0", True),
}
# Which schemes run on which source (the test runs the same pairs). Besides the two LLaMAs: every
# architecture's f32 GGUF that llama.cpp's own converter wrote (Fixtures/reference/archs/<name>/model.gguf:
# Gemma's tied head, Phi-3's fused attn_qkv, Qwen's biases, rows too short for super-blocks).
ARCHS = ["gemma2", "gemma3", "llama3", "mistral", "phi3", "qwen2", "qwen3", "smollm2"]
ARCH_SCHEMES = ["q2_k", "q3_k_m", "q4_k_m", "q5_k_m", "q6_k", "q4_0"]
RUNS = {
    "a": list(SCHEMES),
    "b": ["q2_k", "q4_k", "q6_k", "q3_k_m", "q4_k_m", "q5_k_m", "q4_0", "q8_0"],
}


def sha256(data):
    return hashlib.sha256(memoryview(data).cast("B")).hexdigest()


def tensors_of(path):
    reader = gguf.GGUFReader(path)
    return {t.name: {"type": t.tensor_type.name, "sha256": sha256(t.data.tobytes())} for t in reader.tensors}


def llama_version():
    out = subprocess.run([os.path.join(BUILD, "bin", "llama-quantize"), "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().splitlines()[0] if (out.stdout + out.stderr).strip() else "unknown"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.parse_args(argv)
    quantize = os.path.join(BUILD, "bin", "llama-quantize")
    if not os.path.exists(quantize):
        sys.exit("make_kquant_references: %s is missing; build it as the docstring says" % quantize)
    result = {"llama_cpp": llama_version(), "sources": {}, "schemes": {k: {"llama_type": v[0], "pure": v[1]} for k, v in SCHEMES.items()},
              "quantized": {}}
    with tempfile.TemporaryDirectory() as tmp:
        sources = {}
        for variant in RUNS:
            sources[variant] = os.path.join(tmp, "source-%s.gguf" % variant)
            fq.write_kquant_source(sources[variant], variant)
            result["sources"][variant] = {name: sha256(data) for name, data in fq.kquant_source_tensors(variant)}
        runs = dict(RUNS)
        for arch in ARCHS:
            sources[arch] = os.path.join(REPO, "Fixtures", "reference", "archs", arch, "model.gguf")
            result["sources"][arch] = {name: t["sha256"] for name, t in tensors_of(sources[arch]).items()}
            runs[arch] = ARCH_SCHEMES
        for variant, schemes in runs.items():
            source = sources[variant]
            result["quantized"][variant] = {}
            for scheme in schemes:
                llama_type, pure = SCHEMES[scheme]
                out = os.path.join(tmp, "%s-%s.gguf" % (variant, scheme))
                command = [quantize] + (["--pure"] if pure else []) + [source, out, llama_type, "1"]
                run = subprocess.run(command, capture_output=True, text=True)
                if run.returncode != 0:
                    sys.exit("llama-quantize failed: %s\n%s" % (" ".join(command), run.stderr[-2000:]))
                result["quantized"][variant][scheme] = tensors_of(out)
                types = sorted(set(t["type"] for t in result["quantized"][variant][scheme].values()))
                print("%s %-7s %s" % (variant, scheme, " ".join(types)))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote %s" % OUT)


if __name__ == "__main__":
    main()
