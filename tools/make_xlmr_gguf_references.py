#!/usr/bin/env python3
"""What llama.cpp's own converter makes of the XLM-R fixtures, and what llama.cpp computes from the GGUF
qkv writes of them; committed small as Fixtures/reference/xlmr-gguf.json (issue 18, XLM-R to GGUF).

Run once, by hand, with the reference venv (it has torch and transformers, which llama.cpp's
convert_hf_to_gguf.py needs) and a qkv binary:

    ~/.cache/qkv-ref-venv/bin/python tools/make_xlmr_gguf_references.py --qkv .build/debug/qkv

For each folder of Fixtures/xlmr (tools/make_xlmr_references.py), llama.cpp's converter (from the
llama-cpp-python sdist in ~/.cache/qkv-llamacpp-src, as tools/make_arch_references.py uses it) writes an
f32 GGUF to a temporary folder; the JSON keeps its `summary`: every key with its GGUF types and value (a
SHA-256 of the JSON of long arrays), every tensor with its ggml type, shape and the SHA-256 of its bytes.
Then llama.cpp itself (the xllamacpp wheel, tools/llamacpp_embeddings.py, in ~/.cache/qkv-llamacpp-venv)
embeds TEXTS with the GGUF qkv writes of each encoder (`llamacpp_embeddings_of_qkv_gguf`: L2-normalised,
as llama-server returns them).

tools/tests/test_xlmr_gguf.py compares qkv's GGUF with `summary` key by key and tensor by tensor.
"""

import argparse
import glob
import hashlib
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(REPO, "Fixtures", "xlmr")
OUT = os.path.join(REPO, "Fixtures", "reference", "xlmr-gguf.json")
NAMES = ["e5-small-shaped", "bge-m3-shaped", "paraphrase-shaped", "xlmr-reranker"]
ENCODERS = NAMES[:3]
TEXTS = ["Hello world", "The quick brown fox jumps over the lazy dog.", "Ça va très bien, merci!",
         "Быстрая коричневая лиса", "敏捷的棕色狐狸跳过了懒狗。", "query: how much protein should a female eat"]


def summary(path):
    """A GGUF file's keys (name, GGUF types, value; arrays of more than 16 items as the SHA-256 of their
    JSON) and tensors (name, ggml type, shape fastest first, SHA-256 of the bytes), read with gguf-py."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(path)
    keys = []
    for name, field in reader.fields.items():
        if name.startswith("GGUF."):
            continue
        value = field.contents()
        if isinstance(value, list) and len(value) > 16:
            value = "sha256:" + hashlib.sha256(json.dumps(value, ensure_ascii=False).encode("utf-8")).hexdigest()
        keys.append([name, [t.name for t in field.types], value])
    tensors = [[t.name, t.tensor_type.name, [int(d) for d in t.shape],
                hashlib.sha256(np.asarray(t.data).tobytes()).hexdigest()] for t in reader.tensors]
    return {"keys": keys, "tensors": tensors}


def llamacpp_converter(folder, out):
    found = sorted(glob.glob(os.path.expanduser("~/.cache/qkv-llamacpp-src/*/vendor/llama.cpp/convert_hf_to_gguf.py")))
    if not found:
        sys.exit("no llama.cpp converter under ~/.cache/qkv-llamacpp-src (see tools/make_arch_references.py)")
    subprocess.check_call([sys.executable, found[-1], folder, "--outfile", out, "--outtype", "f32"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.relpath(found[-1], os.path.expanduser("~/.cache/qkv-llamacpp-src"))


def llamacpp_embeddings(model, texts):
    python = os.path.expanduser("~/.cache/qkv-llamacpp-venv/bin/python")
    run = subprocess.run([python, os.path.join(REPO, "tools", "llamacpp_embeddings.py")],
                         input=json.dumps({"model": model, "texts": texts}), capture_output=True, text=True, check=True)
    out = json.loads(run.stdout)
    return out["llama_cpp"], [r["embedding"] for r in out["results"]]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--qkv", required=True, help="a qkv binary, to write the GGUFs llama.cpp embeds with")
    args = parser.parse_args()
    result = {"texts": TEXTS, "summary": {}, "llamacpp_embeddings_of_qkv_gguf": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in NAMES:
            out = os.path.join(tmp, name + ".gguf")
            result["converter"] = llamacpp_converter(os.path.join(MODELS, name), out)
            result["summary"][name] = summary(out)
        for name in ENCODERS:
            ours = os.path.join(tmp, name + "-qkv.gguf")
            subprocess.check_call([args.qkv, "convert", os.path.join(MODELS, name), ours, "-q"])
            versions, vectors = llamacpp_embeddings(ours, TEXTS)
            result["llama_cpp"] = versions
            result["llamacpp_embeddings_of_qkv_gguf"][name] = vectors
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=None)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
