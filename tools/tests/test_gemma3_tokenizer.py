"""Gemma 3 270M's real tokenizer (the GGUF tools/fetch-models.sh fetches: SentencePiece BPE with 262,144
tokens, no dummy prefix, byte fallback) through `qkv tokenize`, against the ids transformers gives
(Fixtures/tokenizers/gemma3-270m-ids.json, written by tools/make_gemma3_reference.py).

Nothing is skipped: without the model, the test fails saying how to fetch it.
"""

import json
import os
import subprocess

import pytest

from test_interop import qkv_binary

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
GEMMA = os.path.join(CACHE, "gemma3", "gemma-3-270m-q4_k_m.gguf")
REFERENCE = os.path.join(REPO_ROOT, "Fixtures", "tokenizers", "gemma3-270m-ids.json")


def reference():
    with open(REFERENCE, encoding="utf-8") as f:
        return json.load(f)["cases"]


def test_gemma3_every_reference_string_gives_transformers_ids():
    if not os.path.isfile(GEMMA):
        pytest.fail("Gemma 3 is missing at %s: run tools/fetch-models.sh" % GEMMA, pytrace=False)
    cases = reference()
    assert len(cases) >= 30
    result = subprocess.run([qkv_binary(), "tokenize", GEMMA, "--json", "--", *[c["text"] for c in cases]],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == len(cases)
    mismatches = []
    for case, line in zip(cases, lines):
        got = json.loads(line)
        if got["ids"] != case["ids"]:
            mismatches.append("%r: qkv %s %s, transformers %s %s" % (case["text"], got["ids"], got["pieces"], case["ids"], case["tokens"]))
    assert mismatches == []


def test_gemma3_reference_covers_several_scripts_and_whitespace():
    texts = [c["text"] for c in reference()]
    assert any("\u4e2d" in t for t in texts) and any("\U0001f999" in t for t in texts)
    assert any("    " in t for t in texts) and any("\n\n" in t for t in texts)
    # No dummy prefix and BOS first: transformers' ids for "Hello world" start with <bos> then "Hello".
    hello = next(c for c in reference() if c["text"] == "Hello world")
    assert hello["tokens"][:2] == ["<bos>", "Hello"]
