#!/usr/bin/env python3
"""English RoBERTa encoders and rerankers: tiny random RoBERTa models with a byte-level BPE tokenizer whose
post-processor is `RobertaProcessing` (all-distilroberta-v1's, stsb-roberta-base's), and what Hugging Face
computes for them; committed small (issue 18, "Encoders" and "Rerankers": pair templates).

Run once, by hand, in the reference venv (CI has no PyTorch):

    ~/.cache/qkv-ref-venv/bin/python tools/make_roberta_references.py [--qkv PATH]

No hub: the tokenizer is a byte-level BPE trained here by `tokenizers` on TEXT below, with RoBERTa's
special tokens (`<s>` 0, `<pad>` 1, `</s>` 2, `<unk>` 3, `<mask>` 4) and RobertaProcessing, loaded by
transformers' `RobertaTokenizerFast` as roberta-base's is. Writes:

  Fixtures/roberta/roberta-embedder/   a sentence-transformers folder of a random RobertaModel (mean
                                       pooling, Normalize, max_seq_length 48: all-distilroberta-v1's shape)
  Fixtures/roberta/roberta-reranker/   a CrossEncoder folder of a random RobertaForSequenceClassification,
                                       1 label (stsb-roberta-base's shape), model_max_length 40
  Fixtures/reference/roberta.json      token ids of STRINGS (single) and of the reranker's pairs (tokenizers),
                                       the embedder's vectors (sentence-transformers), the reranker's scores
                                       (CrossEncoder.predict); with --qkv, that sentence-transformers loads the
                                       folders qkv writes back (HF -> .qkv -> HF) and the largest difference
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(REPO, "Fixtures", "roberta")
OUT = os.path.join(REPO, "Fixtures", "reference", "roberta.json")

TEXT = """The quick brown fox jumps over the lazy dog. A good book is a good day.
how much protein should a female eat? As a general guideline, 46 grams per day.
Rerankers read a query and a document together and score the pair.
Café, naïve, résumé: accents are bytes too. 1234567890 3.14159 100% $5.00 email@example.com
"""

STRINGS = ["", " ", "Hello world", "Hello  world", "  leading and trailing  ", "tab\tand\nnewline",
           "The quick brown fox jumps over the lazy dog.", "Café naïve résumé", "😀 never seen: ꙮ 敏捷",
           "<s>hello</s>", "a <mask> b", "it's, they'll, we've", "protein " * 40]

QUERY = "how much protein should a female eat"
DOCUMENTS = ["As a general guideline, 46 grams per day.", "The quick brown fox jumps over the lazy dog.",
             "protein protein protein", "Café, naïve, résumé", "", "a good book is a good day " * 8]


def tokenizer(folder, max_length):
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import RobertaProcessing
    from transformers import RobertaTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([TEXT] * 4, vocab_size=420, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.post_processor = RobertaProcessing(("</s>", bpe.token_to_id("</s>")), ("<s>", bpe.token_to_id("<s>")))
    path = os.path.join(folder, "tokenizer.json")
    bpe.save(path)
    tok = RobertaTokenizerFast(tokenizer_file=path, model_max_length=max_length, bos_token="<s>", eos_token="</s>",
                               sep_token="</s>", cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>")
    tok.save_pretrained(folder)
    return tok


def config(vocab, seed_name, **overrides):
    from transformers import RobertaConfig
    return RobertaConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                         max_position_embeddings=66, type_vocab_size=1, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                         layer_norm_eps=1e-5, **overrides)


def randomize(model, seed):
    import torch
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.4)


def strip_readme(folder):
    if os.path.exists(os.path.join(folder, "README.md")):
        os.remove(os.path.join(folder, "README.md"))


def embedder():
    from sentence_transformers import SentenceTransformer, models
    from transformers import RobertaModel

    folder = os.path.join(MODELS, "roberta-embedder")
    shutil.rmtree(folder, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        tok = tokenizer(tmp, 64)
        model = RobertaModel(config(len(tok), "embedder"), add_pooling_layer=False).eval()
        randomize(model, 18)
        model.save_pretrained(tmp)
        st = SentenceTransformer(modules=[models.Transformer(tmp, max_seq_length=48), models.Pooling(32, "mean"), models.Normalize()],
                                 device="cpu")
        st.save(folder)
    strip_readme(folder)
    st = SentenceTransformer(folder, device="cpu")
    texts = STRINGS + DOCUMENTS
    features = st.tokenize(texts)
    ids = [[int(t) for t, m in zip(row, mask) if m] for row, mask in zip(features["input_ids"], features["attention_mask"])]
    return {"texts": texts, "token_ids": ids, "embeddings": st.encode(texts, convert_to_numpy=True).tolist(),
            "max_seq_length": st.max_seq_length}


def reranker():
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import RobertaForSequenceClassification

    folder = os.path.join(MODELS, "roberta-reranker")
    shutil.rmtree(folder, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        tok = tokenizer(tmp, 40)
        model = RobertaForSequenceClassification(config(len(tok), "reranker", num_labels=1)).eval()
        randomize(model, 118)
        model.save_pretrained(tmp)
        CrossEncoder(tmp, device="cpu").save(folder)
    strip_readme(folder)
    cross = CrossEncoder(folder, device="cpu")
    pairs = [(QUERY, d) for d in DOCUMENTS] + [(d, QUERY) for d in DOCUMENTS[:2]] + [(DOCUMENTS[-1], DOCUMENTS[-1])]
    scores = cross.predict(pairs, convert_to_numpy=True)
    ranked = cross.rank(QUERY, DOCUMENTS)
    features = cross.tokenizer([p[0] for p in pairs], [p[1] for p in pairs], truncation=True)
    return {"pairs": pairs, "scores": [float(s) for s in scores], "activation": type(cross.activation_fn).__name__,
            "max_length": cross.tokenizer.model_max_length, "token_ids": features["input_ids"],
            "rank": [{"corpus_id": int(r["corpus_id"]), "score": float(r["score"])} for r in ranked]}


def round_trips(qkv, result):
    import numpy as np
    from sentence_transformers import CrossEncoder, SentenceTransformer

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("roberta-embedder", "roberta-reranker"):
            subprocess.check_call([qkv, "convert", os.path.join(MODELS, name), os.path.join(tmp, name + ".qkv"), "-q"])
            back = os.path.join(tmp, name) + "/"
            subprocess.check_call([qkv, "convert", os.path.join(tmp, name + ".qkv"), back, "--to", "safetensors", "-q"])
            if name == "roberta-embedder":
                reference = result["embedder"]
                got = SentenceTransformer(back, device="cpu").encode(reference["texts"], convert_to_numpy=True)
                out[name] = float(np.abs(got - np.array(reference["embeddings"], dtype=np.float32)).max())
            else:
                reference = result["reranker"]
                got = CrossEncoder(back, device="cpu").predict([tuple(p) for p in reference["pairs"]], convert_to_numpy=True)
                out[name] = float(np.abs(got - np.array(reference["scores"], dtype=np.float32)).max())
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--qkv", help="a qkv binary: also check that sentence-transformers loads qkv's HF exports")
    args = parser.parse_args()
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    os.makedirs(MODELS, exist_ok=True)
    result = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                           "sentence_transformers": sentence_transformers.__version__, "tokenizers": tokenizers.__version__},
              "query": QUERY, "documents": DOCUMENTS, "embedder": embedder(), "reranker": reranker()}
    if args.qkv:
        result["qkv_exports_max_abs_difference"] = round_trips(args.qkv, result)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("wrote", OUT, result.get("qkv_exports_max_abs_difference", ""))


if __name__ == "__main__":
    sys.exit(main())
