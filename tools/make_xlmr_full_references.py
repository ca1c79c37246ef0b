#!/usr/bin/env python3
"""sentence-transformers' vectors of random XLM-RoBERTa encoders at the real sizes of multilingual-e5-small,
bge-m3 and paraphrase-multilingual-MiniLM-L12-v2 (tools/xlmr_full_models.py builds them from a seed), for
tools/tests/test_xlmr_full.py, which rebuilds the same weights with numpy and checks `qkv embed` (issue 18:
"random-init models built from the real configs"). Run once, by hand, in the reference venv (CI has no
PyTorch):

    ~/.cache/qkv-ref-venv/bin/python tools/make_xlmr_full_references.py

Writes Fixtures/reference/xlmr-full.json: per model its sizes, the texts and their vectors; the models
themselves (0.5 to 2.3 GB) are built in a temporary folder and removed.
"""

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import xlmr_full_models  # noqa: E402

OUT = os.path.join(xlmr_full_models.REPO, "Fixtures", "reference", "xlmr-full.json")

# Multilingual text, emoji, a prompt-like prefix and runs of spaces, from Fixtures/reference/xlmr.json's strings.
TEXTS = [
    "Hello world",
    "Ça va très bien, merci!",
    "Быстрая коричневая лиса",
    "敏捷的棕色狐狸跳过了懒狗。",
    "الثعلب البني",
    "😀 👍🏽 🇫🇷 👨\u200d👩\u200d👧",
    "query: how much protein should a female eat",
    "   many     spaces   between  ",
]


def main():
    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    result = {"versions": {"torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__},
              "texts": TEXTS, "models": {}}
    for name, (sizes, small, seed) in xlmr_full_models.MODELS.items():
        with tempfile.TemporaryDirectory() as tmp:
            folder = xlmr_full_models.write(name, os.path.join(tmp, name))
            st = SentenceTransformer(folder, device="cpu")
            vectors = st.encode(TEXTS, convert_to_numpy=True)
            result["models"][name] = {"sizes": sizes, "small_fixture": small, "seed": seed,
                                      "embeddings": [[float(v) for v in row] for row in vectors]}
            print(name, vectors.shape, file=sys.stderr)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
