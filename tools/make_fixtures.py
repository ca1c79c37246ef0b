#!/usr/bin/env python3
"""Generate the qkv test fixtures: tiny random models in the qkv HDF5 layout.

This is an *independent* writer of the layout in Specs/hdf5-layout.md and
Specs/schema.md: it uses h5py and numpy only and shares no code with the Swift
implementation, so the Swift reader/writer can be checked against it.

Usage (from anywhere; the default output is <repo>/Fixtures):

    python3 tools/make_fixtures.py [--out DIR]

It writes:

    bert-tiny.h5          f32, post-norm encoder, WordPiece tokenizer
    gpt2-tiny.h5          f32, pre-norm decoder, byte-level BPE, tied embeddings
    gpt2-tiny-f16.h5      gpt2-tiny's tensors converted by numpy astype(float16)
    llama-tiny.h5         f32, GQA, RoPE, SwiGLU, sentencepiece BPE with byte fallback
    llama-tiny-bf16.h5    llama-tiny's tensors rounded to bfloat16 (u16 datasets)
    expected.json         config, token count, parameter count and per-tensor
                          dtype/shape/role/CRC-32 of every file above
    bad-hdf5/*.h5         invalid files: a smaller llama-tiny (bad_base_model())
                          with exactly one rule broken each (BAD_CASES)
    bad-hdf5/manifest.json  file name -> {"error": "<Type>.<case>" (the Swift
                          error a reader throws), "why": one line, and
                          "deep": true where only `validate --deep` finds it}

Everything is deterministic: weights come from numpy's legacy RandomState
(whose streams numpy keeps stable across versions), seeded per tensor, and the
HDF5 files are written without timestamps, so running the script twice gives
byte-identical files with the same h5py/libhdf5.
"""

import argparse
import copy
import json
import os
import re
import sys
import zlib
from collections import Counter

import h5py
import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "Fixtures")

# ---------------------------------------------------------------------------
# The schema (Specs/schema.md), transcribed as data.
# ---------------------------------------------------------------------------

# config.* keys and their schema value types.
CONFIG_KEYS = {
    "family": "string",
    "vocab_size": "int",
    "model_dim": "int",
    "layer_count": "int",
    "head_count": "int",
    "kv_head_count": "int",
    "head_dim": "int",
    "ffn_dim": "int",
    "max_positions": "int",
    "type_vocab_size": "int",
    "norm": "string",
    "norm_epsilon": "float",
    "norm_placement": "string",
    "embedding_norm": "bool",
    "activation": "string",
    "gated_mlp": "bool",
    "position_encoding": "string",
    "rope_theta": "float",
    "rope_layout": "string",
    "tied_embeddings": "bool",
    "attention_bias": "bool",
    "mlp_bias": "bool",
    "pooling": "string",
    "normalize": "bool",
    "bos_token_id": "int",
    "eos_token_id": "int",
    "pad_token_id": "int",
    "unk_token_id": "int",
    "cls_token_id": "int",
    "sep_token_id": "int",
    "mask_token_id": "int",
}

# config keys that must always be present (rope_theta/rope_layout are
# required only with position_encoding == "rope").
CONFIG_REQUIRED = [
    "family", "vocab_size", "model_dim", "layer_count", "head_count",
    "kv_head_count", "head_dim", "ffn_dim", "max_positions", "norm",
    "norm_epsilon", "norm_placement", "activation", "position_encoding",
]

# Defaults of the optional config keys (schema table, "required" column).
CONFIG_DEFAULTS = {
    "type_vocab_size": 0,
    "embedding_norm": False,
    "gated_mlp": False,
    "tied_embeddings": False,
    "attention_bias": False,
    "mlp_bias": False,
    "normalize": False,
}

# tokenizer.* keys and their schema value types.
TOKENIZER_KEYS = {
    "kind": "string",
    "tokens": "string[]",
    "scores": "float32[]",
    "token_types": "int32[]",
    "merges": "string[]",
    "lowercase": "bool",
    "strip_accents": "bool",
    "clean_text": "bool",
    "chinese_chars": "bool",
    "continuing_prefix": "string",
    "max_word_chars": "int",
    "add_prefix_space": "bool",
    "byte_fallback": "bool",
    "add_bos": "bool",
    "add_eos": "bool",
    "max_length": "int",
    "normalization": "string",
}

# Role names by code (schema.md, "Roles").
ROLE_CODES = {
    "token_embedding": 1, "position_embedding": 2, "token_type_embedding": 3,
    "embedding_norm": 4, "attn_q": 10, "attn_k": 11, "attn_v": 12,
    "attn_o": 13, "attn_norm": 14, "mlp_up": 20, "mlp_gate": 21,
    "mlp_down": 22, "mlp_norm": 23, "final_norm": 30, "lm_head": 31,
    "pooler": 32,
}

# The HDF5 storage type of each tensor dtype we write (hdf5-layout.md).
NUMPY_STORAGE = {"f32": np.dtype("<f4"), "f16": np.dtype("<f2"), "bf16": np.dtype("<u2")}


def config_value(config, key):
    """A config value, falling back to the schema default for optional keys."""
    if key in config:
        return config[key]
    return CONFIG_DEFAULTS.get(key)


