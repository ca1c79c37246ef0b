#!/usr/bin/env python3
"""Multilingual encoders and rerankers: tiny random XLM-RoBERTa models with a Unigram SentencePiece
tokenizer, BERT and XLM-R cross-encoders, and what Hugging Face computes for them; committed small
(issue 18, "Encoders" and "Rerankers").

Run once, by hand, in the reference venv (CI has no PyTorch):

    ~/.cache/qkv-ref-venv/bin/pip install sentencepiece protobuf
    ~/.cache/qkv-ref-venv/bin/python tools/make_xlmr_references.py [--qkv PATH]

No hub: the tokenizer is a SentencePiece Unigram model trained here on TEXT below (the `nmt_nfkc`
rule, so it carries a real precompiled charsmap) and converted by transformers' own
`XLMRobertaConverter`, as the tokenizer.json of xlm-roberta-base was made. Writes:

  Fixtures/tokenizers/unigram/
      xlmr.json            transformers 5's conversion: Precompiled, Strip(right), Replace(" {2,}", "▁"),
                           Metaspace(always, split)
      xlmr-hub.json        the form of the hub's XLM-R files (multilingual-e5, bge-m3): Precompiled,
                           Replace(" {2,}", " "), Metaspace(add_prefix_space, always)
      byte-fallback.json   a Unigram model trained with byte_fallback (its `<0xNN>` pieces), NFKC
                           normalizer instead of a charsmap, Metaspace(first)
  Fixtures/xlmr/<name>/    sentence-transformers folders of random XLMRobertaModels:
      e5-small-shaped      multilingual-e5-small's config shape (mean pooling, Normalize, prompts
                           "query: " / "passage: ")
      bge-m3-shaped        bge-m3's (CLS pooling, Normalize, layer_norm_eps 1e-5)
      paraphrase-shaped    paraphrase-multilingual-MiniLM's (mean pooling, no Normalize)
  Fixtures/xlmr/<name>/    CrossEncoder folders:
      xlmr-reranker        XLMRobertaForSequenceClassification, 1 label (bge-reranker's shape)
      bert-reranker        BertForSequenceClassification, 1 label, on Fixtures/hf/bert-tiny's vocabulary
                           (ms-marco-MiniLM's shape)
  Fixtures/xlmr/e5-small-shaped.gguf
      e5-small-shaped as llama.cpp's convert_hf_to_gguf.py writes it (when its sources are in
      ~/.cache/qkv-llamacpp-src): `bert` with the position table cut, `tokenizer.ggml.model = t5`;
      llama.cpp's own token counts and vectors of STRINGS from it (`llamacpp_gguf`, with the xllamacpp
      venv of tools/llamacpp_greedy.py)
  Fixtures/reference/xlmr.json
      token ids of STRINGS under each tokenizer (HF tokenizers; also `xlmr-transformers5`, the form
      transformers 5 saves in the model folders: Precompiled, WhitespaceSplit + Metaspace), each encoder's embeddings
      (sentence-transformers), each reranker's scores (CrossEncoder.predict, its default activation); with
      --qkv, that sentence-transformers loads the folders qkv writes back (HF -> .qkv -> HF) and the largest
      difference of their vectors and scores from the originals'.
"""

import argparse
import json
import os
import subprocess
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKENIZERS = os.path.join(REPO, "Fixtures", "tokenizers", "unigram")
MODELS = os.path.join(REPO, "Fixtures", "xlmr")
OUT = os.path.join(REPO, "Fixtures", "reference", "xlmr.json")
GGUF = os.path.join(REPO, "Fixtures", "xlmr", "e5-small-shaped.gguf")
BERT_TINY = os.path.join(REPO, "Fixtures", "hf", "bert-tiny")

