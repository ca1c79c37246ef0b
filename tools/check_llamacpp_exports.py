#!/usr/bin/env python3
"""llama.cpp runs qkv's GGUF exports: for each tiny architecture of Fixtures/reference/archs, `qkv convert`
its Hugging Face folder to GGUF, run that file greedily in llama.cpp (the `xllamacpp` wheel, through
tools/llamacpp_greedy.py in its own venv) on the recorded prompt, and compare with llama.cpp's run of
llama.cpp's own converter's GGUF of the same folder (`llamacpp_listed_ids` in references.json). Not in CI
(no llama.cpp there); tools/tests/test_arch_exports.py checks in CI that the two GGUFs hold the same
tensors and keys.

    python3 -m venv ~/.cache/qkv-llamacpp-venv && ~/.cache/qkv-llamacpp-venv/bin/pip install xllamacpp numpy
    swift build && python3 tools/check_llamacpp_exports.py [path/to/qkv]

Mistral is left out: GGUF's `llama` has no sliding window, so qkv refuses to write its windowed model.
Prints one line per architecture; exits 1 when any differs.
"""

import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = os.path.join(REPO, "Fixtures", "reference", "archs")
LLAMACPP_PYTHON = os.path.expanduser("~/.cache/qkv-llamacpp-venv/bin/python")


def main():
    qkv = sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".build", "debug", "qkv")
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name in sorted(os.listdir(ARCHS)):
            folder = os.path.join(ARCHS, name)
            if name == "mistral" or not os.path.isfile(os.path.join(folder, "references.json")):
                continue
            out = os.path.join(tmp, name + ".gguf")
            subprocess.run([qkv, "convert", folder, out, "--quiet"], check=True)
            with open(os.path.join(folder, "references.json"), encoding="utf-8") as f:
                reference = json.load(f)
            request = {"model": out, "n_ctx": 256,
                       "requests": [{"prompt_ids": reference["prompt_ids"], "n_predict": len(reference["greedy_ids"])}]}
            run = subprocess.run([LLAMACPP_PYTHON, os.path.join(REPO, "tools", "llamacpp_greedy.py")],
                                 input=json.dumps(request), capture_output=True, text=True, check=True)
            listed = json.loads(run.stdout)["results"][0]["listed_ids"]
            same = listed == reference["llamacpp_listed_ids"]
            failed |= not same
            print("%-8s llama.cpp on qkv's GGUF: %d tokens, %s its run of its own converter's GGUF"
                  % (name, len(listed), "the same as" if same else "DIFFERENT from"))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