def expected_tensors(config, has_pooler=False):
    """The tensor set the schema requires for `config`, in the writer's order.

    `config` maps config key names *without* the "config." prefix to values.
    Returns a list of (name, shape, role) tuples in the order of the schema's
    tensor table, layer by layer. `has_pooler` says whether the optional
    BERT pooler is present (it is the only optional tensor pair).
    """
    c = lambda key: config_value(config, key)  # noqa: E731
    V, D = c("vocab_size"), c("model_dim")
    H, K, d = c("head_count"), c("kv_head_count"), c("head_dim")
    F, P, T = c("ffn_dim"), c("max_positions"), c("type_vocab_size")
    layernorm = c("norm") == "layernorm"
    out = []

    def norm(prefix, role):
        # A norm has a weight, and a bias only with layernorm.
        out.append((prefix + "/weight", (D,), role))
        if layernorm:
            out.append((prefix + "/bias", (D,), role))

    out.append(("embed/token/weight", (V, D), "token_embedding"))
    if c("position_encoding") == "learned":
        out.append(("embed/position/weight", (P, D), "position_embedding"))
    if T > 0:
        out.append(("embed/token_type/weight", (T, D), "token_type_embedding"))
    if c("embedding_norm"):
        norm("embed/norm", "embedding_norm")

    for i in range(c("layer_count")):
        p = "layers/%d/" % i
        # Each bias follows its own weight (the writer's order, Specs/schema.md).
        for part, heads in (("q", H), ("k", K), ("v", K), ("o", H)):
            out.append((p + "attn/%s/weight" % part, (heads, d, D), "attn_" + part))
            if c("attention_bias"):
                out.append((p + "attn/%s/bias" % part, (D,) if part == "o" else (heads, d), "attn_" + part))
        norm(p + "attn_norm", "attn_norm")
        mlp = [("up", (F, D), (F,))]
        if c("gated_mlp"):
            mlp.append(("gate", (F, D), (F,)))
        mlp.append(("down", (D, F), (D,)))
        for part, weight_shape, bias_shape in mlp:
            out.append((p + "mlp/%s/weight" % part, weight_shape, "mlp_" + part))
            if c("mlp_bias"):
                out.append((p + "mlp/%s/bias" % part, bias_shape, "mlp_" + part))
        norm(p + "mlp_norm", "mlp_norm")

    if c("norm_placement") == "pre":
        norm("final_norm", "final_norm")
    if c("family") in ("gpt2", "llama") and not c("tied_embeddings"):
        out.append(("lm_head/weight", (V, D), "lm_head"))
    if has_pooler:
        out.append(("pooler/weight", (D, D), "pooler"))
        out.append(("pooler/bias", (D,), "pooler"))
    return out


# ---------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------

def bert_vocab():
    """64 WordPiece tokens: 5 specials, punctuation, words, then ## pieces."""
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    punctuation = [".", ",", "!", "?", "'"]
    words = [
        "the", "a", "an", "is", "was", "of", "and", "to", "in", "it", "this",
        "that", "cat", "dog", "sat", "on", "mat", "hello", "world", "play",
        "run", "jump", "read", "book", "good", "day", "time", "new", "old",
        "big", "small", "house", "tree", "sun", "moon", "star",
    ]
    pieces = [
        "##s", "##ed", "##ing", "##er", "##ly", "##est", "##y", "##n", "##ful",
        "##ness", "##able", "##less", "##ment", "##ist", "##al", "##ic",
        "##ish", "##o",
    ]
    tokens = specials + punctuation + words + pieces
    assert len(tokens) == 64 and len(set(tokens)) == 64
    return tokens


