#!/usr/bin/env python3
"""Hugging Face fixtures: model folders made from the canonical fixtures, and a
corpus of invalid .safetensors files.

An *independent* reference of the mapping between Hugging Face checkpoints and
the qkv schema (Specs/schema.md): it reads the canonical fixtures written by
make_fixtures.py with h5py, transforms them with numpy only, and writes them
with the `safetensors` package, sharing no code with the Swift importer.

Usage (after make_fixtures.py, which calls write_all() itself):

    python3 tools/fixtures_hf.py [--out DIR]      # DIR defaults to <repo>/Fixtures

It writes, under DIR:

    hf/bert-tiny/            bert-tiny.h5 as sentence-transformers all-MiniLM-L6-v2 is laid out:
                             BertModel model.safetensors (with the embeddings.position_ids
                             buffer), config.json, vocab.txt, WordPiece tokenizer.json,
                             tokenizer_config.json, special_tokens_map.json, modules.json,
                             1_Pooling/config.json, sentence_bert_config.json,
                             config_sentence_transformers.json
    hf/gpt2-tiny/            gpt2-tiny.h5 as the Hub's gpt2 repository is laid out: GPT2Model
                             names without a prefix (wte.weight, h.0.attn.c_attn.weight, ...)
                             plus the h.{i}.attn.bias causal-mask buffers; no lm_head (tied);
                             config.json, vocab.json, merges.txt, byte-level BPE tokenizer.json,
                             tokenizer_config.json
    hf/gpt2-tiny-lmhead/     the same model as transformers' save_pretrained writes a
                             GPT2LMHeadModel today: "transformer." prefix, no buffers, no
                             lm_head.weight (tied, so dropped)
    hf/llama-tiny/           llama-tiny.h5 as LlamaForCausalLM: model.safetensors, config.json,
                             tokenizer.json (BPE with byte fallback), tokenizer_config.json,
                             special_tokens_map.json
    hf/llama-tiny-sharded/   the same tensors in model-0000{1,2,3}-of-00003.safetensors with
                             model.safetensors.index.json (transformers' greedy split, "32KB")
    hf/expected.json         per folder: every canonical tensor's CRC-32 (of its canonical
                             bytes, equal to Fixtures/expected.json), shape, the Hugging Face
                             tensor(s) it comes from and how; the buffers an importer drops
    bad-safetensors/*.safetensors + manifest.json
                             invalid files, each breaking one rule of the format; manifest maps
                             file -> {"error": "SafetensorsError.<case>", "why": ...}

Deterministic: no randomness, no timestamps; safetensors orders the tensors itself.
"""

import argparse
import json
import os
import shutil
import struct
import sys
import zlib

import h5py
import numpy as np

try:
    from safetensors.numpy import save_file
except ImportError:                 # pragma: no cover
    sys.exit("tools/fixtures_hf.py needs the safetensors package: pip install safetensors")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "Fixtures")

HF_DIR = "hf"
BAD_DIR = "bad-safetensors"
MANIFEST = "manifest.json"
ST_METADATA = {"format": "pt"}

# transformers' default is "5GB"; a tiny model needs a tiny limit to shard at all. 32KB = 32,000 bytes
# splits llama-tiny (88,704 bytes of tensors) into exactly 3 shards.
LLAMA_MAX_SHARD_BYTES = 32000
LLAMA_SHARDS = 3

METADATA_SECTIONS = ("config", "tokenizer", "provenance", "user")


# ---------------------------------------------------------------------------
# Reading the canonical fixtures (Specs/hdf5-layout.md) with h5py
# ---------------------------------------------------------------------------

def _plain(value):
    """An h5py attribute or array value as plain Python."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def read_fixture(path):
    """(config, tokenizer, tensors) of a canonical fixture: config and tokenizer as dicts of plain
    values (arrays as lists), tensors as {name: numpy array} in the file's dataset order."""
    with h5py.File(path, "r") as f:
        sections = {}
        for section in ("config", "tokenizer"):
            values = {}
            group = f[section]
            for key in group.attrs:
                values[key] = _plain(group.attrs[key])
            for key, ds in group.items():
                if h5py.check_string_dtype(ds.dtype) is not None:
                    values[key] = list(ds.asstr()[()])
                else:
                    values[key] = ds[()].tolist()
            sections[section] = values
        tensors = {}

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.split("/")[0] not in METADATA_SECTIONS:
                tensors[name] = np.ascontiguousarray(obj[()])
        f.visititems(visit)
    return sections["config"], sections["tokenizer"], tensors


def crc32(array):
    return zlib.crc32(np.ascontiguousarray(array).tobytes())


# ---------------------------------------------------------------------------
# Canonical -> Hugging Face tensors (numpy only)
# ---------------------------------------------------------------------------
#
# Each mapper returns (hf, sources, dropped):
#   hf       {hf_name: array} in the model's module order (what a state_dict lists)
#   sources  {canonical_name: (hf_names, transform)}: where each canonical tensor comes from
#            and the numpy expression that gets it back from the HF tensor(s)
#   dropped  HF names that are buffers, not weights: an importer must ignore them


class Mapping:
    def __init__(self):
        self.hf, self.sources, self.dropped = {}, {}, []

    def put(self, hf_name, array, canonical=None, transform=None):
        assert hf_name not in self.hf, hf_name
        self.hf[hf_name] = np.ascontiguousarray(array)
        if canonical is not None:
            self.sources[canonical] = ([hf_name], transform)

    def buffer(self, hf_name, array):
        self.put(hf_name, array)
        self.dropped.append(hf_name)


def _heads_to_rows(w):
    """[H, d, D] -> [H*d, D]: q/k/v as PyTorch's Linear [out, in]; the same bytes."""
    return w.reshape(w.shape[0] * w.shape[1], w.shape[2])


def _o_to_linear(o):
    """Our o [H, d, D] -> PyTorch's o Linear weight [D, H*d] (O[h][j][m] = W[m, h*d + j])."""
    return _heads_to_rows(o).T


