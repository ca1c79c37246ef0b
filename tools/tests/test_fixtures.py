"""Check the committed fixtures (Fixtures/*.h5, expected.json) against the
specs, with h5py only: no qkv code and no qkv_numpy.

If these fail after editing tools/make_fixtures.py, regenerate with
`python3 tools/make_fixtures.py` and re-run.
"""

import json
import math
import os
import struct
import zlib

import h5py
import numpy as np
import pytest

import make_fixtures as mf
from h5ref import (WRITTEN_ATTR_TYPES, attr_hdf5_type, bf16_to_f32, h5_metadata,
                   h5_tensors, plain_config, section, tensor_paths)

FIXTURES = mf.DEFAULT_OUT
FILES = ["bert-tiny.h5", "gpt2-tiny.h5", "gpt2-tiny-f16.h5", "llama-tiny.h5",
         "llama-tiny-bf16.h5"]
FILE_DTYPES = {"bert-tiny.h5": "f32", "gpt2-tiny.h5": "f32", "gpt2-tiny-f16.h5": "f16",
               "llama-tiny.h5": "f32", "llama-tiny-bf16.h5": "bf16"}


def fixture(name):
    path = os.path.join(FIXTURES, name)
    if not os.path.exists(path):
        pytest.fail("%s is missing: run `python3 tools/make_fixtures.py`" % path, pytrace=False)
    return path