TEXT = """The quick brown fox jumps over the lazy dog. A good book is a good day.
Le renard brun rapide saute par-dessus le chien paresseux. Ça va très bien, merci! Où est la gare?
Der schnelle braune Fuchs springt über den faulen Hund. Straße, Größe, Mädchen, Äpfel.
El rápido zorro marrón salta sobre el perro perezoso. ¿Dónde está la biblioteca? Año nuevo.
Быстрая коричневая лиса прыгает через ленивую собаку. Привет, как дела? Москва.
敏捷的棕色狐狸跳过了懒狗。我们今天去北京。这是一本好书。
素早い茶色の狐がのろまな犬を飛び越える。東京は大きな都市です。カタカナとひらがな。
빠른 갈색 여우가 게으른 개를 뛰어넘는다. 안녕하세요. 감사합니다.
Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο.
الثعلب البني السريع يقفز فوق الكلب الكسول.
तेज़ भूरी लोमड़ी आलसी कुत्ते के ऊपर कूदती है।
Hızlı kahverengi tilki tembel köpeğin üzerinden atlar. İstanbul çok güzel.
query: how much protein should a female eat passage: As a general guideline, 46 grams per day.
1234567890 3.14159 100% $5.00 email@example.com https://example.org/path?q=1
"""

# Strings whose ids must match HF tokenizers: scripts the model saw and did not, accents composed and
# decomposed, full-width and compatibility forms the charsmap folds, whitespace runs and kinds, emoji,
# added tokens typed in the text.
STRINGS = [
    "", " ", "   ", "Hello world", "Hello  world", "  leading and trailing  ", "tab\tand\nnewline\r\n",
    "The quick brown fox jumps over the lazy dog.", "Ça va très bien, merci!", "Ça va très bien",
    "Straße Größe Mädchen", "Äpfel und Birnen", "El año nuevo", "¿Dónde está?",
    "Быстрая коричневая лиса", "敏捷的棕色狐狸跳过了懒狗。", "東京は大きな都市です", "カタカナ ｶﾀｶﾅ",
    "안녕하세요", "Η γρήγορη καφέ αλεπού", "الثعلب البني", "तेज़ भूरी लोमड़ी", "İstanbul çok güzel",
    "ＡＢＣ　ｄｅｆ　１２３", "①②③ ㈱ ㎏ ﬁ ﬀ", "x\u00a0y\u2003z\u3000w", "Zero\u200bwidth\u200djoiner",
    "😀 👍🏽 🇫🇷 👨‍👩‍👧", "e\u0301 vs \u00e9", "Å vs A\u030a", "ﾊﾟﾝ", "™ ℃ ½ Ⅳ", "…",
    "query: how much protein should a female eat", "passage: As a general guideline, 46 grams per day.",
    "1234567890 3.14159 100% $5.00", "email@example.com https://example.org/path?q=1",
    "<s>hello</s>", "a <mask> b", "<unk>", "never-seen: ꙮ ᚠᚢᚦ 𓀀", "\u0000control\u0007chars\u001f",
    "Ünïcödé ẞ ǅ ǈ", "   many     spaces   between   ", "▁ literal meta ▁▁", "ä" * 30,
]

# (query, document) pairs for the rerankers.
QUERY = "how much protein should a female eat"
DOCUMENTS = [
    "As a general guideline, 46 grams per day.",
    "The quick brown fox jumps over the lazy dog.",
    "Le renard brun rapide saute par-dessus le chien paresseux.",
    "敏捷的棕色狐狸跳过了懒狗。",
    "protein protein protein",
    "",
]

ENCODERS = {
    # name: (XLMRobertaConfig overrides, pooling, normalize, prompts)
    "e5-small-shaped": (dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                             layer_norm_eps=1e-12, hidden_act="gelu"), "mean", True,
                        {"query": "query: ", "passage": "passage: "}),
    "bge-m3-shaped": (dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=80,
                           layer_norm_eps=1e-5, hidden_act="gelu"), "cls", True, {}),
    "paraphrase-shaped": (dict(hidden_size=24, num_hidden_layers=3, num_attention_heads=3, intermediate_size=48,
                               layer_norm_eps=1e-5, hidden_act="gelu"), "mean", False, {}),
}