def bert_to_hf(config, t):
    m = Mapping()
    P = config["max_positions"]
    # sentence-transformers' all-MiniLM-L6-v2 stores this int64 buffer first; importers drop it.
    m.buffer("embeddings.position_ids", np.arange(P, dtype="<i8").reshape(1, P))
    m.put("embeddings.word_embeddings.weight", t["embed/token/weight"], "embed/token/weight", "copy")
    m.put("embeddings.position_embeddings.weight", t["embed/position/weight"], "embed/position/weight", "copy")
    m.put("embeddings.token_type_embeddings.weight", t["embed/token_type/weight"],
          "embed/token_type/weight", "copy")
    m.put("embeddings.LayerNorm.weight", t["embed/norm/weight"], "embed/norm/weight", "copy")
    m.put("embeddings.LayerNorm.bias", t["embed/norm/bias"], "embed/norm/bias", "copy")
    for i in range(config["layer_count"]):
        hf, our = "encoder.layer.%d." % i, "layers/%d/" % i
        for part, name in (("q", "query"), ("k", "key"), ("v", "value")):
            w, b = t[our + "attn/%s/weight" % part], t[our + "attn/%s/bias" % part]
            m.put(hf + "attention.self.%s.weight" % name, _heads_to_rows(w), our + "attn/%s/weight" % part,
                  "reshape(H, d, D)")
            m.put(hf + "attention.self.%s.bias" % name, b.reshape(-1), our + "attn/%s/bias" % part,
                  "reshape(H, d)")
        m.put(hf + "attention.output.dense.weight", _o_to_linear(t[our + "attn/o/weight"]),
              our + "attn/o/weight", "T.reshape(H, d, D)")
        m.put(hf + "attention.output.dense.bias", t[our + "attn/o/bias"], our + "attn/o/bias", "copy")
        m.put(hf + "attention.output.LayerNorm.weight", t[our + "attn_norm/weight"], our + "attn_norm/weight", "copy")
        m.put(hf + "attention.output.LayerNorm.bias", t[our + "attn_norm/bias"], our + "attn_norm/bias", "copy")
        m.put(hf + "intermediate.dense.weight", t[our + "mlp/up/weight"], our + "mlp/up/weight", "copy")
        m.put(hf + "intermediate.dense.bias", t[our + "mlp/up/bias"], our + "mlp/up/bias", "copy")
        m.put(hf + "output.dense.weight", t[our + "mlp/down/weight"], our + "mlp/down/weight", "copy")
        m.put(hf + "output.dense.bias", t[our + "mlp/down/bias"], our + "mlp/down/bias", "copy")
        m.put(hf + "output.LayerNorm.weight", t[our + "mlp_norm/weight"], our + "mlp_norm/weight", "copy")
        m.put(hf + "output.LayerNorm.bias", t[our + "mlp_norm/bias"], our + "mlp_norm/bias", "copy")
    m.put("pooler.dense.weight", t["pooler/weight"], "pooler/weight", "copy")
    m.put("pooler.dense.bias", t["pooler/bias"], "pooler/bias", "copy")
    return m


def gpt2_to_hf(config, t, prefix="", mask_buffers=True):
    """GPT-2. Conv1D weights are [in, out]; c_attn is [D, 3*H*d] with columns Q | K | V.
    `prefix` "" is the Hub's gpt2 (GPT2Model names), "transformer." what save_pretrained writes for
    a GPT2LMHeadModel; `mask_buffers` adds the h.{i}.attn.bias [1, 1, P, P] lower-triangular f32
    causal masks that the Hub's gpt2 model.safetensors carries."""
    m = Mapping()
    H, d, P = config["head_count"], config["head_dim"], config["max_positions"]
    Hd = H * d
    p = prefix
    m.put(p + "wte.weight", t["embed/token/weight"], "embed/token/weight", "copy")
    m.put(p + "wpe.weight", t["embed/position/weight"], "embed/position/weight", "copy")
    for i in range(config["layer_count"]):
        hf, our = p + "h.%d." % i, "layers/%d/" % i
        m.put(hf + "ln_1.weight", t[our + "attn_norm/weight"], our + "attn_norm/weight", "copy")
        m.put(hf + "ln_1.bias", t[our + "attn_norm/bias"], our + "attn_norm/bias", "copy")
        if mask_buffers:
            m.buffer(hf + "attn.bias", np.tril(np.ones((P, P), dtype="<f4")).reshape(1, 1, P, P))
        qkv_w = np.concatenate([_heads_to_rows(t[our + "attn/%s/weight" % x]).T for x in "qkv"], axis=1)
        qkv_b = np.concatenate([t[our + "attn/%s/bias" % x].reshape(-1) for x in "qkv"])
        m.put(hf + "attn.c_attn.weight", qkv_w)
        m.put(hf + "attn.c_attn.bias", qkv_b)
        for k, x in enumerate("qkv"):
            cols = "%d:%d" % (k * Hd, (k + 1) * Hd)
            m.sources[our + "attn/%s/weight" % x] = ([hf + "attn.c_attn.weight"], "[:, %s].T.reshape(H, d, D)" % cols)
            m.sources[our + "attn/%s/bias" % x] = ([hf + "attn.c_attn.bias"], "[%s].reshape(H, d)" % cols)
        # Conv1D [in = H*d, out = D]: our o's bytes exactly, no transpose.
        m.put(hf + "attn.c_proj.weight", _heads_to_rows(t[our + "attn/o/weight"]), our + "attn/o/weight",
              "reshape(H, d, D)")
        m.put(hf + "attn.c_proj.bias", t[our + "attn/o/bias"], our + "attn/o/bias", "copy")
        m.put(hf + "ln_2.weight", t[our + "mlp_norm/weight"], our + "mlp_norm/weight", "copy")
        m.put(hf + "ln_2.bias", t[our + "mlp_norm/bias"], our + "mlp_norm/bias", "copy")
        m.put(hf + "mlp.c_fc.weight", t[our + "mlp/up/weight"].T, our + "mlp/up/weight", "T")
        m.put(hf + "mlp.c_fc.bias", t[our + "mlp/up/bias"], our + "mlp/up/bias", "copy")
        m.put(hf + "mlp.c_proj.weight", t[our + "mlp/down/weight"].T, our + "mlp/down/weight", "T")
        m.put(hf + "mlp.c_proj.bias", t[our + "mlp/down/bias"], our + "mlp/down/bias", "copy")
    m.put(p + "ln_f.weight", t["final_norm/weight"], "final_norm/weight", "copy")
    m.put(p + "ln_f.bias", t["final_norm/bias"], "final_norm/bias", "copy")
    # Tied: the LM head is wte; save_pretrained drops the shared lm_head.weight.
    return m


