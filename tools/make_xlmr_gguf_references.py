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
as llama-server returns them) and ranks DOCUMENTS for QUERY with the GGUF qkv writes of the XLM-R reranker
(`llamacpp_rerank_of_qkv_gguf`: its raw scores, the head's logits, and its token count).
bert-reranker is not converted: llama.cpp's converter does not recognise its tiny WordPiece vocabulary,
and qkv refuses a BERT head for GGUF (llama.cpp's converter drops the pooler that head reads).

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
QUERY = "how much protein should a female eat"
DOCUMENTS = ["As a general guideline, 46 grams per day.", "The quick brown fox jumps over the lazy dog.",
             "Le renard brun rapide saute par-dessus le chien paresseux.", "protein protein protein"]
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


def llamacpp(request):
    """tools/llamacpp_embeddings.py's answer to `request`, run in the llama.cpp venv."""
    python = os.path.expanduser("~/.cache/qkv-llamacpp-venv/bin/python")
    run = subprocess.run([python, os.path.join(REPO, "tools", "llamacpp_embeddings.py")],
                         input=json.dumps(request), capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


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
            out = llamacpp({"model": ours, "texts": TEXTS})
            result["llama_cpp"] = out["llama_cpp"]
            result["llamacpp_embeddings_of_qkv_gguf"][name] = [r["embedding"] for r in out["results"]]
        ours = os.path.join(tmp, "xlmr-reranker-qkv.gguf")
        subprocess.check_call([args.qkv, "convert", os.path.join(MODELS, "xlmr-reranker"), ours, "-q"])
        out = llamacpp({"model": ours, "query": QUERY, "documents": DOCUMENTS})
        result["llamacpp_rerank_of_qkv_gguf"] = {"query": QUERY, "documents": DOCUMENTS, "scores": out["scores"],
                                                 "prompt_tokens": out["prompt_tokens"]}
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, indent=None)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