@pytest.fixture(scope="module")
def expected():
    with open(fixture("expected.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("name", FILES)
def test_size(name):
    assert os.path.getsize(fixture(name)) < 200 * 1024


@pytest.mark.parametrize("name", FILES)
def test_root_and_sections(name):
    with h5py.File(fixture(name), "r") as f:
        assert f.attrs["qkv_format"] == "qkv-hdf5"
        assert attr_hdf5_type(f, "qkv_format") == WRITTEN_ATTR_TYPES["string"]
        assert f.attrs["qkv_format_version"] == 1
        assert attr_hdf5_type(f, "qkv_format_version") == WRITTEN_ATTR_TYPES["int"]
        for group in ("config", "tokenizer", "provenance", "user"):
            assert isinstance(f[group], h5py.Group)
        assert f["provenance"].attrs["source"] == "tools/make_fixtures.py"


@pytest.mark.parametrize("name", FILES)
def test_metadata_types(name):
    """Every key is known (config, tokenizer) and has the HDF5 type the
    layout says a writer uses for its schema type."""
    with h5py.File(fixture(name), "r") as f:
        for section_name, known in (("config", mf.CONFIG_KEYS), ("tokenizer", mf.TOKENIZER_KEYS)):
            group = f[section_name]
            for key in group.attrs:
                assert key in known, "unknown key %s.%s" % (section_name, key)
                assert attr_hdf5_type(group, key) == WRITTEN_ATTR_TYPES[known[key]], key
                if known[key] == "bool":
                    assert isinstance(group.attrs[key], np.bool_)
            for key, ds in group.items():
                assert key in known and known[key].endswith("[]"), key
                assert ds.ndim == 1 and ds.chunks is None and ds.compression is None
                if known[key] == "string[]":
                    info = h5py.check_string_dtype(ds.dtype)
                    assert info.encoding == "utf-8" and info.length is None
                else:
                    want = {"int32[]": "<i4", "int64[]": "<i8",
                            "float32[]": "<f4", "float64[]": "<f8"}[known[key]]
                    assert ds.dtype == np.dtype(want), key
        for section_name in ("provenance", "user"):
            group = f[section_name]
            for key in group.attrs:
                assert attr_hdf5_type(group, key) in WRITTEN_ATTR_TYPES.values(), key


@pytest.mark.parametrize("name", FILES)
def test_config_rules(name):
    """The schema's config rules."""
    with h5py.File(fixture(name), "r") as f:
        meta = h5_metadata(f)
    c = plain_config(meta)
    for key in mf.CONFIG_REQUIRED:
        assert key in c, "missing config.%s" % key
    get = lambda k: c.get(k, mf.CONFIG_DEFAULTS.get(k))  # noqa: E731
    for key in ("vocab_size", "model_dim", "layer_count", "head_count", "kv_head_count",
                "head_dim", "ffn_dim", "max_positions"):
        assert 1 <= c[key] < 2 ** 31, key
    assert 0 <= get("type_vocab_size") < 2 ** 31
    assert c["head_count"] % c["kv_head_count"] == 0
    if c["family"] in ("bert", "gpt2"):
        assert c["kv_head_count"] == c["head_count"]
    assert c["norm"] in ("layernorm", "rmsnorm")
    assert c["activation"] in ("gelu_erf", "gelu_tanh", "silu")
    assert math.isfinite(c["norm_epsilon"]) and c["norm_epsilon"] >= 0
    if c["position_encoding"] == "rope":
        assert c["rope_theta"] > 0 and c["head_dim"] % 2 == 0
        assert c["rope_layout"] in ("half", "interleaved")
    else:
        assert c["position_encoding"] == "learned"
        assert "rope_theta" not in c and "rope_layout" not in c
    if c["family"] == "bert":
        assert c["norm_placement"] == "post" and not get("tied_embeddings")
    else:
        assert c["norm_placement"] == "pre"
    tokens = meta["tokenizer.tokens"][1]
    for key in c:
        if key.endswith("_token_id"):
            assert 0 <= c[key] < min(len(tokens), c["vocab_size"]), key


@pytest.mark.parametrize("name", FILES)
def test_tokenizer_rules(name):
    with h5py.File(fixture(name), "r") as f:
        meta = h5_metadata(f)
    c = plain_config(meta)
    tok = {k.split(".", 1)[1]: v for k, (_, v) in section(meta, "tokenizer").items()}
    tokens = tok["tokens"]
    assert 0 < len(tokens) <= c["vocab_size"]
    assert len(set(tokens)) == len(tokens)
    for key in ("scores", "token_types"):
        if key in tok:
            assert len(tok[key]) == len(tokens)
    if tok["kind"] == "wordpiece":
        assert [tokens[c[k + "_token_id"]] for k in ("pad", "unk", "cls", "sep", "mask")] == \
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        assert tok["continuing_prefix"] == "##" and tok["max_word_chars"] == 100
        assert tok["lowercase"] and tok["strip_accents"] and tok["clean_text"] and tok["chinese_chars"]
        assert tok["max_length"] == 64
    elif tok["kind"] == "bpe":
        byte_tokens = [ch for _, ch in mf.gpt2_bytes_to_unicode()]
        assert list(tokens[:256]) == byte_tokens and tokens[220] == "Ġ" and tokens[0] == "!"
        assert tokens[-1] == "<|endoftext|>"
        assert c["bos_token_id"] == c["eos_token_id"] == len(tokens) - 1 == c["vocab_size"] - 1
        assert len(tok["merges"]) == 40
        known = set(byte_tokens)
        for merge in tok["merges"]:           # every merge joins known tokens
            left, right = merge.split(" ")
            assert left in known and right in known, merge
            known.add(left + right)
        assert known | {"<|endoftext|>"} == set(tokens)
        assert tok["add_prefix_space"] is False
    else:
        assert tok["kind"] == "sentencepiece_bpe"
        types = tok["token_types"]
        assert all(1 <= t <= 6 for t in types)
        assert tokens[:3] == ("<unk>", "<s>", "</s>") and types[:3] == (2, 3, 3)
        assert tokens[3:67] == tuple("<0x%02X>" % b for b in range(64))
        assert set(types[3:67]) == {6} and set(types[67:]) == {1}
        assert all(t.startswith("▁") or "<" not in t for t in tokens[67:])
        assert (c["unk_token_id"], c["bos_token_id"], c["eos_token_id"]) == (0, 1, 2)
        assert tok["byte_fallback"] and tok["add_bos"] and not tok["add_eos"]
        assert len(tokens) == 100 and c["vocab_size"] == 104     # padded embedding


@pytest.mark.parametrize("name", FILES)
def test_tensors_follow_schema(name, expected):
    """Exactly the expected tensors, shapes, dtype attributes, contiguous and
    unfiltered, finite, and matching expected.json."""
    dtype = FILE_DTYPES[name]
    with h5py.File(fixture(name), "r") as f:
        config = plain_config(h5_metadata(f))
        want = mf.expected_tensors(config, has_pooler="pooler/weight" in f)
        assert sorted(tensor_paths(f)) == sorted(n for n, _, _ in want)   # no strays
        tensors = h5_tensors(f)
        record = expected[name]["tensors"]
        assert list(record) == [n for n, _, _ in want]
        for tensor_name, shape, role in want:
            ds = f[tensor_name]
            got_dtype, array = tensors[tensor_name]
            assert got_dtype == dtype and ds.attrs["dtype"] == dtype
            assert ds.shape == shape
            assert ds.chunks is None and ds.compression is None and not ds.shuffle
            assert ds.id.get_offset() is not None        # contiguous, allocated
            values = bf16_to_f32(array) if dtype == "bf16" else array
            assert np.all(np.isfinite(values)), tensor_name
            assert record[tensor_name] == {"role": role, "dtype": dtype, "shape": list(shape),
                                           "crc32": zlib.crc32(array.tobytes())}
        assert expected[name]["parameter_count"] == sum(a.size for _, a in tensors.values())
        assert expected[name]["config"] == config
        assert expected[name]["tokenizer_token_count"] == len(f["tokenizer/tokens"])


def test_families():
    """The three families cover the interesting optional tensors."""
    with h5py.File(fixture("bert-tiny.h5"), "r") as f:
        assert "pooler/weight" in f and "embed/token_type/weight" in f and "lm_head" not in f
        assert f["user"].attrs["description"] == "tiny random BERT for qkv tests"
        assert attr_hdf5_type(f["user"], "seed") == WRITTEN_ATTR_TYPES["int"]
    with h5py.File(fixture("gpt2-tiny.h5"), "r") as f:
        assert "lm_head" not in f and "final_norm/bias" in f and "layers/1/mlp/up/bias" in f
    with h5py.File(fixture("llama-tiny.h5"), "r") as f:
        assert f["layers/0/attn/k/weight"].shape == (2, 8, 32)
        assert f["layers/0/attn/q/weight"].shape == (4, 8, 32)
        assert "lm_head/weight" in f and "layers/0/mlp/gate/weight" in f
        assert "final_norm/bias" not in f and "embed/position" not in f


def _norm_and_bias_values(name):
    with h5py.File(fixture(name), "r") as f:
        return {p: f[p][()] for p in tensor_paths(f)}


@pytest.mark.parametrize("name", ["bert-tiny.h5", "gpt2-tiny.h5", "llama-tiny.h5"])
def test_weight_statistics(name):
    """normal * 0.02 weights, norm gains near 1, small nonzero biases."""
    for path, array in _norm_and_bias_values(name).items():
        if path == "embed/token/weight":
            array = np.delete(array, [7, 10], axis=0)       # planted rounding cases
        if "norm" in path and path.endswith("/weight"):
            assert abs(array.mean() - 1.0) < 0.05, path
        else:
            assert 0.005 < array.std() < 0.05 and abs(array.mean()) < 0.02, path
            assert np.all(array != 0), path


# ---------------------------------------------------------------------------
# Rounding references
# ---------------------------------------------------------------------------

def bf16_reference(bits32):
    """Round-to-nearest-even f32 -> bf16 on integers, one value at a time
    (a second, deliberately different implementation of the rounding)."""
    upper, lower = bits32 >> 16, bits32 & 0xFFFF
    if lower > 0x8000 or (lower == 0x8000 and upper & 1):
        upper += 1
    return upper


def test_bf16_fixture_is_rounded_f32():
    f32 = _norm_and_bias_values("llama-tiny.h5")
    bf16 = _norm_and_bias_values("llama-tiny-bf16.h5")
    assert f32.keys() == bf16.keys()
    for path, values in f32.items():
        bits32 = values.view("<u4").ravel().tolist()
        want = np.array([bf16_reference(b) for b in bits32], dtype="<u2").reshape(values.shape)
        assert bf16[path].dtype == np.dtype("<u2")
        assert np.array_equal(bf16[path], want), path
        assert np.array_equal(bf16[path], mf.f32_to_bf16_bits(values)), path


def test_bf16_tie_cases_are_planted():
    row32 = _norm_and_bias_values("llama-tiny.h5")["embed/token/weight"][7]
    row16 = _norm_and_bias_values("llama-tiny-bf16.h5")["embed/token/weight"][7]
    for i, (bits32, bits16) in enumerate(mf.BF16_CASES):
        assert int(row32.view("<u4")[i]) == bits32
        assert int(row16[i]) == bits16, "case %d: 0x%08x -> 0x%04x, want 0x%04x" % (
            i, bits32, int(row16[i]), bits16)
        assert bf16_reference(bits32) == bits16


def test_f16_fixture_is_numpy_astype():
    f32 = _norm_and_bias_values("gpt2-tiny.h5")
    f16 = _norm_and_bias_values("gpt2-tiny-f16.h5")
    assert f32.keys() == f16.keys()
    for path, values in f32.items():
        assert f16[path].dtype == np.dtype("<f2")
        assert f16[path].tobytes() == values.astype("<f2").tobytes(), path
        # Python's struct 'e' rounds the (exact) double to nearest even too.
        want = b"".join(struct.pack("<e", v) for v in values.ravel().tolist())
        assert f16[path].tobytes() == want, path
    assert np.count_nonzero(np.abs(f16["embed/token/weight"]) < 2.0 ** -14) > 10  # subnormals


def test_f16_tie_cases_are_planted():
    row32 = _norm_and_bias_values("gpt2-tiny.h5")["embed/token/weight"][10]
    row16 = _norm_and_bias_values("gpt2-tiny-f16.h5")["embed/token/weight"][10]
    for i, (value, bits16) in enumerate(mf.F16_CASES):
        assert row32[i].tobytes() == np.float32(value).tobytes()
        assert int(row16.view("<u2")[i]) == bits16, "case %d: %r" % (i, value)
        assert struct.unpack("<H", struct.pack("<e", float(np.float32(value))))[0] == bits16


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------

def test_generator_is_deterministic(tmp_path, expected):
    """Two runs give byte-identical files, with the same content as the
    committed fixtures (bytes may differ with another h5py/libhdf5)."""
    first, second = tmp_path / "a", tmp_path / "b"
    mf.main(["--out", str(first)])
    mf.main(["--out", str(second)])
    for name in FILES + ["expected.json"]:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    with open(first / "expected.json", encoding="utf-8") as f:
        assert json.load(f) == expected, "Fixtures/ is stale: run tools/make_fixtures.py"
    for name in FILES:
        with h5py.File(first / name, "r") as new, h5py.File(fixture(name), "r") as old:
            assert h5_metadata(new) == h5_metadata(old), name