def llama_to_hf(config, t):
    m = Mapping()
    m.put("model.embed_tokens.weight", t["embed/token/weight"], "embed/token/weight", "copy")
    for i in range(config["layer_count"]):
        hf, our = "model.layers.%d." % i, "layers/%d/" % i
        for x in "qkv":
            m.put(hf + "self_attn.%s_proj.weight" % x, _heads_to_rows(t[our + "attn/%s/weight" % x]),
                  our + "attn/%s/weight" % x, "reshape(%s, d, D)" % ("H" if x == "q" else "K"))
        m.put(hf + "self_attn.o_proj.weight", _o_to_linear(t[our + "attn/o/weight"]), our + "attn/o/weight",
              "T.reshape(H, d, D)")
        m.put(hf + "mlp.gate_proj.weight", t[our + "mlp/gate/weight"], our + "mlp/gate/weight", "copy")
        m.put(hf + "mlp.up_proj.weight", t[our + "mlp/up/weight"], our + "mlp/up/weight", "copy")
        m.put(hf + "mlp.down_proj.weight", t[our + "mlp/down/weight"], our + "mlp/down/weight", "copy")
        m.put(hf + "input_layernorm.weight", t[our + "attn_norm/weight"], our + "attn_norm/weight", "copy")
        m.put(hf + "post_attention_layernorm.weight", t[our + "mlp_norm/weight"], our + "mlp_norm/weight", "copy")
    m.put("model.norm.weight", t["final_norm/weight"], "final_norm/weight", "copy")
    m.put("lm_head.weight", t["lm_head/weight"], "lm_head/weight", "copy")
    return m


# ---------------------------------------------------------------------------
# Writing folders
# ---------------------------------------------------------------------------

def write_json(path, value, indent=2, sort_keys=False, newline=True, ensure_ascii=False, compact=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    separators = (",", ":") if compact else None
    text = json.dumps(value, indent=None if compact else indent, sort_keys=sort_keys,
                      ensure_ascii=ensure_ascii, separators=separators)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(text + ("\n" if newline else ""))


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as out:
        out.write(text)


def save_safetensors(path, tensors):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, path, metadata=dict(ST_METADATA))
    os.chmod(path, 0o644)           # safetensors creates the file 0600


def write_config(folder, config):
    # transformers' PretrainedConfig.to_json_file: indent 2, sorted keys.
    write_json(os.path.join(folder, "config.json"), config, sort_keys=True)


def added_token(token_id, content, normalized=False):
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": normalized, "special": True}


def vocab_dict(tokens):
    vocab = {}
    for i, token in enumerate(tokens):
        assert token not in vocab, "duplicate token %r: tokenizer.json cannot hold it" % token
        vocab[token] = i
    return vocab


# --- BERT / sentence-transformers -------------------------------------------------

def bert_files(folder, cfg, tok):
    tokens = tok["tokens"]
    special = {k: tokens[cfg[k + "_token_id"]] for k in ("pad", "unk", "cls", "sep", "mask")}
    write_config(folder, {
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": {"gelu_erf": "gelu"}[cfg["activation"]],
        "hidden_dropout_prob": 0.1,
        "hidden_size": cfg["model_dim"],
        "initializer_range": 0.02,
        "intermediate_size": cfg["ffn_dim"],
        "layer_norm_eps": cfg["norm_epsilon"],
        "max_position_embeddings": cfg["max_positions"],
        "model_type": "bert",
        "num_attention_heads": cfg["head_count"],
        "num_hidden_layers": cfg["layer_count"],
        "pad_token_id": cfg["pad_token_id"],
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "transformers_version": "4.8.2",
        "type_vocab_size": cfg["type_vocab_size"],
        "use_cache": True,
        "vocab_size": cfg["vocab_size"],
    })
    write_text(os.path.join(folder, "vocab.txt"), "".join(t + "\n" for t in tokens))
    max_length = tok["max_length"]
    cls_id, sep_id = cfg["cls_token_id"], cfg["sep_token_id"]
    # BertNormalizer: strip_accents null means "follow lowercase"; write null when that is what the
    # fixture says (as the real MiniLM file does), the explicit bool otherwise.
    strip = None if tok["strip_accents"] == tok["lowercase"] else tok["strip_accents"]

    def spec(token, type_id):
        return {"SpecialToken": {"id": token, "type_id": type_id}}

    def seq(name, type_id):
        return {"Sequence": {"id": name, "type_id": type_id}}
    tokenizer = {
        "version": "1.0",
        # all-MiniLM-L6-v2's tokenizer.json carries truncation and fixed padding, as here.
        "truncation": {"max_length": max_length, "strategy": "LongestFirst", "stride": 0},
        "padding": {"strategy": {"Fixed": max_length}, "direction": "Right", "pad_to_multiple_of": None,
                    "pad_id": cfg["pad_token_id"], "pad_type_id": 0, "pad_token": special["pad"]},
        "added_tokens": [
            {"id": cfg[k + "_token_id"], "special": True, "content": special[k], "single_word": False,
             "lstrip": False, "rstrip": False, "normalized": False}
            for k in sorted(special, key=lambda k: cfg[k + "_token_id"])],
        "normalizer": {"type": "BertNormalizer", "clean_text": tok["clean_text"],
                       "handle_chinese_chars": tok["chinese_chars"], "strip_accents": strip,
                       "lowercase": tok["lowercase"]},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [spec(special["cls"], 0), seq("A", 0), spec(special["sep"], 0)],
            "pair": [spec(special["cls"], 0), seq("A", 0), spec(special["sep"], 0), seq("B", 1),
                     spec(special["sep"], 1)],
            "special_tokens": {
                special["cls"]: {"id": special["cls"], "ids": [cls_id], "tokens": [special["cls"]]},
                special["sep"]: {"id": special["sep"], "ids": [sep_id], "tokens": [special["sep"]]},
            },
        },
        "decoder": {"type": "WordPiece", "prefix": tok["continuing_prefix"], "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": special["unk"],
                  "continuing_subword_prefix": tok["continuing_prefix"],
                  "max_input_chars_per_word": tok["max_word_chars"], "vocab": vocab_dict(tokens)},
    }
    write_json(os.path.join(folder, "tokenizer.json"), tokenizer, compact=True, newline=False)
    # The two files below are single-line Python json.dumps output in the MiniLM folder.
    tokenizer_config = {
        "do_lower_case": tok["lowercase"], "unk_token": special["unk"], "sep_token": special["sep"],
        "pad_token": special["pad"], "cls_token": special["cls"], "mask_token": special["mask"],
        "tokenize_chinese_chars": tok["chinese_chars"], "strip_accents": strip,
        "name_or_path": "qkv/bert-tiny", "do_basic_tokenize": True, "never_split": None,
        "tokenizer_class": "BertTokenizer", "model_max_length": cfg["max_positions"],
    }
    write_json(os.path.join(folder, "tokenizer_config.json"), tokenizer_config, indent=None, newline=False)
    write_json(os.path.join(folder, "special_tokens_map.json"),
               {"unk_token": special["unk"], "sep_token": special["sep"], "pad_token": special["pad"],
                "cls_token": special["cls"], "mask_token": special["mask"]}, indent=None, newline=False)
    # sentence-transformers extras, shaped exactly as in all-MiniLM-L6-v2 (whose modules.json names a
    # 2_Normalize module that has no folder: Normalize has no configuration).
    write_json(os.path.join(folder, "modules.json"), [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ], newline=False)
    write_json(os.path.join(folder, "1_Pooling", "config.json"), {
        "word_embedding_dimension": cfg["model_dim"],
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
    }, newline=False)
    write_json(os.path.join(folder, "sentence_bert_config.json"),
               {"max_seq_length": max_length, "do_lower_case": False}, newline=False)
    write_json(os.path.join(folder, "config_sentence_transformers.json"),
               {"__version__": {"sentence_transformers": "2.0.0", "transformers": "4.6.1",
                                "pytorch": "1.8.1"}}, newline=False)


