#!/usr/bin/env python3
"""Per-token log-probabilities of the real Gemma 3 270M Q4_K_M on the "long" prompt of
Fixtures/reference/gemma3 (759 scored tokens of public-domain English), from two independent programs:

- transformers on the file's dequantized weights (f32, eager attention): the exact reference, which qkv's
  default f32 activations compute;
- llama.cpp on the file itself (its CPU backend, 8-bit activation blocks in its dot products): the reference
  for qkv's `--activations q8`, which quantizes activations the same way.

Writes Fixtures/reference/gemma3/long-log-probs.json. Run once outside CI, with the llama.cpp build and
venv that tools/bench/quant_accuracy.py uses:

    PYTHONPATH=~/.cache/qkv-llamacpp-src/llama_cpp_python-0.3.36 LLAMA_CPP_LIB_PATH=~/.cache/qkv-llamacpp-build/bin \\
        ~/.cache/qkv-llamacpp-venv/bin/python tools/make_gemma3_logprob_references.py

transformers runs in ~/.cache/qkv-ref-venv.
"""

import hashlib
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tools", "bench"))
import quant_accuracy  # noqa: E402  (its llama.cpp and transformers scorers)

OUT = os.path.join(REPO, "Fixtures", "reference", "gemma3", "long-log-probs.json")


def main():
    cases = json.load(open(os.path.join(REPO, "Fixtures", "reference", "gemma3", "cases.json")))
    ids = [c for c in cases["cases"] if c["name"] == "long"][0]["prompt_ids"]
    gguf = quant_accuracy.GEMMA
    with open(gguf, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    assert sha == cases["gguf_sha256"], "not the file cases.json was made from"
    import llama_cpp
    transformers = json.loads(quant_accuracy.run([quant_accuracy.REF_PYTHON, "-c", quant_accuracy.TRANSFORMERS, gguf, json.dumps(ids)]))
    llamacpp = quant_accuracy.llamacpp_log_probs(gguf, ids)
    version = subprocess.run([quant_accuracy.REF_PYTHON, "-c", "import torch, transformers; print(torch.__version__, transformers.__version__)"],
                             capture_output=True, text=True).stdout.split()
    out = {
        "about": "log p(token t | tokens before t), t = 1..759, of cases.json's 'long' prompt_ids, in nats",
        "gguf_sha256": sha,
        "transformers": {"torch": version[0], "transformers": version[1], "dtype": "float32", "attention": "eager",
                         "log_probs": transformers},
        "llama_cpp": {"version": llama_cpp.__version__, "build": "llama-cpp-python sdist's llama.cpp, built for this CPU",
                      "n_batch": 512, "n_threads": 2, "log_probs": llamacpp},
    }
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    mean = lambda v: sum(v) / len(v)
    print("wrote %s: transformers mean %.4f, llama.cpp mean %.4f" % (OUT, mean(transformers), mean(llamacpp)))


if __name__ == "__main__":
    main()