def train(folder, name, byte_fallback, rule, vocab_size, coverage):
    import sentencepiece as spm

    corpus = os.path.join(folder, "corpus.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        f.write(TEXT * 4)
    spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(folder, name), vocab_size=vocab_size,
                                   model_type="unigram", hard_vocab_limit=False, character_coverage=coverage,
                                   normalization_rule_name=rule, byte_fallback=byte_fallback, minloglevel=2)
    return os.path.join(folder, name + ".model")


def convert(model_file, byte_fallback):
    from transformers.convert_slow_tokenizer import XLMRobertaConverter

    class Original:
        vocab_file = model_file
        add_prefix_space = True

        def convert_tokens_to_ids(self, token):
            return {"<s>": 0, "</s>": 2}[token]

    class Converter(XLMRobertaConverter):
        handle_byte_fallback = byte_fallback

    return Converter(Original()).converted()


def tokenizers_():
    """The three tokenizer.json files, written to TOKENIZERS; returns {name: path}."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, Regex

    os.makedirs(TOKENIZERS, exist_ok=True)
    paths = {}
    with tempfile.TemporaryDirectory() as tmp:
        tok = convert(train(tmp, "xlmr", False, "nmt_nfkc", 400, 0.9995), False)
        paths["xlmr"] = os.path.join(TOKENIZERS, "xlmr.json")
        tok.save(paths["xlmr"])
        hub = Tokenizer.from_file(paths["xlmr"])
        charsmap = json.load(open(paths["xlmr"]))["normalizer"]["normalizers"][0]["precompiled_charsmap"]
        import base64
        hub.normalizer = normalizers.Sequence([normalizers.Precompiled(base64.b64decode(charsmap)),
                                               normalizers.Replace(Regex(" {2,}"), " ")])
        hub.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        paths["xlmr-hub"] = os.path.join(TOKENIZERS, "xlmr-hub.json")
        hub.save(paths["xlmr-hub"])
        fallback = convert(train(tmp, "fallback", True, "identity", 500, 0.98), True)
        fallback.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Strip(left=True, right=True),
                                                    normalizers.Replace(Regex(" {2,}"), " ")])
        fallback.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
        paths["byte-fallback"] = os.path.join(TOKENIZERS, "byte-fallback.json")
        fallback.save(paths["byte-fallback"])
    return paths


def token_ids(paths):
    from tokenizers import Tokenizer

    out = {}
    for name, path in paths.items():
        tok = Tokenizer.from_file(path)
        out[name] = {"with_special": [tok.encode(s).ids for s in STRINGS],
                     "without_special": [tok.encode(s, add_special_tokens=False).ids for s in STRINGS],
                     "pair": [tok.encode(QUERY, d).ids for d in DOCUMENTS],
                     "decoded": [tok.decode(tok.encode(s).ids) for s in STRINGS],
                     "normalized": [tok.normalizer.normalize_str(s) if tok.normalizer else s for s in STRINGS]}
    return out


def tokenizer_folder(folder, tokenizer_json, max_length):
    """tokenizer.json plus the tokenizer_config.json transformers writes for XLM-R."""
    from transformers import XLMRobertaTokenizerFast

    tok = XLMRobertaTokenizerFast(tokenizer_file=tokenizer_json, model_max_length=max_length)
    tok.save_pretrained(folder)
    return tok


def encoder(name, tokenizer_json, tokenizer_vocab):
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import XLMRobertaConfig, XLMRobertaModel

    overrides, pooling, normalize, prompts = ENCODERS[name]
    folder = os.path.join(MODELS, name)
    shutil.rmtree(folder, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(len(name))
        config = XLMRobertaConfig(vocab_size=tokenizer_vocab, max_position_embeddings=66, type_vocab_size=1,
                                  pad_token_id=1, bos_token_id=0, eos_token_id=2, **overrides)
        model = XLMRobertaModel(config, add_pooling_layer=False).eval()
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.4)
        model.save_pretrained(tmp)
        tokenizer_folder(tmp, tokenizer_json, 64)
        modules = [models.Transformer(tmp, max_seq_length=64), models.Pooling(overrides["hidden_size"], pooling)]
        if normalize:
            modules.append(models.Normalize())
        st = SentenceTransformer(modules=modules, prompts=prompts or None, device="cpu")
        st.save(folder)
    for extra in ("README.md",):
        if os.path.exists(os.path.join(folder, extra)):
            os.remove(os.path.join(folder, extra))
    st = SentenceTransformer(folder, device="cpu")
    texts = STRINGS + DOCUMENTS
    cases = [{"prompt_name": None, "embeddings": st.encode(texts, convert_to_numpy=True).tolist()}]
    for prompt_name in prompts:
        cases.append({"prompt_name": prompt_name,
                      "embeddings": st.encode(texts, prompt_name=prompt_name, convert_to_numpy=True).tolist()})
    features = st.tokenize(texts)
    ids = [[int(t) for t, m in zip(row, mask) if m] for row, mask in zip(features["input_ids"], features["attention_mask"])]
    return {"texts": texts, "pooling": pooling, "normalize": normalize, "token_ids": ids, "cases": cases,
            "dimension": int(st.get_sentence_embedding_dimension())}


def reranker(name, tokenizer_json, tokenizer_vocab):
    import torch
    from sentence_transformers import CrossEncoder
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast
    from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

    folder = os.path.join(MODELS, name)
    shutil.rmtree(folder, ignore_errors=True)
    torch.manual_seed(len(name) + 100)
    with tempfile.TemporaryDirectory() as tmp:
        if name == "xlmr-reranker":
            config = XLMRobertaConfig(vocab_size=tokenizer_vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                      intermediate_size=64, max_position_embeddings=130, type_vocab_size=1, pad_token_id=1,
                                      bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, num_labels=1)
            model = XLMRobertaForSequenceClassification(config).eval()
            tokenizer_folder(tmp, tokenizer_json, 128)
        else:
            bert = json.load(open(os.path.join(BERT_TINY, "config.json")))
            config = BertConfig(**{k: v for k, v in bert.items() if k not in ("architectures", "torch_dtype", "dtype")}, num_labels=1)
            model = BertForSequenceClassification(config).eval()
            BertTokenizerFast.from_pretrained(BERT_TINY, model_max_length=64).save_pretrained(tmp)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.4)
        model.save_pretrained(tmp)
        cross = CrossEncoder(tmp, device="cpu")
        cross.save(folder)
    for extra in ("README.md",):
        if os.path.exists(os.path.join(folder, extra)):
            os.remove(os.path.join(folder, extra))
    cross = CrossEncoder(folder, device="cpu")
    pairs = [(QUERY, d) for d in DOCUMENTS] + [(d, QUERY) for d in DOCUMENTS[:2]]
    scores = cross.predict(pairs, convert_to_numpy=True)
    logits = cross.predict(pairs, convert_to_numpy=True, activation_fn=torch.nn.Identity())
    ranked = cross.rank(QUERY, DOCUMENTS)
    features = cross.tokenizer([p[0] for p in pairs], [p[1] for p in pairs])
    return {"pairs": pairs, "scores": [float(s) for s in scores], "logits": [float(s) for s in logits],
            "activation": type(cross.activation_fn).__name__, "token_ids": features["input_ids"],
            "token_type_ids": features.get("token_type_ids"),
            "rank": [{"corpus_id": int(r["corpus_id"]), "score": float(r["score"])} for r in ranked]}


def gguf_from_llamacpp():
    """e5-small-shaped as llama.cpp's convert_hf_to_gguf.py writes it (`bert` with a `t5` tokenizer and the
    position table cut), when llama.cpp's sources are where tools/check_llamacpp_exports.py keeps them."""
    import glob
    import subprocess
    found = sorted(glob.glob(os.path.expanduser("~/.cache/qkv-llamacpp-src/*/vendor/llama.cpp/convert_hf_to_gguf.py")))
    if not found:
        print("no llama.cpp converter under ~/.cache/qkv-llamacpp-src: Fixtures/xlmr/e5-small-shaped.gguf not rewritten")
        return False
    subprocess.check_call([sys.executable, found[-1], os.path.join(MODELS, "e5-small-shaped"), "--outfile", GGUF, "--outtype", "f32"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return True


def llamacpp_embeddings(texts):
    """llama.cpp's token count and (normalised) vector for each text, from the GGUF (tools/llamacpp_embeddings.py
    in the llama.cpp venv, as tools/check_llamacpp_exports.py sets it up)."""
    import subprocess
    python = os.path.expanduser("~/.cache/qkv-llamacpp-venv/bin/python")
    run = subprocess.run([python, os.path.join(REPO, "tools", "llamacpp_embeddings.py")], input=json.dumps({"model": GGUF, "texts": texts}),
                         capture_output=True, text=True, check=True)
    out = json.loads(run.stdout)
    return {"versions": out["llama_cpp"], "texts": texts, "prompt_tokens": [r["prompt_tokens"] for r in out["results"]],
            "embeddings": [r["embedding"] for r in out["results"]]}


def round_trips(qkv, result):
    """HF -> .qkv -> HF with qkv, loaded by sentence-transformers: the largest difference of its vectors and
    scores from the originals'."""
    import numpy as np
    from sentence_transformers import CrossEncoder, SentenceTransformer

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in list(ENCODERS) + ["xlmr-reranker", "bert-reranker"]:
            subprocess.check_call([qkv, "convert", os.path.join(MODELS, name), os.path.join(tmp, name + ".qkv"), "-q"])
            back = os.path.join(tmp, name) + "/"
            subprocess.check_call([qkv, "convert", os.path.join(tmp, name + ".qkv"), back, "--to", "safetensors", "-q"])
            if name in ENCODERS:
                reference = result["encoders"][name]
                model = SentenceTransformer(back, device="cpu")
                worst = max(float(np.abs(model.encode(reference["texts"], prompt_name=case["prompt_name"], convert_to_numpy=True)
                                         - np.array(case["embeddings"], dtype=np.float32)).max()) for case in reference["cases"])
                out[name] = {"loaded_modules": [type(m).__name__ for m in model], "max_abs_difference": worst}
            else:
                reference = result["rerankers"][name]
                model = CrossEncoder(back, device="cpu")
                scores = model.predict([tuple(p) for p in reference["pairs"]], convert_to_numpy=True)
                out[name] = {"activation": type(model.activation_fn).__name__,
                             "max_abs_difference": float(np.abs(scores - np.array(reference["scores"], dtype=np.float32)).max())}
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--qkv", help="a qkv binary: also check that sentence-transformers loads qkv's HF exports")
    args = parser.parse_args()
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    from tokenizers import Tokenizer

    paths = tokenizers_()
    result = {"versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                           "sentence_transformers": sentence_transformers.__version__, "tokenizers": tokenizers.__version__},
              "strings": STRINGS, "query": QUERY, "documents": DOCUMENTS, "encoders": {}, "rerankers": {}}
    vocab = Tokenizer.from_file(paths["xlmr-hub"]).get_vocab_size()
    for name in ENCODERS:
        result["encoders"][name] = encoder(name, paths["xlmr-hub"], vocab)
    for name in ("xlmr-reranker", "bert-reranker"):
        result["rerankers"][name] = reranker(name, paths["xlmr-hub"], vocab)
    # The form transformers 5 saves an XLM-R tokenizer in (Precompiled alone, WhitespaceSplit before
    # Metaspace, all five specials added), as the model folders hold it.
    paths["xlmr-transformers5"] = os.path.join(MODELS, "e5-small-shaped", "tokenizer.json")
    result["tokenizers"] = token_ids(paths)
    if gguf_from_llamacpp():
        result["llamacpp_gguf"] = llamacpp_embeddings([t for t in STRINGS if "\0" not in t])
    if args.qkv:
        result["qkv_exports_loaded_by_sentence_transformers"] = round_trips(args.qkv, result)
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=None, ensure_ascii=False)
        f.write("\n")
    for name, r in result["rerankers"].items():
        print(name, r["activation"], [round(s, 4) for s in r["scores"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