# --- GPT-2 -------------------------------------------------------------------------

def gpt2_files(folder, cfg, tok, architecture="GPT2LMHeadModel"):
    tokens, merges = tok["tokens"], tok["merges"]
    eos = tokens[cfg["eos_token_id"]]
    write_config(folder, {
        "activation_function": {"gelu_tanh": "gelu_new"}[cfg["activation"]],
        "architectures": [architecture],
        "attn_pdrop": 0.1,
        "bos_token_id": cfg["bos_token_id"],
        "embd_pdrop": 0.1,
        "eos_token_id": cfg["eos_token_id"],
        "initializer_range": 0.02,
        "layer_norm_epsilon": cfg["norm_epsilon"],
        "model_type": "gpt2",
        "n_ctx": cfg["max_positions"],
        "n_embd": cfg["model_dim"],
        "n_head": cfg["head_count"],
        "n_inner": cfg["ffn_dim"],
        "n_layer": cfg["layer_count"],
        "n_positions": cfg["max_positions"],
        "resid_pdrop": 0.1,
        "tie_word_embeddings": cfg["tied_embeddings"],
        "vocab_size": cfg["vocab_size"],
    })
    # vocab.json with \\u escapes, as OpenAI's encoder.json; merges.txt with the "#version" line.
    write_json(os.path.join(folder, "vocab.json"), vocab_dict(tokens), compact=True, newline=False,
               ensure_ascii=True)
    write_text(os.path.join(folder, "merges.txt"), "#version: 0.2\n" + "".join(mg + "\n" for mg in merges))
    byte_level = {"add_prefix_space": tok["add_prefix_space"], "trim_offsets": True, "use_regex": True}
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added_token(cfg["eos_token_id"], eos, normalized=True)],
        "normalizer": None,
        "pre_tokenizer": dict({"type": "ByteLevel"}, **byte_level),
        "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        # The Hub's gpt2 style: merges as "left right" strings.
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab_dict(tokens), "merges": list(merges)},
    }
    write_json(os.path.join(folder, "tokenizer.json"), tokenizer, compact=True, newline=False)
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "add_prefix_space": tok["add_prefix_space"], "bos_token": tokens[cfg["bos_token_id"]],
        "eos_token": eos, "unk_token": eos, "model_max_length": cfg["max_positions"],
        "tokenizer_class": "GPT2Tokenizer"})


# --- LLaMA -------------------------------------------------------------------------

def sentencepiece_merges(tokens):
    """BPE merges for a SentencePiece vocabulary, as transformers' SentencePieceExtractor derives
    them: every split of a token into two tokens of the vocabulary, ordered by the merged token's id
    (SentencePiece ranks pieces by score, and the ids follow the scores), then the pieces' ids."""
    vocab = vocab_dict(tokens)
    merges = []
    for merged, merged_id in vocab.items():
        for k in range(1, len(merged)):
            left, right = merged[:k], merged[k:]
            if left in vocab and right in vocab:
                merges.append((merged_id, vocab[left], vocab[right], left, right))
    merges.sort()
    return [[left, right] for _, _, _, left, right in merges]


def llama_files(folder, cfg, tok):
    tokens = tok["tokens"]
    bos, eos, unk = (tokens[cfg[k + "_token_id"]] for k in ("bos", "eos", "unk"))
    write_config(folder, {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": cfg["attention_bias"],
        "attention_dropout": 0.0,
        "bos_token_id": cfg["bos_token_id"],
        "eos_token_id": cfg["eos_token_id"],
        "head_dim": cfg["head_dim"],
        "hidden_act": cfg["activation"],
        "hidden_size": cfg["model_dim"],
        "initializer_range": 0.02,
        "intermediate_size": cfg["ffn_dim"],
        "max_position_embeddings": cfg["max_positions"],
        "mlp_bias": cfg["mlp_bias"],
        "model_type": "llama",
        "num_attention_heads": cfg["head_count"],
        "num_hidden_layers": cfg["layer_count"],
        "num_key_value_heads": cfg["kv_head_count"],
        "pretraining_tp": 1,
        "rms_norm_eps": cfg["norm_epsilon"],
        "rope_scaling": None,
        "rope_theta": cfg["rope_theta"],
        "tie_word_embeddings": cfg["tied_embeddings"],
        "torch_dtype": "float32",
        "transformers_version": "4.44.0",
        "use_cache": True,
        "vocab_size": cfg["vocab_size"],
    })
    specials = [(cfg[k + "_token_id"], tokens[cfg[k + "_token_id"]]) for k in ("unk", "bos", "eos")]
    single = [{"SpecialToken": {"id": bos, "type_id": 0}}] if tok["add_bos"] else []
    single.append({"Sequence": {"id": "A", "type_id": 0}})
    if tok["add_eos"]:
        single.append({"SpecialToken": {"id": eos, "type_id": 0}})
    pair = single + [{k: dict(v, id="B" if k == "Sequence" else v["id"], type_id=1) for k, v in x.items()}
                     for x in single]
    used = sorted({x["SpecialToken"]["id"] for x in single if "SpecialToken" in x})
    tokenizer = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added_token(i, t) for i, t in specials],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": "\u2581"},
            {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing", "single": single, "pair": pair,
                           "special_tokens": {t: {"id": t, "ids": [tokens.index(t)], "tokens": [t]} for t in used}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        # Scores and token types have no place in tokenizer.json: the vocabulary order is all there
        # is. Merges as [left, right] pairs, as tokenizers >= 0.20 writes them.
        "model": {"type": "BPE", "dropout": None, "unk_token": unk, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": tok["byte_fallback"],
                  "ignore_merges": False, "vocab": vocab_dict(tokens), "merges": sentencepiece_merges(tokens)},
    }
    write_json(os.path.join(folder, "tokenizer.json"), tokenizer)
    write_json(os.path.join(folder, "tokenizer_config.json"), {
        "add_bos_token": tok["add_bos"],
        "add_eos_token": tok["add_eos"],
        "added_tokens_decoder": {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                          "single_word": False, "special": True} for i, t in specials},
        "bos_token": bos,
        "clean_up_tokenization_spaces": False,
        "eos_token": eos,
        "legacy": False,
        "model_max_length": tok["max_length"],
        "pad_token": None,
        "padding_side": "right",
        "sp_model_kwargs": {},
        "tokenizer_class": "LlamaTokenizer",
        "unk_token": unk,
    })
    write_json(os.path.join(folder, "special_tokens_map.json"),
               {"bos_token": bos, "eos_token": eos, "unk_token": unk})


