#!/usr/bin/env python3
"""llama.cpp's gguf-split on two GGUFs, for `qkv convert --split-max-*` and qkv's split reader to be
checked against. Runs once, by hand, outside CI, with llama.cpp built as tools/make_kquant_references.py
says plus `ninja -C ~/.cache/qkv-llamacpp-build llama-gguf-split`. Writes Fixtures/reference/gguf-split/:

    llama-tiny-0000K-of-00003.gguf   gguf-split --split-max-tensors 7 of Fixtures/gguf/llama-tiny.gguf
                                     (small: committed whole)
    references.json                  the SHA-256 of every shard of `gguf-split --split-max-size 100M` of
                                     the real Gemma 3 270M Q4_K_M (tools/fetch-models.sh), and of the
                                     llama-tiny shards
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_decoder_references import sha256  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Fixtures", "reference", "gguf-split")
BUILD = os.environ.get("QKV_LLAMACPP_BUILD") or os.path.expanduser("~/.cache/qkv-llamacpp-build")
MODELS = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
GEMMA = os.path.join(MODELS, "gemma3", "gemma-3-270m-q4_k_m.gguf")


def split(source, prefix, *args):
    tool = os.path.join(BUILD, "bin", "llama-gguf-split")
    if not os.path.exists(tool):
        sys.exit("make_gguf_split_references: %s is missing" % tool)
    subprocess.run([tool, "--split", *args, source, prefix], check=True, capture_output=True)
    folder, base = os.path.split(prefix)
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.startswith(base + "-"))


def main():
    os.makedirs(OUT, exist_ok=True)
    result = {}
    with tempfile.TemporaryDirectory() as tmp:
        shards = split(os.path.join(REPO, "Fixtures", "gguf", "llama-tiny.gguf"), os.path.join(tmp, "llama-tiny"), "--split-max-tensors", "7")
        result["llama-tiny --split-max-tensors 7"] = [[os.path.basename(s), sha256(s)] for s in shards]
        for s in shards:
            shutil.copy(s, OUT)
        shards = split(GEMMA, os.path.join(tmp, "gemma"), "--split-max-size", "100M")
        result["gemma --split-max-size 100M"] = [[os.path.basename(s), sha256(s)] for s in shards]
        result["gemma sha256"] = sha256(GEMMA)
    with open(os.path.join(OUT, "references.json"), "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
