#!/usr/bin/env python3
"""Gemma 3 270M's tokenizer ids as transformers builds the tokenizer from the real GGUF, for
tools/tests/test_gemma3_tokenizer.py to hold qkv to.

transformers reads the GGUF's vocabulary, scores and token types (`AutoTokenizer.from_pretrained(folder,
gguf_file=...)`: SentencePiece BPE, no dummy prefix, byte fallback, 262,144 tokens) and runs it with
Hugging Face `tokenizers`; nothing here re-implements a tokenizer. It needs transformers and gguf (no
torch), e.g. in a venv outside git:

    python3 -m venv ~/.cache/qkv-ref-venv && ~/.cache/qkv-ref-venv/bin/pip install transformers gguf sentencepiece
    ~/.cache/qkv-ref-venv/bin/python tools/make_gemma3_reference.py

It writes Fixtures/tokenizers/gemma3-270m-ids.json: for each string the ids with BOS (as the model
adds it) and the tokens. The model file is fetched by tools/fetch-models.sh and not committed.
"""

import hashlib
import json
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
FOLDER = os.path.join(CACHE, "gemma3")
GGUF = "gemma-3-270m-q4_k_m.gguf"
OUT = os.path.join(REPO_ROOT, "Fixtures", "tokenizers", "gemma3-270m-ids.json")

STRINGS = [
    "Hello world", " Hello world", "Hello, world! How are you today?", "The quick brown fox jumps over the lazy dog.",
    "it's I'M we'll they'D", "  two leading spaces", "trailing spaces   ", "many     spaces   inside",
    "\n", "\n\nparagraph\n\n\nbreaks\n", "\ttabs\tand\t\tmore", "line1\r\nline2\r\n",
    "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "for (int i = 0; i < 10; ++i) { sum += a[i] * 3.14159f; }",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "1234567890 3.14159 -42 1e10 0xFF 2024-12-06",
    "中文字符和标点符号。你好，世界！", "日本語のテキスト、カタカナとひらがな。", "한국어 텍스트입니다.",
    "Русский текст и кириллица.", "Ελληνικά γράμματα", "العربية من اليمين إلى اليسار", "हिन्दी देवनागरी लिपि",
    "ภาษาไทยไม่มีช่องว่าง", "Café naïve résumé façade Straße Ærø",
    "emoji 🦙🚀✅😁 and 👨‍👩‍👧‍👦 family", "🦙", "math: ∀x∈ℝ, x² ≥ 0 ⇒ √x² = |x|",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", "<bos>already a bos", "",
    " ", "a\u00a0b\u2009c\u3000d",
]


def main():
    from transformers import AutoTokenizer
    import transformers
    path = os.path.join(FOLDER, GGUF)
    if not os.path.isfile(path):
        sys.exit("%s is missing: run tools/fetch-models.sh" % path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    tok = AutoTokenizer.from_pretrained(FOLDER, gguf_file=GGUF)
    cases = []
    for text in STRINGS:
        ids = tok(text)["input_ids"]
        cases.append({"text": text, "ids": ids, "tokens": tok.convert_ids_to_tokens(ids)})
    with open(OUT, "w", encoding="utf-8") as f:
        about = "tools/make_gemma3_reference.py: transformers %s's tokenizer from %s (sha256 %s)" % (
            transformers.__version__, GGUF, digest.hexdigest())
        # One case per line: readable diffs, small file.
        f.write('{"about": %s,\n"cases": [\n%s]}\n' % (json.dumps(about), ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases)))
    print("wrote %s (%d strings)" % (OUT, len(cases)))


if __name__ == "__main__":
    main()
