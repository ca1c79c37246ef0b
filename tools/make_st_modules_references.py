#!/usr/bin/env python3
"""sentence-transformers models with Dense modules, prompts and a short max_seq_length, and their
embeddings as sentence-transformers computes them; committed small (issue 18, "sentence-transformers
modules").

Run once, by hand, in the reference venv (CI has no PyTorch):

    ~/.cache/qkv-ref-venv/bin/pip install sentence-transformers
    ~/.cache/qkv-ref-venv/bin/python tools/make_st_modules_references.py [--qkv PATH]

Each model is Fixtures/hf/bert-tiny's transformer (its config, tokenizer and weights: BERT-tiny shaped,
random) with random Dense modules (torch.manual_seed fixed) after pooling:

  Fixtures/st-modules/st-dense/
      as sentence-transformers 6 saves it: mean pooling, Dense 32->24 Tanh with bias, Dense 24->16
      Identity without bias, Normalize; prompts with a default (query), max_seq_length 12
      (tokenizer_config.json model_max_length)
  Fixtures/st-modules/st-dense-legacy/
      the layout of the models on the hub (sentence-transformers 2-4): `sentence_transformers.models.*`
      module types, `pooling_mode_*_token` keys, `max_seq_length` 10 in sentence_bert_config.json, the
      Dense weights in pytorch_model.bin; CLS pooling, Dense 32->20 ReLU, Dense 20->32 GELU, no
      Normalize; prompts without a default

(Not under Fixtures/hf, which tools/fixtures_hf.py regenerates byte for byte.)

Fixtures/reference/st-modules.json holds, per model, the texts (one longer than max_seq_length, and
each with and without a prompt), sentence-transformers' embeddings, and its token ids. With --qkv, it also
records that sentence-transformers loads the folder qkv writes back (HF -> .qkv -> HF) and the largest
difference of its embeddings from the original's.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BERT_TINY = os.path.join(REPO, "Fixtures", "hf", "bert-tiny")
OUT = os.path.join(REPO, "Fixtures", "reference", "st-modules.json")

TEXTS = [
    "the cat sat on the mat",
    "hello world",
    "a good book is a good day",
    "the dog was playing in the house",
    # Longer than either max_seq_length: truncated.
    "the big old tree and the small new house and the sun and the moon and the star and the cat and the dog",
    "",
]

# (prompt_name, prompt): (None, None) is the model's default prompt; (None, "") overrides it with none.
CASES = {
    "st-dense": [(None, None), ("doc", None), ("query", None), (None, "this is "), (None, "")],
    "st-dense-legacy": [(None, None), ("query", None), ("passage", None)],
}


def build(name, folder):
    import torch
    from sentence_transformers import SentenceTransformer, models

    torch.manual_seed(18)
    if name == "st-dense":
        transformer = models.Transformer(BERT_TINY, max_seq_length=12)
        modules = [transformer, models.Pooling(32, "mean"),
                   models.Dense(32, 24, bias=True, activation_function=torch.nn.Tanh()),
                   models.Dense(24, 16, bias=False, activation_function=torch.nn.Identity()),
                   models.Normalize()]
        model = SentenceTransformer(modules=modules, prompts={"query": "query: ", "doc": "the book : "},
                                    default_prompt_name="query", device="cpu")
        model.save(folder)
    else:
        transformer = models.Transformer(BERT_TINY, max_seq_length=10)
        modules = [transformer, models.Pooling(32, "cls"),
                   models.Dense(32, 20, bias=True, activation_function=torch.nn.ReLU()),
                   models.Dense(20, 32, bias=True, activation_function=torch.nn.GELU())]
        model = SentenceTransformer(modules=modules, prompts={"query": "hello ", "passage": "the day , "}, device="cpu")
        model.save(folder, safe_serialization=False)
        legacy(folder)
    for extra in ("README.md",):
        if os.path.exists(os.path.join(folder, extra)):
            os.remove(os.path.join(folder, extra))


def legacy(folder):
    """Rewrites sentence-transformers 6's files in the older form the hub's models have."""
    path = os.path.join(folder, "modules.json")
    modules = json.load(open(path))
    for module in modules:
        module["type"] = "sentence_transformers.models." + module["type"].rsplit(".", 1)[1]
    json.dump(modules, open(path, "w"), indent=2)
    pooling = os.path.join(folder, "1_Pooling", "config.json")
    config = json.load(open(pooling))
    mode = config["pooling_mode"]
    json.dump({"word_embedding_dimension": config["embedding_dimension"],
               "pooling_mode_cls_token": mode == "cls", "pooling_mode_mean_tokens": mode == "mean",
               "pooling_mode_max_tokens": mode == "max", "pooling_mode_mean_sqrt_len_tokens": mode == "mean_sqrt_len_tokens"},
              open(pooling, "w"), indent=2)
    tokenizer_config = os.path.join(folder, "tokenizer_config.json")
    config = json.load(open(tokenizer_config))
    max_length = config.pop("model_max_length")
    config["model_max_length"] = 512
    json.dump(config, open(tokenizer_config, "w"), indent=2)
    json.dump({"max_seq_length": max_length, "do_lower_case": False}, open(os.path.join(folder, "sentence_bert_config.json"), "w"), indent=2)
    for d in os.listdir(folder):
        if d.endswith("_Dense"):
            config_path = os.path.join(folder, d, "config.json")
            config = json.load(open(config_path))
            for key in ("module_input_name", "module_output_name"):
                config.pop(key, None)
            json.dump(config, open(config_path, "w"), indent=2)


def embeddings(folder, name):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(folder, device="cpu")
    cases = []
    for prompt_name, prompt in CASES[name]:
        vectors = model.encode(TEXTS, prompt_name=prompt_name, prompt=prompt, convert_to_numpy=True)
        used = prompt if prompt is not None else model.prompts.get(prompt_name or model.default_prompt_name or "", "")
        features = model.tokenize([used + t for t in TEXTS])
        ids = [[int(t) for t, m in zip(row, mask) if m] for row, mask in zip(features["input_ids"], features["attention_mask"])]
        cases.append({"prompt_name": prompt_name, "prompt": prompt, "prompt_text": used,
                      "embeddings": [[float(x) for x in v] for v in vectors], "token_ids": ids})
    return model, {"max_seq_length": model.max_seq_length, "dimension": int(model.get_sentence_embedding_dimension()),
                   "prompts": model.prompts, "default_prompt_name": model.default_prompt_name, "cases": cases}


def round_trip(qkv, folder, name, reference):
    """HF -> .qkv -> HF with qkv, loaded by sentence-transformers: the largest difference."""
    from sentence_transformers import SentenceTransformer
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.check_call([qkv, "convert", folder, os.path.join(tmp, "m.qkv"), "-q"])
        out = os.path.join(tmp, "back") + "/"
        subprocess.check_call([qkv, "convert", os.path.join(tmp, "m.qkv"), out, "--to", "safetensors", "-q"])
        model = SentenceTransformer(out, device="cpu")
        worst = 0.0
        for case in reference["cases"]:
            vectors = model.encode(TEXTS, prompt_name=case["prompt_name"], prompt=case["prompt"], convert_to_numpy=True)
            worst = max(worst, float(np.abs(vectors - np.array(case["embeddings"], dtype=np.float32)).max()))
        return {"loaded_modules": [type(m).__name__ for m in model], "max_abs_difference": worst,
                "prompts": model.prompts, "default_prompt_name": model.default_prompt_name, "max_seq_length": model.max_seq_length}


def main():
    import sentence_transformers
    import torch
    import transformers

    parser = argparse.ArgumentParser()
    parser.add_argument("--qkv", help="a qkv binary: also check that sentence-transformers loads qkv's HF export")
    args = parser.parse_args()
    result = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                           "sentence_transformers": sentence_transformers.__version__},
              "texts": TEXTS, "models": {}}
    for name in CASES:
        folder = os.path.join(REPO, "Fixtures", "st-modules", name)
        shutil.rmtree(folder, ignore_errors=True)
        build(name, folder)
        _, reference = embeddings(folder, name)
        if args.qkv:
            reference["qkv_export_loaded_by_sentence_transformers"] = round_trip(args.qkv, folder, name, reference)
        result["models"][name] = reference
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    for name, reference in result["models"].items():
        print(name, reference["dimension"], reference["max_seq_length"], reference.get("qkv_export_loaded_by_sentence_transformers"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