def shard_greedy(tensors, max_shard_bytes):
    """transformers' split: walk the state dict in order, start a new shard when the next tensor
    would take the current one past the limit. Returns a list of {name: array}."""
    shards, current, size = [], {}, 0
    for name, array in tensors.items():
        if current and size + array.nbytes > max_shard_bytes:
            shards.append(current)
            current, size = {}, 0
        current[name] = array
        size += array.nbytes
    if current:
        shards.append(current)
    return shards


# ---------------------------------------------------------------------------
# The folders and hf/expected.json
# ---------------------------------------------------------------------------

def expected_record(fixture_name, mapping, canonical, fixture_expected, files, prefix_note):
    record = {"source_fixture": fixture_name, "files": files, "note": prefix_note, "tensors": {},
              "dropped": list(mapping.dropped), "hf_tensors": {}}
    assert set(mapping.sources) == set(canonical), sorted(set(canonical) ^ set(mapping.sources))
    for name in canonical:            # the canonical fixture's order
        array = canonical[name]
        crc = crc32(array)
        assert crc == fixture_expected["tensors"][name]["crc32"], name
        hf_names, transform = mapping.sources[name]
        record["tensors"][name] = {"dtype": "f32", "shape": list(array.shape), "crc32": crc,
                                   "hf": hf_names, "transform": transform}
    covered = {n for hf_names, _ in mapping.sources.values() for n in hf_names}
    assert covered | set(mapping.dropped) == set(mapping.hf), "an HF tensor maps to nothing"
    for name, array in mapping.hf.items():
        record["hf_tensors"][name] = {"dtype": {"<f4": "F32", "<i8": "I64"}[array.dtype.str],
                                      "shape": list(array.shape), "crc32": crc32(array)}
    return record