def gpt2_bytes_to_unicode():
    """GPT-2's byte -> printable character table, in GPT-2's id order.

    Returns a list of (byte, character) pairs; GPT-2's vocabulary gives the
    i-th pair the token id i (so "!" is 0 and "Ġ", the space, is 220).
    """
    bs = (list(range(ord("!"), ord("~") + 1))
          + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


# Text the tiny BPE is trained on. Fixed, so the merges are fixed.
GPT2_TRAINING_TEXT = (
    "The quick brown fox jumps over the lazy dog. Hello world! "
    "The cat sat on the mat, and the dog sat on the log. "
    "There is nothing either good or bad, but thinking makes it so. "
    "In the beginning the universe was created. This has made a lot of "
    "people very angry and been widely regarded as a bad move. "
    "It is a truth universally acknowledged, that the hello of the world "
    "is the start of the thing. 12345 67890 the the the hello hello world"
)

# GPT-2's pre-tokenizer, restricted to ASCII letters/digits (Python's re
# has no \p{L}); good enough for a fixed ASCII training text.
GPT2_PRETOKENIZE = re.compile(
    r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+")


def gpt2_train_merges(text, merge_count):
    """Train `merge_count` byte-level BPE merges on `text`, deterministically.

    Plain textbook BPE: repeatedly merge the most frequent adjacent pair
    (ties broken by the lexicographically smallest pair). Returns the merges
    as (left, right) pairs, highest priority first.
    """
    byte_char = dict(gpt2_bytes_to_unicode())
    words = Counter()
    for piece in GPT2_PRETOKENIZE.findall(text):
        words[tuple(byte_char[b] for b in piece.encode("utf-8"))] += 1

    merges = []
    for _ in range(merge_count):
        pairs = Counter()
        for word, count in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += count
        if not pairs:
            break
        best = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        merges.append(best)
        # Apply the merge to every word.
        new_words = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            new_words[tuple(out)] += count
        words = new_words
    return merges


def gpt2_vocab():
    """Byte-level BPE: 256 byte tokens, 40 merged tokens, <|endoftext|> last."""
    tokens = [ch for _, ch in gpt2_bytes_to_unicode()]
    merges = gpt2_train_merges(GPT2_TRAINING_TEXT, 40)
    assert len(merges) == 40
    for left, right in merges:
        assert left in tokens and right in tokens, (left, right)
        merged = left + right
        if merged not in tokens:       # a merge result is a token once
            tokens.append(merged)
    tokens.append("<|endoftext|>")
    return tokens, ["%s %s" % pair for pair in merges]


def llama_vocab():
    """SentencePiece-BPE vocabulary with byte fallback, LLaMA style.

    Returns (tokens, scores, token_types). Ids: <unk>=0 (type 2), <s>=1 and
    </s>=2 (type 3), <0x00>..<0x3F> (type 6, a subset of the 256 byte
    tokens), then normal pieces (type 1).
    """
    tokens, scores, types = [], [], []

    def add(token, score, kind):
        tokens.append(token)
        scores.append(score)
        types.append(kind)

    add("<unk>", 0.0, 2)
    add("<s>", 0.0, 3)
    add("</s>", 0.0, 3)
    for b in range(0x40):
        add("<0x%02X>" % b, 0.0, 6)
    # Merged pieces first, in merge priority order (higher score = earlier
    # merge); the scores are deliberately not integers.
    merged = ["▁t", "he", "▁the", "in", "er", "▁a"]
    for k, piece in enumerate(merged):
        add(piece, -(k + 1) - 0.1 * k, 1)
    # Then the single characters, with low scores.
    singles = ["▁"] + [chr(c) for c in range(ord("a"), ord("z") + 1)]
    for k, piece in enumerate(singles):
        add(piece, -100.0 - k, 1)
    assert len(set(tokens)) == len(tokens) == 100
    return tokens, np.array(scores, dtype="<f4"), np.array(types, dtype="<i4")


# ---------------------------------------------------------------------------
# Models: metadata
# ---------------------------------------------------------------------------

PROVENANCE = {"source": "tools/make_fixtures.py"}


def bert_model():
    tokens = bert_vocab()
    config = {
        "family": "bert",
        "vocab_size": 64,
        "model_dim": 32,
        "layer_count": 2,
        "head_count": 4,
        "kv_head_count": 4,
        "head_dim": 8,
        "ffn_dim": 64,
        "max_positions": 64,
        "type_vocab_size": 2,
        "norm": "layernorm",
        "norm_epsilon": 1e-12,
        "norm_placement": "post",
        "embedding_norm": True,
        "activation": "gelu_erf",
        "position_encoding": "learned",
        "attention_bias": True,
        "mlp_bias": True,
        "pooling": "mean",
        "normalize": True,
        "pad_token_id": 0,
        "unk_token_id": 1,
        "cls_token_id": 2,
        "sep_token_id": 3,
        "mask_token_id": 4,
    }
    tokenizer = {
        "kind": "wordpiece",
        "tokens": tokens,
        "lowercase": True,
        "strip_accents": True,
        "clean_text": True,
        "chinese_chars": True,
        "continuing_prefix": "##",
        "max_word_chars": 100,
        "max_length": 64,
    }
    user = {"description": "tiny random BERT for qkv tests", "seed": 1001}
    return dict(name="bert-tiny", seed=1001, config=config, tokenizer=tokenizer,
                provenance=dict(PROVENANCE), user=user, has_pooler=True)


def gpt2_model():
    tokens, merges = gpt2_vocab()
    eot = len(tokens) - 1          # <|endoftext|> is the last token
    config = {
        "family": "gpt2",
        "vocab_size": len(tokens),
        "model_dim": 32,
        "layer_count": 2,
        "head_count": 4,
        "kv_head_count": 4,
        "head_dim": 8,
        "ffn_dim": 128,
        "max_positions": 64,
        "norm": "layernorm",
        "norm_epsilon": 1e-5,
        "norm_placement": "pre",
        "activation": "gelu_tanh",
        "position_encoding": "learned",
        "tied_embeddings": True,
        "attention_bias": True,
        "mlp_bias": True,
        "bos_token_id": eot,
        "eos_token_id": eot,
    }
    tokenizer = {
        "kind": "bpe",
        "tokens": tokens,
        "merges": merges,
        "add_prefix_space": False,
    }
    return dict(name="gpt2-tiny", seed=2002, config=config, tokenizer=tokenizer,
                provenance=dict(PROVENANCE), user={}, has_pooler=False)


def llama_model():
    tokens, scores, types = llama_vocab()
    config = {
        "family": "llama",
        # The embedding has 4 padding rows beyond the 100-token vocabulary
        # (schema: tokens has "at most config.vocab_size entries").
        "vocab_size": 104,
        "model_dim": 32,
        "layer_count": 2,
        "head_count": 4,
        "kv_head_count": 2,
        "head_dim": 8,
        "ffn_dim": 48,
        "max_positions": 128,
        "norm": "rmsnorm",
        "norm_epsilon": 1e-6,
        "norm_placement": "pre",
        "activation": "silu",
        "gated_mlp": True,
        "position_encoding": "rope",
        "rope_theta": 10000.0,
        "rope_layout": "half",
        "tied_embeddings": False,
        "attention_bias": False,
        "mlp_bias": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "unk_token_id": 0,
    }
    tokenizer = {
        "kind": "sentencepiece_bpe",
        "tokens": tokens,
        "scores": scores,
        "token_types": types,
        "byte_fallback": True,
        "add_bos": True,
        "add_eos": False,
        "max_length": 128,
    }
    return dict(name="llama-tiny", seed=3003, config=config, tokenizer=tokenizer,
                provenance=dict(PROVENANCE), user={}, has_pooler=False)


# ---------------------------------------------------------------------------
# Models: weights
# ---------------------------------------------------------------------------

NORM_ROLES = {"embedding_norm", "attn_norm", "mlp_norm", "final_norm"}

# Float32 bit patterns planted in llama-tiny's embed/token/weight (row 7) to
# exercise f32 -> bf16 rounding, with the bf16 bits that round-to-nearest,
# ties-to-even must give.
BF16_CASES = [
    (0x3F808000, 0x3F80),  # 1 + 2**-8: exact tie, even neighbour below
    (0x3F818000, 0x3F82),  # exact tie, odd below -> rounds up to even
    (0xBF808000, 0xBF80),  # negative tie, rounds toward the even magnitude
    (0xBF818000, 0xBF82),  # negative tie, rounds up in magnitude
    (0x3FFF8000, 0x4000),  # tie whose round-up carries into the exponent
    (0x3F808001, 0x3F81),  # just above a tie
    (0x3F807FFF, 0x3F80),  # just below a tie
    (0x80000000, 0x8000),  # -0.0
    (0x00000001, 0x0000),  # smallest f32 subnormal -> +0
    (0x00018000, 0x0002),  # subnormal tie, odd below -> up
    (0x00008000, 0x0000),  # subnormal tie, even below -> down
    (0x80412345, 0x8041),  # negative subnormal
    (0x3F800000, 0x3F80),  # 1.0, exact
]

# Float32 values planted in gpt2-tiny's embed/token/weight (row 10) to
# exercise f32 -> f16 rounding, with the f16 bits ties-to-even gives.
F16_CASES = [
    (1.0 + 2.0 ** -11, 0x3C00),         # tie between 1 and 1+2**-10 -> 1
    (1.0 + 3 * 2.0 ** -11, 0x3C02),     # tie, odd below -> up
    (-(1.0 + 2.0 ** -11), 0xBC00),      # negative tie
    (2.0 ** -25, 0x0000),               # half the smallest f16 subnormal -> 0
    (3 * 2.0 ** -25, 0x0002),           # subnormal tie, odd below -> up
    (2.0 ** -24, 0x0001),               # smallest f16 subnormal, exact
    (-0.0, 0x8000),                     # negative zero
    (65504.0, 0x7BFF),                  # largest f16, exact
    (65519.0, 0x7BFF),                  # below the overflow threshold
    (float(np.frombuffer(np.uint32(1).tobytes(), "<f4")[0]), 0x0000),  # f32 subnormal
]


def tensor_rng(model_seed, name):
    """A RandomState seeded by the model's seed and the tensor's name.

    Seeding per tensor makes each tensor's values independent of which other
    tensors exist and of the order they are generated in.
    """
    seed = (model_seed * 1000003 + zlib.crc32(name.encode("utf-8"))) % 2 ** 32
    return np.random.RandomState(seed)


def make_weights(model):
    """Random f32 weights for every expected tensor, in writer order."""
    tensors = []
    for name, shape, role in expected_tensors(model["config"], model["has_pooler"]):
        rng = tensor_rng(model["seed"], name)
        values = rng.standard_normal(shape) * 0.02
        if role in NORM_ROLES and name.endswith("/weight"):
            values = values + 1.0       # norm gains around 1
        # (biases, including norm biases, stay small and nonzero)
        tensors.append((name, role, values.astype("<f4")))
    return tensors


def plant_bf16_cases(tensors):
    """Put the BF16_CASES bit patterns into row 7 of embed/token/weight."""
    for name, _, array in tensors:
        if name == "embed/token/weight":
            bits = np.array([c[0] for c in BF16_CASES], dtype="<u4")
            array[7, :len(bits)] = bits.view("<f4")


def plant_f16_cases(tensors):
    """Put the F16_CASES values into row 10 of embed/token/weight."""
    for name, _, array in tensors:
        if name == "embed/token/weight":
            values = np.array([c[0] for c in F16_CASES], dtype="<f4")
            array[10, :len(values)] = values


def f32_to_bf16_bits(x):
    """float32 array -> bfloat16 bits (uint16), round to nearest, ties to even.

    Works on the uint32 bit patterns: adding 0x7FFF plus the lowest kept bit
    and truncating rounds to nearest with ties going to the even neighbour.
    NaN is kept as a quiet NaN (the rounding add could turn it into infinity).
    """
    bits = np.ascontiguousarray(x, dtype="<f4").view("<u4")
    lowest_kept = (bits >> np.uint32(16)) & np.uint32(1)
    rounded = (bits + np.uint32(0x7FFF) + lowest_kept) >> np.uint32(16)
    quiet_nan = (bits >> np.uint32(16)) | np.uint32(0x0040)
    out = np.where(np.isnan(x), quiet_nan, rounded)
    return out.astype("<u2")


def bf16_bits_to_f32(bits):
    """bfloat16 bits (uint16) -> float32, exactly (the bits become the top half)."""
    return (np.asarray(bits, dtype="<u2").astype("<u4") << np.uint32(16)).view("<f4")


# ---------------------------------------------------------------------------
# HDF5 writing (Specs/hdf5-layout.md)
# ---------------------------------------------------------------------------

def write_scalar_attr(group, name, schema_type, value):
    """A scalar metadata value as an attribute with the layout's HDF5 type."""
    if schema_type == "bool":
        assert isinstance(value, bool)
        group.attrs[name] = np.bool_(value)            # h5py: 8-bit enum FALSE/TRUE
    elif schema_type == "int":
        assert isinstance(value, int) and not isinstance(value, bool)
        group.attrs[name] = np.int64(value)            # H5T_STD_I64LE
    elif schema_type == "float":
        assert isinstance(value, float)
        group.attrs[name] = np.float64(value)          # H5T_IEEE_F64LE
    elif schema_type == "string":
        assert isinstance(value, str)
        group.attrs[name] = value                      # variable-length UTF-8
    else:
        raise ValueError("not a scalar type: " + schema_type)


def write_array_dataset(group, name, schema_type, value):
    """An array metadata value as a 1-D contiguous dataset."""
    if schema_type == "string[]":
        data = np.array(list(value), dtype=object)
        group.create_dataset(name, data=data, dtype=h5py.string_dtype("utf-8"),
                             track_times=False)
        return
    numpy_type = {"int32[]": "<i4", "int64[]": "<i8",
                  "float32[]": "<f4", "float64[]": "<f8"}[schema_type]
    data = np.asarray(value)
    assert data.dtype == np.dtype(numpy_type) and data.ndim == 1
    group.create_dataset(name, data=data, track_times=False)


def free_type(value):
    """Schema type of a provenance/user value (these sections are free-form)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    raise ValueError("unsupported free-form value %r" % (value,))


def write_section(f, section, values, types):
    """Write one metadata section as the group /section."""
    group = f.create_group(section)
    for key, value in values.items():
        schema_type = types[key] if types is not None else free_type(value)
        if schema_type.endswith("[]"):
            write_array_dataset(group, key, schema_type, value)
        else:
            write_scalar_attr(group, key, schema_type, value)


def write_h5(path, model, tensors, dtype, edit=None):
    """Write one fixture. `tensors` is [(name, role, array)] already in `dtype`
    (for bf16: the uint16 bits). `edit`, if given, is called with the open
    file after everything else is written (the bad fixtures use it to break
    one rule); the valid fixtures never pass it."""
    tmp = path + ".tmp"
    # libver upper bound v110: nothing newer than what libhdf5 1.10 reads.
    with h5py.File(tmp, "w", libver=("v108", "v110"), track_order=False) as f:
        f.attrs["qkv_format"] = "qkv-hdf5"
        f.attrs["qkv_format_version"] = np.int64(1)
        write_section(f, "config", model["config"], CONFIG_KEYS)
        write_section(f, "tokenizer", model["tokenizer"], TOKENIZER_KEYS)
        write_section(f, "provenance", model["provenance"], None)
        write_section(f, "user", model["user"], None)
        for name, _, array in tensors:
            assert array.dtype == NUMPY_STORAGE[dtype]
            # Contiguous (no chunks, no filters) and no timestamps.
            ds = f.create_dataset(name, data=array, track_times=False)
            ds.attrs["dtype"] = dtype
        if edit is not None:
            edit(f)
    os.replace(tmp, path)


def expected_entry(model, tensors, dtype):
    """The expected.json record of one fixture file."""
    entry = {
        "config": model["config"],
        "tokenizer_token_count": len(model["tokenizer"]["tokens"]),
        "parameter_count": int(sum(a.size for _, _, a in tensors)),
        "tensors": {},
    }
    for name, role, array in tensors:
        entry["tensors"][name] = {
            "role": role,
            "dtype": dtype,
            "shape": list(array.shape),
            # CRC-32 of the raw little-endian bytes as stored.
            "crc32": zlib.crc32(np.ascontiguousarray(array).tobytes()),
        }
    entry["head_norms"] = head_norms(tensors, dtype)
    return entry


def head_norms(tensors, dtype):
    """Frobenius norm of every head's slab of W_Q, W_K, W_V, W_O: {part: [layer][head]}, in float64 of
    the stored values (bf16 widened from its bits), what `qkv inspect --heads` must print."""
    norms = {}
    for name, _, array in tensors:
        parts = name.split("/")
        if len(parts) == 5 and parts[0] == "layers" and parts[2] == "attn" and parts[4] == "weight":
            values = array
            if dtype == "bf16":
                values = (array.astype(np.uint32) << 16).view(np.float32)
            values = values.astype(np.float64)
            layer = norms.setdefault(parts[3], [])
            layer.append([float(np.sqrt(np.sum(values[h] ** 2))) for h in range(values.shape[0])])
    return norms


# ---------------------------------------------------------------------------
# Bad fixtures: Fixtures/bad-hdf5/, each file breaking exactly one rule
# ---------------------------------------------------------------------------
#
# Every bad file is the valid `bad_base_model()` (a smaller llama-tiny) with
# one rule of Specs/hdf5-layout.md or Specs/schema.md broken. manifest.json
# maps each file name to the Swift error a reader must throw for it,
# "<Type>.<case>", and a one-line reason; "deep": true marks the file that
# only `qkv validate --deep` rejects.

BAD_DIR = "bad-hdf5"
BAD_MANIFEST = "manifest.json"

# The tensor the dtype/type cases tamper with, and the stray and missing ones.
BAD_STRAY_TENSOR = "layers/0/attn/extra/weight"
BAD_MISSING_TENSOR = "layers/1/mlp/down/weight"
BAD_NAN_TENSOR = "layers/0/mlp/up/weight"
BAD_NAN_INDEX = (3, 5)


def bad_base_model():
    """llama-tiny, shrunk so that each bad file stays small.

    Same family, rules and attention shapes (H=4, K=2, d=8, D=32, 2 layers:
    the cases name `[2, 8, 32]` and layer 1); the MLP is 8 wide and the
    vocabulary is 24 of llama-tiny's tokens (<unk> <s> </s>, <0x00>..<0x07>,
    the 6 merged pieces, "▁", a..f) in an embedding of 28 rows (4 rows of
    padding, as in llama-tiny). Valid: `qkv validate --deep` accepts it.
    """
    model = llama_model()
    tokens, scores, types = llama_vocab()
    keep = list(range(3 + 8)) + list(range(67, 67 + 6 + 1 + 6))
    model["name"] = "llama-tiny-small"
    model["config"].update(vocab_size=len(keep) + 4, ffn_dim=8, max_positions=32)
    model["tokenizer"].update(tokens=[tokens[i] for i in keep], scores=scores[keep],
                              token_types=types[keep], max_length=32)
    return model


# (file name, "<Type>.<case>", why, deep, writer). A writer is called as
# writer(path, model, tensors) with private copies of the base model and its
# f32 tensors, and writes the file at `path`.
BAD_CASES = []


def bad_case(filename, error, why, deep=False):
    def register(writer):
        BAD_CASES.append((filename, error, why, deep, writer))
        return writer
    return register


def without_tensor(tensors, name):
    out = [t for t in tensors if t[0] != name]
    assert len(out) == len(tensors) - 1, name
    return out


def tensor_array(tensors, name):
    return next(a for n, _, a in tensors if n == name)


def write_raw_tensor(f, name, array, dtype_attr):
    """A tensor dataset written as-is, with `dtype_attr` (None: no attribute)."""
    ds = f.create_dataset(name, data=array, track_times=False)
    if dtype_attr is not None:
        ds.attrs["dtype"] = dtype_attr


def write_with_tensor(path, model, tensors, name, array, dtype_attr):
    """The model with tensor `name` replaced by `array`, written last."""
    write_h5(path, model, without_tensor(tensors, name), "f32",
             edit=lambda f: write_raw_tensor(f, name, array, dtype_attr))


# --- the root -----------------------------------------------------------------

@bad_case("notqkv.h5", "HDF5Error.notQKVLayout",
          "root attribute qkv_format is missing")
def write_notqkv(path, model, tensors):
    def edit(f):
        del f.attrs["qkv_format"]
    write_h5(path, model, tensors, "f32", edit)


@bad_case("wrong-format-name.h5", "HDF5Error.notQKVLayout",
          'root attribute qkv_format is "something-else", not "qkv-hdf5"')
def write_wrong_format_name(path, model, tensors):
    def edit(f):
        f.attrs["qkv_format"] = "something-else"
    write_h5(path, model, tensors, "f32", edit)


@bad_case("version-2.h5", "HDF5Error.unsupportedVersion",
          "root attribute qkv_format_version is 2; only 1 is defined")
def write_version_2(path, model, tensors):
    def edit(f):
        f.attrs["qkv_format_version"] = np.int64(2)
    write_h5(path, model, tensors, "f32", edit)


# --- tensor types ---------------------------------------------------------------

@bad_case("bf16-without-dtype.h5", "HDF5Error.dtypeAttributeMismatch",
          "layers/0/attn_norm/weight is u16 (bf16 bits) without the required dtype=\"bf16\" attribute")
def write_bf16_without_dtype(path, model, tensors):
    name = "layers/0/attn_norm/weight"
    write_with_tensor(path, model, tensors, name,
                      f32_to_bf16_bits(tensor_array(tensors, name)), None)


@bad_case("dtype-attribute-mismatch.h5", "HDF5Error.dtypeAttributeMismatch",
          'layers/1/mlp_norm/weight is stored as f32 but its dtype attribute says "f16"')
def write_dtype_attribute_mismatch(path, model, tensors):
    name = "layers/1/mlp_norm/weight"
    write_with_tensor(path, model, tensors, name, tensor_array(tensors, name), "f16")


@bad_case("compound-tensor.h5", "HDF5Error.unsupportedType",
          "final_norm/weight has a compound HDF5 type {re: f32, im: f32} (no dtype attribute)")
def write_compound_tensor(path, model, tensors):
    name = "final_norm/weight"
    values = tensor_array(tensors, name)
    array = np.zeros(values.shape, dtype=[("re", "<f4"), ("im", "<f4")])
    array["re"] = values
    write_with_tensor(path, model, tensors, name, array, None)


@bad_case("uint32-tensor.h5", "HDF5Error.unsupportedType",
          "layers/0/mlp/down/weight is stored as u32 (the f32 bits; no dtype attribute), a type the layout does not use")
def write_uint32_tensor(path, model, tensors):
    name = "layers/0/mlp/down/weight"
    write_with_tensor(path, model, tensors, name, tensor_array(tensors, name).view("<u4"), None)


# --- links and groups ---------------------------------------------------------

@bad_case("soft-link.h5", "HDF5Error.unsupportedLink",
          "lm_head/weight is a soft link to /embed/token/weight")
def write_soft_link(path, model, tensors):
    def edit(f):
        f.require_group("lm_head")["weight"] = h5py.SoftLink("/embed/token/weight")
    write_h5(path, model, without_tensor(tensors, "lm_head/weight"), "f32", edit)


@bad_case("external-link.h5", "HDF5Error.unsupportedLink",
          "lm_head/weight is an external link to lm-head.h5:/lm_head/weight (a file that does not exist)")
def write_external_link(path, model, tensors):
    def edit(f):
        f.require_group("lm_head")["weight"] = h5py.ExternalLink("lm-head.h5", "/lm_head/weight")
    write_h5(path, model, without_tensor(tensors, "lm_head/weight"), "f32", edit)


@bad_case("hardlink-alias.h5", "HDF5Error.badGroupStructure",
          "lm_head/weight is a second hard link to the dataset embed/token/weight (one dataset, two tensor paths)")
def write_hardlink_alias(path, model, tensors):
    def edit(f):
        f.require_group("lm_head")["weight"] = f["embed/token/weight"]
    write_h5(path, model, without_tensor(tensors, "lm_head/weight"), "f32", edit)


@bad_case("group-in-config.h5", "HDF5Error.badGroupStructure",
          "/config holds a subgroup /config/nested; metadata sections hold only attributes and datasets")
def write_group_in_config(path, model, tensors):
    def edit(f):
        f["config"].create_group("nested")
    write_h5(path, model, tensors, "f32", edit)


# --- metadata types and shapes ---------------------------------------------------

@bad_case("metadata-array-attribute.h5", "HDF5Error.badMetadataShape",
          "config attribute head_count is a 1-D array [4] instead of a scalar")
def write_metadata_array_attribute(path, model, tensors):
    del model["config"]["head_count"]

    def edit(f):
        f["config"].attrs["head_count"] = np.array([4], dtype="<i8")
    write_h5(path, model, tensors, "f32", edit)


@bad_case("metadata-2d-dataset.h5", "HDF5Error.badMetadataShape",
          "tokenizer/scores is a 2-D dataset [24, 1] instead of a 1-D array")
def write_metadata_2d_dataset(path, model, tensors):
    scores = model["tokenizer"].pop("scores")

    def edit(f):
        f["tokenizer"].create_dataset("scores", data=scores.reshape(-1, 1), track_times=False)
    write_h5(path, model, tensors, "f32", edit)


@bad_case("bool-is-2.h5", "HDF5Error.invalidBool",
          "config attribute gated_mlp is the integer 2 (int64); a bool stored as an integer must be 0 or 1")
def write_bool_is_2(path, model, tensors):
    del model["config"]["gated_mlp"]

    def edit(f):
        f["config"].attrs["gated_mlp"] = np.int64(2)
    write_h5(path, model, tensors, "f32", edit)


# --- not HDF5 any more ------------------------------------------------------------

@bad_case("truncated.h5", "HDF5Error.libraryCall",
          "the first half of the bytes of a valid file (libhdf5 cannot open it)")
def write_truncated(path, model, tensors):
    write_h5(path, model, tensors, "f32")
    with open(path, "rb") as f:
        data = f.read()
    with open(path + ".tmp", "wb") as f:
        f.write(data[:len(data) // 2])
    os.replace(path + ".tmp", path)


# --- the schema: tensors ----------------------------------------------------------

@bad_case("stray-tensor.h5", "ModelError.unexpectedTensor",
          "an extra dataset %s [8, 32] that the schema does not name" % BAD_STRAY_TENSOR)
def write_stray_tensor(path, model, tensors):
    stray = (tensor_rng(model["seed"], BAD_STRAY_TENSOR).standard_normal((8, 32)) * 0.02).astype("<f4")
    write_h5(path, model, tensors + [(BAD_STRAY_TENSOR, "attn_q", stray)], "f32")


@bad_case("missing-tensor.h5", "ModelError.missingTensor",
          "%s is absent" % BAD_MISSING_TENSOR)
def write_missing_tensor(path, model, tensors):
    write_h5(path, model, without_tensor(tensors, BAD_MISSING_TENSOR), "f32")


@bad_case("shape-mismatch.h5", "ModelError.shapeMismatch",
          "layers/0/attn/k/weight is [4, 8, 32]; kv_head_count 2 makes it [2, 8, 32]")
def write_shape_mismatch(path, model, tensors):
    name = "layers/0/attn/k/weight"
    model4 = dict(model, config=dict(model["config"], kv_head_count=4))
    wide = tensor_array(make_weights(model4), name)        # its first 2 heads are the base's
    write_h5(path, model, [(n, r, wide if n == name else a) for n, r, a in tensors], "f32")


@bad_case("i32-model-tensor.h5", "ModelError.dtypeNotAllowed",
          'final_norm/weight is stored as i32 (all ones) with dtype="i32"; model tensors are f32, f16 or bf16')
def write_i32_model_tensor(path, model, tensors):
    name = "final_norm/weight"
    ones = np.ones(tensor_array(tensors, name).shape, dtype="<i4")
    write_with_tensor(path, model, tensors, name, ones, "i32")


@bad_case("nan-tensor.h5", "ModelError.nonFiniteValue",
          "%s holds one NaN at %s; the structure is valid (found only by validate --deep)"
          % (BAD_NAN_TENSOR, list(BAD_NAN_INDEX)), deep=True)
def write_nan_tensor(path, model, tensors):
    tensor_array(tensors, BAD_NAN_TENSOR)[BAD_NAN_INDEX] = np.nan
    write_h5(path, model, tensors, "f32")


# --- the schema: metadata ---------------------------------------------------------

@bad_case("missing-config-key.h5", "ModelError.missingKey",
          "config has no head_dim (required)")
def write_missing_config_key(path, model, tensors):
    del model["config"]["head_dim"]
    write_h5(path, model, tensors, "f32")


@bad_case("kv-heads-not-dividing.h5", "ModelError.invalidValue",
          "kv_head_count 3 does not divide head_count 4 (K/V weights shaped [3, 8, 32] to match)")
def write_kv_heads_not_dividing(path, model, tensors):
    model["config"]["kv_head_count"] = 3
    write_h5(path, model, make_weights(model), "f32")


@bad_case("unknown-config-key.h5", "ModelError.unknownKey",
          "config has an extra attribute frobnicate (int64 1) that the schema does not define")
def write_unknown_config_key(path, model, tensors):
    def edit(f):
        f["config"].attrs["frobnicate"] = np.int64(1)
    write_h5(path, model, tensors, "f32", edit)


@bad_case("scores-length.h5", "ModelError.tokenizerArrayLength",
          "tokenizer/scores has 23 entries for 24 tokens")
def write_scores_length(path, model, tensors):
    model["tokenizer"]["scores"] = model["tokenizer"]["scores"][:-1]
    write_h5(path, model, tensors, "f32")


@bad_case("special-token-out-of-range.h5", "ModelError.tokenIdOutOfRange",
          "config bos_token_id is 24, the token count (vocab_size is 28, so only the tokenizer rule breaks)")
def write_special_token_out_of_range(path, model, tensors):
    model["config"]["bos_token_id"] = len(model["tokenizer"]["tokens"])
    write_h5(path, model, tensors, "f32")


@bad_case("tokenizer-unbuildable.h5", "TokenizerError.invalidOption",
          "tokenizer normalization is nfkc, which a sentencepiece_bpe tokenizer does not apply (the schema "
          "allows the key; only building the tokenizer refuses it)")
def write_tokenizer_unbuildable(path, model, tensors):
    model["tokenizer"]["normalization"] = "nfkc"
    write_h5(path, model, tensors, "f32")


def bad_manifest():
    """{file name: {"error": "<Type>.<case>", "why": ..., ["deep": True]}}."""
    manifest = {}
    for filename, error, why, deep, _ in BAD_CASES:
        manifest[filename] = {"error": error, "why": why}
        if deep:
            manifest[filename]["deep"] = True
    return manifest


def write_bad_fixtures(out_dir):
    """Write every BAD_CASES file and manifest.json into `out_dir`, removing
    .h5 files there that are no longer cases (the folder is generated)."""
    os.makedirs(out_dir, exist_ok=True)
    base = bad_base_model()
    base_tensors = make_weights(base)
    for filename, _, _, _, writer in BAD_CASES:
        path = os.path.join(out_dir, filename)
        writer(path, copy.deepcopy(base), copy.deepcopy(base_tensors))
        print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
    names = {case[0] for case in BAD_CASES}
    for stale in sorted(os.listdir(out_dir)):
        if stale.endswith(".h5") and stale not in names:
            os.remove(os.path.join(out_dir, stale))
            print("removed stale %s" % os.path.join(out_dir, stale))
    path = os.path.join(out_dir, BAD_MANIFEST)
    with open(path, "w", encoding="utf-8") as out:
        json.dump(bad_manifest(), out, indent=1, ensure_ascii=False)
        out.write("\n")
    print("wrote %s" % path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT,
                        help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    bert = bert_model()
    gpt2 = gpt2_model()
    llama = llama_model()

    bert_f32 = make_weights(bert)
    gpt2_f32 = make_weights(gpt2)
    plant_f16_cases(gpt2_f32)
    llama_f32 = make_weights(llama)
    plant_bf16_cases(llama_f32)

    gpt2_f16 = [(n, r, a.astype("<f2")) for n, r, a in gpt2_f32]
    llama_bf16 = [(n, r, f32_to_bf16_bits(a)) for n, r, a in llama_f32]

    files = [
        ("bert-tiny.h5", bert, bert_f32, "f32"),
        ("gpt2-tiny.h5", gpt2, gpt2_f32, "f32"),
        ("gpt2-tiny-f16.h5", gpt2, gpt2_f16, "f16"),
        ("llama-tiny.h5", llama, llama_f32, "f32"),
        ("llama-tiny-bf16.h5", llama, llama_bf16, "bf16"),
    ]
    expected = {}
    for filename, model, tensors, dtype in files:
        path = os.path.join(args.out, filename)
        write_h5(path, model, tensors, dtype)
        expected[filename] = expected_entry(model, tensors, dtype)
        print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))

    path = os.path.join(args.out, "expected.json")
    with open(path, "w", encoding="utf-8") as out:
        json.dump(expected, out, indent=1, ensure_ascii=False)
        out.write("\n")
    print("wrote %s" % path)

    write_bad_fixtures(os.path.join(args.out, BAD_DIR))
    # Hugging Face folders and the bad safetensors corpus, made from the files above.
    import fixtures_hf
    fixtures_hf.write_all(args.out)
    import fixtures_gguf
    fixtures_gguf.write_all(args.out)  # Fixtures/gguf/: gguf-py llama-tiny and the bad GGUF corpus
    import fixtures_quant
    fixtures_quant.write_all(args.out)  # Fixtures/quant/: every block type with gguf-py's dequantization; a mixed-type LLaMA
    import fixtures_keras
    fixtures_keras.write_all(args.out)  # Fixtures/keras/: the HF folders as TF tf_model.h5 (legacy Keras HDF5)
    import fixtures_heads
    fixtures_heads.write_all(args.out)  # heads-roles.h5: heads built to attend to the previous token, self, the first token, everywhere
    import fixtures_conformance
    fixtures_conformance.write_all(args.out)  # Fixtures/conformance/: good and bad files of every reader, with manifest.json
    import fixtures_hf_tokenizers
    fixtures_hf_tokenizers.write_all(args.out)  # Fixtures/tokenizers/hf/: tokenizer.json styles (Llama 3, Qwen2, Gemma, ...) and tokenizers' ids
    return 0


if __name__ == "__main__":
    sys.exit(main())
