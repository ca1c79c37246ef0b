#!/usr/bin/env python3
"""Accuracy per block type on the real Gemma 3 270M: mean log-probability and perplexity of 759 tokens of
real English (the "long" prompt of Fixtures/reference/gemma3: the Gettysburg Address and more public-domain
prose), computed by qkv and by llama.cpp on the same GGUF files, and by transformers on the published
file's dequantized weights.

Files: the published Q4_K_M; its exact f32 dequantization (`qkv convert --dtype f32`); and that f32
quantized again by `qkv convert --dtype T` for each T (bit-identical to what llama.cpp's llama-quantize
writes from the same f32: tools/tests/test_kquant.py), so the table shows what each type costs on a real
model. llama.cpp multiplies with 8-bit quantized activations; qkv with f32 activations by default, and with
8-bit ones under `--activations q8` (scored one token at a time through decode steps, the path they change).

Runs outside CI with the llama.cpp venv's python and llama.cpp built as tools/make_kquant_references.py
says, through the llama-cpp-python sdist's ctypes bindings (no wheel build):

    PYTHONPATH=~/.cache/qkv-llamacpp-src/llama_cpp_python-0.3.36 LLAMA_CPP_LIB_PATH=~/.cache/qkv-llamacpp-build/bin \\
        ~/.cache/qkv-llamacpp-venv/bin/python tools/bench/quant_accuracy.py [--types "q8_0 q6_k ..."]

(pip install typing-extensions diskcache jinja2 numpy in that venv). transformers runs in
~/.cache/qkv-ref-venv when it exists. Prints a Markdown table.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELS = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
GEMMA = os.path.join(MODELS, "gemma3", "gemma-3-270m-q4_k_m.gguf")
REF_PYTHON = os.path.expanduser("~/.cache/qkv-ref-venv/bin/python")

TRANSFORMERS = r"""
import json, sys, torch
from transformers import AutoModelForCausalLM
path, ids = sys.argv[1], json.loads(sys.argv[2])
model = AutoModelForCausalLM.from_pretrained(path.rsplit("/", 1)[0], gguf_file=path.rsplit("/", 1)[1],
                                             torch_dtype=torch.float32, attn_implementation="eager")
with torch.no_grad():
    logits = model(torch.tensor([ids])).logits[0].double()
lp = torch.log_softmax(logits, dim=-1)
print(json.dumps([lp[i - 1, ids[i]].item() for i in range(1, len(ids))]))
"""


def run(args):
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("quant_accuracy: %s failed:\n%s" % (" ".join(map(str, args[:4])), result.stderr[-3000:]))
    return result.stdout


def qkv_log_probs(qkv, path, ids, activations="f32"):
    out = json.loads(run([qkv, "score", path, "--ids", ",".join(map(str, ids)), "--json", "--threads", "2", "-q",
                          "--activations", activations]))
    return [x for x in out["log_probs"] if x is not None]


def llamacpp_log_probs(path, ids):
    import llama_cpp
    llm = llama_cpp.Llama(model_path=path, logits_all=True, n_ctx=len(ids) + 8, n_batch=512, n_threads=2, verbose=False)
    llm.eval(ids)
    logits = np.array(llm.scores[:len(ids)], dtype=np.float64)
    del llm
    top = logits.max(axis=1, keepdims=True)
    lse = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return [float(logits[i - 1, ids[i]] - lse[i - 1]) for i in range(1, len(ids))]


def row(name, size, qkv_lp, q8_lp, peer_lp):
    q, q8, p = float(np.mean(qkv_lp)), float(np.mean(q8_lp)), float(np.mean(peer_lp))
    cells = [name, "%.0f MB" % (size / 1e6), "%.4f" % q, "%.3f" % math.exp(-q), "%.4f" % q8, "%.3f" % math.exp(-q8),
             "%.4f" % (q - q8), "%.4f" % p, "%.3f" % math.exp(-p), "%.4f" % (q - p)]
    return "| " + " | ".join(cells) + " |"


def scored(qkv, name, path, ids):
    return row(name, os.path.getsize(path), qkv_log_probs(qkv, path, ids), qkv_log_probs(qkv, path, ids, "q8"), llamacpp_log_probs(path, ids))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--qkv", default=os.environ.get("QKV_BIN") or os.path.join(REPO, ".build", "release", "qkv"))
    parser.add_argument("--types", default="q8_0 q6_k q5_k_m q5_k_s q4_k_m q4_k_s q4_0 q3_k_l q3_k_m q3_k_s q2_k")
    args = parser.parse_args()
    cases = json.load(open(os.path.join(REPO, "Fixtures", "reference", "gemma3", "cases.json")))
    ids = [c for c in cases["cases"] if c["name"] == "long"][0]["prompt_ids"]
    print("CPU: %s; %d tokens scored (log p in nats, mean over tokens; ppl = exp(-mean))" % (
        open("/proc/cpuinfo").read().split("model name")[1].split(":")[1].split("\n")[0].strip(), len(ids) - 1))
    print()
    print("| weights | file | qkv mean log p | qkv ppl | qkv q8 mean log p | qkv q8 ppl | f32 - q8 | llama.cpp mean log p | llama.cpp ppl | qkv - llama.cpp |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        print(scored(args.qkv, "published Q4_K_M", GEMMA, ids), flush=True)
        f32 = os.path.join(tmp, "f32.gguf")
        run([args.qkv, "convert", GEMMA, f32, "--dtype", "f32", "-q"])
        f32_qkv = qkv_log_probs(args.qkv, f32, ids)
        print(row("its f32 dequantization", os.path.getsize(f32), f32_qkv, f32_qkv, llamacpp_log_probs(f32, ids)), flush=True)
        for dtype in args.types.split():
            out = os.path.join(tmp, dtype + ".gguf")
            run([args.qkv, "convert", f32, out, "--dtype", dtype, "-q"])
            print(scored(args.qkv, "f32 → qkv --dtype " + dtype, out, ids), flush=True)
            os.remove(out)
        sys.stdout.flush()
        if os.path.exists(REF_PYTHON):
            ref = json.loads(run([REF_PYTHON, "-c", TRANSFORMERS, GEMMA, json.dumps(ids)]))
            mean = float(np.mean(ref))
            print()
            print("transformers on the published file's dequantized weights (f32, eager): mean log p %.4f, ppl %.3f; "
                  "qkv on the same weights: %.4f (difference %.1e)" % (mean, math.exp(-mean), float(np.mean(f32_qkv)),
                                                                       float(np.mean(f32_qkv)) - mean))


if __name__ == "__main__":
    main()