def write_hf(out_dir):
    """Write <out_dir>/hf/ from the canonical fixtures in out_dir; returns the written paths."""
    hf_root = os.path.join(out_dir, HF_DIR)
    if os.path.isdir(hf_root):
        shutil.rmtree(hf_root)          # generated folder: nothing stale survives
    with open(os.path.join(out_dir, "expected.json"), encoding="utf-8") as f:
        fixture_expected = json.load(f)
    expected = {}

    def load(name):
        return read_fixture(os.path.join(out_dir, name))

    # BERT
    cfg, tok, canonical = load("bert-tiny.h5")
    folder = os.path.join(hf_root, "bert-tiny")
    m = bert_to_hf(cfg, canonical)
    save_safetensors(os.path.join(folder, "model.safetensors"), m.hf)
    bert_files(folder, cfg, tok)
    expected["bert-tiny"] = expected_record(
        "bert-tiny.h5", m, canonical, fixture_expected["bert-tiny.h5"], ["model.safetensors"],
        "BertModel names as in sentence-transformers/all-MiniLM-L6-v2; embeddings.position_ids is a buffer")

    # GPT-2: the Hub's layout, and what save_pretrained writes today.
    cfg, tok, canonical = load("gpt2-tiny.h5")
    for name, prefix, masks, note in (
            ("gpt2-tiny", "", True,
             "the Hub's gpt2 layout: GPT2Model names without a prefix, h.{i}.attn.bias causal-mask "
             "buffers [1, 1, P, P] f32, no lm_head.weight (tied to wte)"),
            ("gpt2-tiny-lmhead", "transformer.", False,
             "transformers' save_pretrained of a GPT2LMHeadModel: 'transformer.' prefix, no buffers "
             "(non-persistent), no lm_head.weight (tied to transformer.wte, dropped as shared)")):
        folder = os.path.join(hf_root, name)
        m = gpt2_to_hf(cfg, canonical, prefix=prefix, mask_buffers=masks)
        save_safetensors(os.path.join(folder, "model.safetensors"), m.hf)
        gpt2_files(folder, cfg, tok)
        expected[name] = expected_record("gpt2-tiny.h5", m, canonical, fixture_expected["gpt2-tiny.h5"],
                                         ["model.safetensors"], note)

    # LLaMA, single file and sharded.
    cfg, tok, canonical = load("llama-tiny.h5")
    m = llama_to_hf(cfg, canonical)
    folder = os.path.join(hf_root, "llama-tiny")
    save_safetensors(os.path.join(folder, "model.safetensors"), m.hf)
    llama_files(folder, cfg, tok)
    expected["llama-tiny"] = expected_record(
        "llama-tiny.h5", m, canonical, fixture_expected["llama-tiny.h5"], ["model.safetensors"],
        "LlamaForCausalLM names; Q/K in Hugging Face's rotate_half layout, as ours (no permutation)")

    folder = os.path.join(hf_root, "llama-tiny-sharded")
    shards = shard_greedy(m.hf, LLAMA_MAX_SHARD_BYTES)
    assert len(shards) == LLAMA_SHARDS, [len(s) for s in shards]
    files, weight_map = [], {}
    for k, shard in enumerate(shards):
        filename = "model-%05d-of-%05d.safetensors" % (k + 1, len(shards))
        save_safetensors(os.path.join(folder, filename), shard)
        files.append(filename)
        weight_map.update({name: filename for name in shard})
    total = int(sum(a.nbytes for a in m.hf.values()))
    # transformers: json.dumps(index, indent=2, sort_keys=True) + "\n"
    write_json(os.path.join(folder, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": weight_map}, sort_keys=True)
    llama_files(folder, cfg, tok)
    expected["llama-tiny-sharded"] = expected_record(
        "llama-tiny.h5", m, canonical, fixture_expected["llama-tiny.h5"], files,
        "llama-tiny's tensors split by transformers' greedy sharding with max_shard_size 32KB (32,000 bytes)")
    expected["llama-tiny-sharded"]["weight_map"] = weight_map

    # State dicts saved with h5py (one dataset per tensor): BERT with the dotted names and its Hugging
    # Face config as a root attribute; LLaMA with the dots as groups and config.json beside the file.
    import h5py
    cfg, tok, canonical = load("bert-tiny.h5")
    m = bert_to_hf(cfg, canonical)
    with open(os.path.join(hf_root, "bert-tiny", "config.json"), encoding="utf-8") as f:
        bert_config = f.read()
    with h5py.File(os.path.join(hf_root, "bert-tiny-state-dict.h5"), "w", track_order=False) as f:
        f.attrs["config"] = bert_config
        for name, array in sorted(m.hf.items()):
            f.create_dataset(name, data=array, track_times=False)
    expected["bert-tiny-state-dict.h5"] = dict(expected["bert-tiny"], note="h5py state dict, dotted names, config attribute")
    cfg, tok, canonical = load("llama-tiny.h5")
    m = llama_to_hf(cfg, canonical)
    folder = os.path.join(hf_root, "llama-tiny-state-dict")
    os.makedirs(folder, exist_ok=True)
    shutil.copy(os.path.join(hf_root, "llama-tiny", "config.json"), folder)
    with h5py.File(os.path.join(folder, "model.h5"), "w", track_order=False) as f:
        for name, array in sorted(m.hf.items()):
            f.create_dataset(name.replace(".", "/"), data=array, track_times=False)
    expected["llama-tiny-state-dict/model.h5"] = dict(expected["llama-tiny"], note="h5py state dict, dots as groups, config.json beside")

    path = os.path.join(hf_root, "expected.json")
    write_json(path, expected, indent=1)
    written = []
    for root, _, names in os.walk(hf_root):
        written.extend(os.path.join(root, n) for n in names)
    return sorted(written)


# ---------------------------------------------------------------------------
# Bad .safetensors files
# ---------------------------------------------------------------------------
#
# Every file is built by st_file(): the 8-byte little-endian header length, the header text, the
# data buffer. The header is written by dumps(), a tiny JSON writer that, unlike json.dumps, keeps
# duplicate keys (an Obj is a list of pairs). Headers are padded with spaces to a multiple of 8
# bytes, as the safetensors writer does (JSON whitespace, so it changes nothing).

class Obj:
    """A JSON object as an ordered list of (key, value) pairs; keys may repeat."""

    def __init__(self, *pairs):
        self.pairs = list(pairs)


class Raw:
    """JSON text written as is (a number like 1.5 or -4, or anything broken)."""

    def __init__(self, text):
        self.text = text


def dumps(value):
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        return "{" + ",".join(dumps(k) + ":" + dumps(v) for k, v in value.pairs) + "}"
    if isinstance(value, dict):
        return dumps(Obj(*value.items()))
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def entry(dtype, shape, begin, end):
    return Obj(("dtype", dtype), ("shape", shape), ("data_offsets", [begin, end]))


def header(*tensors, metadata=True):
    """A header object: __metadata__ {"format": "pt"} first (as the writer puts it), then the
    (name, entry) pairs in the given order."""
    pairs = [("__metadata__", Obj(("format", "pt")))] if metadata else []
    return Obj(*(pairs + list(tensors)))


def data_bytes(n):
    """n deterministic bytes (the float32 values 1, 2, 3, ... for the tensors here)."""
    words = np.arange(1, n // 4 + 2, dtype="<f4").tobytes()
    return words[:n]


def st_file(head, data=b"", length=None, pad=True):
    """The bytes of a .safetensors file. `head` is an Obj/Raw/... (serialised with dumps) or bytes
    used as is; `length` overrides the header length field."""
    text = head if isinstance(head, bytes) else dumps(head).encode("utf-8")
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text) if length is None else length) + text + data


F32_1 = lambda b: entry("F32", [1], b, b + 4)  # noqa: E731  one float at offset b

BAD_CASES = []   # (filename, error case, why, bytes)


def bad(filename, error, why, content):
    assert error in SAFETENSORS_ERRORS, error
    BAD_CASES.append((filename, "SafetensorsError." + error, why, content))


SAFETENSORS_ERRORS = {
    "tooSmall", "headerTooLarge", "headerPastEnd", "headerNotUTF8", "headerNotJSON", "headerNotObject",
    "duplicateKey", "invalidMetadata", "invalidEntry", "unsupportedDType", "reversedOffsets",
    "elementCountOverflow", "byteLengthMismatch", "overlappingTensor", "gapBeforeTensor",
    "dataLengthMismatch",
}


def build_bad_cases():
    """Fill BAD_CASES. Each file breaks exactly one rule; where a broken entry also makes a later
    check fail (a reversed range has no valid length), the entry-level error is the expected one,
    since entries are checked before the layout (sorted by begin) and the layout before the total
    length."""
    del BAD_CASES[:]
    valid = header(("a", F32_1(0)))
    valid_file = st_file(valid, data_bytes(4))

    # --- the first 8 bytes and the header's extent ------------------------------------------
    bad("too-small-empty.safetensors", "tooSmall", "an empty file: no 8-byte header length", b"")
    bad("too-small-7-bytes.safetensors", "tooSmall",
        "7 bytes, the first 7 of a valid file's header length", valid_file[:7])
    bad("header-too-large.safetensors", "headerTooLarge",
        "header length 100,000,001, one past the 100,000,000-byte limit (checked before the file size)",
        st_file(valid, data_bytes(4), length=100000001))
    bad("header-length-u64-max.safetensors", "headerTooLarge",
        "header length 2^64 - 1", st_file(valid, data_bytes(4), length=2 ** 64 - 1))
    n = len(st_file(valid, data_bytes(4))) - 8
    bad("header-past-end.safetensors", "headerPastEnd",
        "header length %d, one more than the %d bytes after the length field" % (n + 1, n),
        st_file(valid, data_bytes(4), length=n + 1))

    # --- the header text ------------------------------------------------------------------------
    bad("header-not-utf8.safetensors", "headerNotUTF8",
        "the tensor name holds the byte 0xFF, never valid in UTF-8",
        st_file(b'{"__metadata__":{"format":"pt"},"a\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                data_bytes(4)))
    bad("header-utf8-surrogate.safetensors", "headerNotUTF8",
        "the tensor name holds ED A0 80, the UTF-8-style encoding of the surrogate U+D800 (CESU-8), "
        "which UTF-8 forbids",
        st_file(b'{"__metadata__":{"format":"pt"},"a\xed\xa0\x80":{"dtype":"F32","shape":[1],'
                b'"data_offsets":[0,4]}}', data_bytes(4)))
    bad("header-empty.safetensors", "headerNotJSON",
        "header length 0: an empty header is not JSON", st_file(b"", b"", pad=False))
    bad("header-not-json-truncated.safetensors", "headerNotJSON",
        "the header text stops inside the object (no closing braces)",
        st_file(b'{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1]', data_bytes(4)))
    bad("header-not-json-trailing.safetensors", "headerNotJSON",
        "a valid object followed by the text 'x' (spaces after it are fine, anything else is not)",
        st_file(dumps(valid).encode() + b" x", data_bytes(4)))
    bad("header-not-json-trailing-comma.safetensors", "headerNotJSON",
        "a comma after the last member of the object",
        st_file(dumps(valid)[:-1].encode() + b",}", data_bytes(4)))
    bad("header-array.safetensors", "headerNotObject", "the header is the JSON array []", st_file(b"[]"))
    bad("header-string.safetensors", "headerNotObject",
        'the header is the JSON string "F32"', st_file(b'"F32"'))

    # --- duplicate keys (the reference keeps the last tensor entry silently) ----------------
    bad("duplicate-tensor-name.safetensors", "duplicateKey",
        "tensor a appears twice in the header, with identical entries (key: a)",
        st_file(header(("a", F32_1(0)), ("a", F32_1(0))), data_bytes(4)))
    bad("duplicate-metadata.safetensors", "duplicateKey",
        "__metadata__ appears twice, both {\"format\": \"pt\"} (key: __metadata__)",
        st_file(Obj(("__metadata__", Obj(("format", "pt"))), ("__metadata__", Obj(("format", "pt"))),
                    ("a", F32_1(0))), data_bytes(4)))
    bad("duplicate-metadata-key.safetensors", "duplicateKey",
        "__metadata__ holds the key format twice, both \"pt\" (key: format)",
        st_file(Obj(("__metadata__", Obj(("format", "pt"), ("format", "pt"))), ("a", F32_1(0))),
                data_bytes(4)))
    bad("duplicate-entry-field.safetensors", "duplicateKey",
        "tensor a's entry holds dtype twice, both \"F32\" (key: dtype)",
        st_file(header(("a", Obj(("dtype", "F32"), ("dtype", "F32"), ("shape", [1]),
                                 ("data_offsets", [0, 4])))), data_bytes(4)))

    # --- __metadata__ -------------------------------------------------------------------------
    bad("metadata-value-int.safetensors", "invalidMetadata",
        "__metadata__ is {\"format\": 1}: the value is a number, not a string",
        st_file(Obj(("__metadata__", Obj(("format", 1))), ("a", F32_1(0))), data_bytes(4)))
    bad("metadata-value-object.safetensors", "invalidMetadata",
        "__metadata__ is {\"format\": {\"pt\": \"1\"}}: the value is an object, not a string",
        st_file(Obj(("__metadata__", Obj(("format", Obj(("pt", "1"))))), ("a", F32_1(0))), data_bytes(4)))
    bad("metadata-not-object.safetensors", "invalidMetadata",
        "__metadata__ is the string \"pt\", not an object",
        st_file(Obj(("__metadata__", "pt"), ("a", F32_1(0))), data_bytes(4)))

    # --- tensor entries -------------------------------------------------------------------------
    def entry_case(filename, why, value):
        bad(filename, "invalidEntry", why, st_file(header(("a", value)), data_bytes(4)))

    entry_case("entry-missing-dtype.safetensors", "tensor a has shape and data_offsets but no dtype",
               Obj(("shape", [1]), ("data_offsets", [0, 4])))
    entry_case("entry-missing-shape.safetensors", "tensor a has dtype and data_offsets but no shape",
               Obj(("dtype", "F32"), ("data_offsets", [0, 4])))
    entry_case("entry-missing-offsets.safetensors", "tensor a has dtype and shape but no data_offsets",
               Obj(("dtype", "F32"), ("shape", [1])))
    entry_case("entry-offsets-three.safetensors", "tensor a's data_offsets is [0, 4, 8]: three numbers",
               Obj(("dtype", "F32"), ("shape", [1]), ("data_offsets", [0, 4, 8])))
    entry_case("entry-offsets-one.safetensors", "tensor a's data_offsets is [4]: one number",
               Obj(("dtype", "F32"), ("shape", [1]), ("data_offsets", [4])))
    entry_case("entry-offset-negative.safetensors", "tensor a's data_offsets is [-4, 0]: a negative offset",
               Obj(("dtype", "F32"), ("shape", [1]), ("data_offsets", [Raw("-4"), 0])))
    entry_case("entry-offset-fraction.safetensors", "tensor a's data_offsets is [0, 4.5]: not an integer",
               Obj(("dtype", "F32"), ("shape", [1]), ("data_offsets", [0, Raw("4.5")])))
    entry_case("entry-shape-negative.safetensors", "tensor a's shape is [-1]: a negative dimension",
               Obj(("dtype", "F32"), ("shape", [Raw("-1")]), ("data_offsets", [0, 4])))
    entry_case("entry-shape-fraction.safetensors", "tensor a's shape is [1.5]: a dimension that is not an integer",
               Obj(("dtype", "F32"), ("shape", [Raw("1.5")]), ("data_offsets", [0, 4])))
    entry_case("entry-shape-string.safetensors", 'tensor a\'s shape is ["1"]: a dimension that is a string',
               Obj(("dtype", "F32"), ("shape", ["1"]), ("data_offsets", [0, 4])))
    entry_case("entry-shape-not-array.safetensors", "tensor a's shape is the number 1, not an array",
               Obj(("dtype", "F32"), ("shape", 1), ("data_offsets", [0, 4])))
    entry_case("entry-dtype-not-string.safetensors", "tensor a's dtype is the number 32, not a string",
               Obj(("dtype", 32), ("shape", [1]), ("data_offsets", [0, 4])))
    entry_case("entry-not-object.safetensors", "tensor a's entry is the array [0, 4], not an object",
               [0, 4])

    # --- dtypes ------------------------------------------------------------------------------------
    for filename, dtype, shape, why in (
            ("dtype-f8-e4m3.safetensors", "F8_E4M3", [4],
             "tensor a is F8_E4M3 [4] (4 bytes): a dtype the reference knows but qkv does not read"),
            ("dtype-bool.safetensors", "BOOL", [4],
             "tensor a is BOOL [4] (4 bytes): a dtype the reference knows but qkv does not read"),
            ("dtype-u32.safetensors", "U32", [1],
             "tensor a is U32 [1] (4 bytes): a dtype the reference knows but qkv does not read"),
            ("dtype-xyz.safetensors", "XYZ", [1], "tensor a's dtype is XYZ, which no one defines"),
            ("dtype-lowercase.safetensors", "f32", [1], "tensor a's dtype is f32: dtype names are upper case")):
        bad(filename, "unsupportedDType", why, st_file(header(("a", entry(dtype, shape, 0, 4))), data_bytes(4)))

    # --- offsets and sizes -------------------------------------------------------------------------
    bad("reversed-offsets.safetensors", "reversedOffsets",
        "tensor b (F32 [1]) has data_offsets [4, 0]: it starts where a ends but its end is before its begin",
        st_file(header(("a", F32_1(0)), ("b", entry("F32", [1], 4, 0))), data_bytes(8)))
    bad("element-count-overflow.safetensors", "elementCountOverflow",
        "tensor a is F32 [4294967296, 4294967296]: 2^64 elements (data_offsets [0, 4])",
        st_file(header(("a", entry("F32", [2 ** 32, 2 ** 32], 0, 4))), data_bytes(4)))
    bad("byte-size-overflow.safetensors", "elementCountOverflow",
        "tensor a is F32 [2305843009213693952]: 2^61 elements fit, their 2^63 bytes do not (data_offsets [0, 4])",
        st_file(header(("a", entry("F32", [2 ** 61], 0, 4))), data_bytes(4)))
    bad("element-count-2-63.safetensors", "elementCountOverflow",
        "tensor a is U8 [4294967296, 2147483648]: 2^63 elements, one past 63 bits (data_offsets [0, 4])",
        st_file(header(("a", entry("U8", [2 ** 32, 2 ** 31], 0, 4))), data_bytes(4)))
    bad("byte-length-short.safetensors", "byteLengthMismatch",
        "tensor a is F32 [2] (8 bytes) with data_offsets [0, 4] (4 bytes)",
        st_file(header(("a", entry("F32", [2], 0, 4))), data_bytes(4)))
    bad("byte-length-long.safetensors", "byteLengthMismatch",
        "tensor a is F32 [1] (4 bytes) with data_offsets [0, 8] (8 bytes)",
        st_file(header(("a", entry("F32", [1], 0, 8))), data_bytes(8)))
    bad("byte-length-scalar.safetensors", "byteLengthMismatch",
        "tensor a is F32 [] (a scalar: 1 element, 4 bytes) with data_offsets [0, 0]",
        st_file(header(("a", entry("F32", [], 0, 0)))))
    bad("byte-length-zero-dim.safetensors", "byteLengthMismatch",
        "tensor a is F32 [0, 4] (0 elements, 0 bytes) with data_offsets [0, 16]",
        st_file(header(("a", entry("F32", [0, 4], 0, 16))), data_bytes(16)))

    # --- layout, sorted by begin offset ---------------------------------------------------------
    bad("overlapping-tensor.safetensors", "overlappingTensor",
        "b (listed first) is F32 [2] at [4, 12], a is F32 [2] at [0, 8]; sorted, b begins at 4 inside a "
        "(expected 8)",
        st_file(header(("b", entry("F32", [2], 4, 12)), ("a", entry("F32", [2], 0, 8))), data_bytes(12)))
    bad("overlapping-empty-tensor.safetensors", "overlappingTensor",
        "b is F32 [0] at [4, 4], inside a, F32 [2] at [0, 8]; sorted, b begins at 4 (expected 8)",
        st_file(header(("a", entry("F32", [2], 0, 8)), ("b", entry("F32", [0], 4, 4))), data_bytes(8)))
    bad("gap-between-tensors.safetensors", "gapBeforeTensor",
        "a is F32 [1] at [0, 4], b F32 [1] at [8, 12]: bytes 4..<8 belong to no tensor; "
        "b begins at 8 (expected 4)",
        st_file(header(("a", F32_1(0)), ("b", F32_1(8))), data_bytes(12)))
    bad("gap-at-start.safetensors", "gapBeforeTensor",
        "the only tensor a is F32 [1] at [4, 8]: bytes 0..<4 belong to no tensor; a begins at 4 (expected 0)",
        st_file(header(("a", F32_1(4))), data_bytes(8)))

    # --- the data buffer's length ---------------------------------------------------------------------
    bad("truncated-data.safetensors", "dataLengthMismatch",
        "a is F32 [2] at [0, 8] but the data buffer has 4 bytes (truncated)",
        st_file(header(("a", entry("F32", [2], 0, 8))), data_bytes(4)))
    bad("trailing-bytes.safetensors", "dataLengthMismatch",
        "a is F32 [1] at [0, 4] but the data buffer has 8 bytes (4 trailing)",
        st_file(header(("a", F32_1(0))), data_bytes(8)))
    bad("no-tensors-trailing-bytes.safetensors", "dataLengthMismatch",
        "the header has only __metadata__ (no tensors end at 0) and the data buffer has 4 bytes",
        st_file(header(), data_bytes(4)))
    return BAD_CASES


def write_bad(out_dir):
    """Write <out_dir>/bad-safetensors/; returns the written paths."""
    folder = os.path.join(out_dir, BAD_DIR)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    manifest, written = {}, []
    for filename, error, why, content in build_bad_cases():
        assert filename not in manifest, filename
        path = os.path.join(folder, filename)
        with open(path, "wb") as out:
            out.write(content)
        manifest[filename] = {"error": error, "why": why}
        written.append(path)
    covered = {v["error"].split(".", 1)[1] for v in manifest.values()}
    assert covered == SAFETENSORS_ERRORS, SAFETENSORS_ERRORS - covered
    path = os.path.join(folder, MANIFEST)
    write_json(path, manifest, indent=1)
    written.append(path)
    return written


def write_all(out_dir=DEFAULT_OUT, quiet=False):
    """Write <out_dir>/hf/ (from the canonical fixtures already in out_dir) and
    <out_dir>/bad-safetensors/."""
    written = write_hf(out_dir) + write_bad(out_dir)
    if not quiet:
        for path in written:
            print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="fixtures directory (default: %(default)s)")
    args = parser.parse_args(argv)
    write_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
