"""Check Fixtures/gguf/ (written by tools/fixtures_gguf.py) with gguf-py, llama.cpp's own reader.

- gguf-py reads every good fixture, and what it reads is what gguf/expected.json (which the Swift
  tests compare GGUFFile against) says: keys in order with their types and values, tensors with their
  ggml types, dims, offsets and CRC-32s.
- llama-tiny*.gguf hold Fixtures/llama-tiny.h5's weights (read with h5py) in llama.cpp's layout: the
  Q/K row permutation is undone here with an inverse written independently of the generator's
  `llama_permute`, bit for bit; O is the transpose; F16 is numpy's astype; Q8_0 dequantises to within
  half a quantisation step; the metadata agrees with the h5 config and tokenizer.
- The bad corpus: the manifest lists exactly the folder's files and uses every case of GGUFError (as
  declared in the Swift source). gguf-py is run on each bad file and what it does is printed
  (`pytest -s`), never asserted: it is laxer than ggml in places (empty keys, 5 dims, offsets).
- Regenerating into a temporary folder gives byte-identical files.

There is no Swift side here yet: `qkv convert` does not read GGUF. The Swift reader is checked against
the same files by Tests/QKVFormatTests/GGUF*Tests.swift.
"""

import importlib.metadata
import json
import os
import re
import zlib

import h5py
import numpy as np
import pytest

import gguf
import fixtures_gguf
import make_fixtures

FIXTURES = make_fixtures.DEFAULT_OUT
GGUF_DIR = os.path.join(FIXTURES, "gguf")
BAD_DIR = os.path.join(GGUF_DIR, "bad")
REPO_ROOT = os.path.dirname(FIXTURES)
SWIFT_ERRORS = os.path.join(REPO_ROOT, "Sources", "QKVFormat", "GGUF", "GGUFError.swift")

with open(os.path.join(GGUF_DIR, "expected.json"), encoding="utf-8") as _f:
    EXPECTED = json.load(_f)
with open(os.path.join(BAD_DIR, "manifest.json"), encoding="utf-8") as _f:
    MANIFEST = json.load(_f)

VALUE_TYPE_NAMES = {
    gguf.GGUFValueType.UINT8: "u8", gguf.GGUFValueType.INT8: "i8", gguf.GGUFValueType.UINT16: "u16",
    gguf.GGUFValueType.INT16: "i16", gguf.GGUFValueType.UINT32: "u32", gguf.GGUFValueType.INT32: "i32",
    gguf.GGUFValueType.FLOAT32: "f32", gguf.GGUFValueType.BOOL: "bool", gguf.GGUFValueType.STRING: "str",
    gguf.GGUFValueType.ARRAY: "arr", gguf.GGUFValueType.UINT64: "u64", gguf.GGUFValueType.INT64: "i64",
    gguf.GGUFValueType.FLOAT64: "f64",
}


def text(vtype, value):
    """expected.json's canonical text, computed here from gguf-py's decoded value."""
    if vtype == gguf.GGUFValueType.FLOAT32:
        return "0x%08x" % np.float32(value).view("<u4")
    if vtype == gguf.GGUFValueType.FLOAT64:
        return "0x%016x" % np.float64(value).view("<u8")
    if vtype == gguf.GGUFValueType.BOOL:
        return "true" if value else "false"
    if vtype == gguf.GGUFValueType.STRING:
        return value
    return str(int(value))


def field_entry(field):
    """A gguf-py ReaderField as an expected.json metadata entry (without 'value')."""
    vtype = field.types[0]
    entry = {"key": field.name, "type": VALUE_TYPE_NAMES[vtype]}
    if vtype == gguf.GGUFValueType.ARRAY:
        etype = field.types[1] if len(field.types) > 1 else None
        values = field.contents() if field.data else []
        if etype is None:       # gguf-py does not record the element type of an empty array
            etype = gguf.GGUFValueType.UINT32
        entry.update(element_type=VALUE_TYPE_NAMES[etype], count=len(field.data),
                     repr=[text(etype, v) for v in values])
    else:
        entry["repr"] = text(vtype, field.contents())
    return entry


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_gguf_py_reads_each_fixture_as_expected(name):
    expected = EXPECTED[name]
    reader = gguf.GGUFReader(os.path.join(GGUF_DIR, name))
    version = reader.fields["GGUF.version"].contents()
    assert version == expected["version"]
    assert reader.alignment == expected["alignment"]
    assert reader.data_offset == expected["data_start"]

    fields = [f for key, f in reader.fields.items() if not key.startswith("GGUF.")]
    wanted = [{k: v for k, v in m.items() if k != "value"} for m in expected["metadata"]]
    assert [field_entry(f) for f in fields] == wanted

    assert [t.name for t in reader.tensors] == [t["name"] for t in expected["tensors"]]
    for t, e in zip(reader.tensors, expected["tensors"]):
        assert t.tensor_type.name == e["type"], t.name
        assert [int(d) for d in t.shape] == e["dims"], t.name
        assert int(t.data_offset) - reader.data_offset == e["offset"], t.name
        assert int(t.n_bytes) == e["nbytes"], t.name
        raw = np.asarray(t.data).tobytes()
        assert len(raw) == e["nbytes"] and zlib.crc32(raw) == e["crc32"], t.name


# ---------------------------------------------------------------------------
# llama-tiny against the HDF5 fixture
# ---------------------------------------------------------------------------

def canonical_llama():
    with h5py.File(os.path.join(FIXTURES, "llama-tiny.h5"), "r") as f:
        config = {k: (v.item() if hasattr(v, "item") else v) for k, v in f["config"].attrs.items()}
        tensors = {}
        f.visititems(lambda n, obj: tensors.__setitem__(n, obj[()]) if isinstance(obj, h5py.Dataset) and "/" in n
                     and not n.startswith(("tokenizer", "config", "provenance", "user")) else None)
        tokens = [t.decode("utf-8") if isinstance(t, bytes) else t for t in f["tokenizer/tokens"][()]]
        scores = f["tokenizer/scores"][()]
        types = f["tokenizer/token_types"][()]
    return config, tensors, tokens, scores, types


def unpermute(w, n_head):
    """Inverse of llama.cpp's permute, from its definition: within each head, GGUF row 2i + j holds HF
    row i + j*d/2 (j = 0, 1)."""
    rows, cols = w.shape
    d = rows // n_head
    out = np.empty_like(w)
    for h in range(n_head):
        for i in range(d // 2):
            for j in range(2):
                out[h * d + i + j * d // 2] = w[h * d + 2 * i + j]
    return out


def gguf_arrays(name):
    reader = gguf.GGUFReader(os.path.join(GGUF_DIR, name))
    out = {}
    for t in reader.tensors:
        data = np.asarray(t.data)
        if t.tensor_type == gguf.GGMLQuantizationType.Q8_0:
            data = gguf.quants.dequantize(data, t.tensor_type)
        out[t.name] = (t.tensor_type.name, np.asarray(data).reshape([int(d) for d in reversed(t.shape)]))
    return reader, out


def canonical_from_gguf(arrays, config):
    """The canonical tensors, rebuilt from llama.cpp's names and layout."""
    H, K, d, D = config["head_count"], config["kv_head_count"], config["head_dim"], config["model_dim"]
    out = {"embed/token/weight": arrays["token_embd.weight"],
           "final_norm/weight": arrays["output_norm.weight"],
           "lm_head/weight": arrays["output.weight"]}
    for i in range(config["layer_count"]):
        b, p = "blk.%d." % i, "layers/%d/" % i
        out[p + "attn/q/weight"] = unpermute(arrays[b + "attn_q.weight"], H).reshape(H, d, D)
        out[p + "attn/k/weight"] = unpermute(arrays[b + "attn_k.weight"], K).reshape(K, d, D)
        out[p + "attn/v/weight"] = arrays[b + "attn_v.weight"].reshape(K, d, D)
        out[p + "attn/o/weight"] = arrays[b + "attn_output.weight"].T.reshape(H, d, D)
        out[p + "mlp/gate/weight"] = arrays[b + "ffn_gate.weight"]
        out[p + "mlp/up/weight"] = arrays[b + "ffn_up.weight"]
        out[p + "mlp/down/weight"] = arrays[b + "ffn_down.weight"]
        out[p + "attn_norm/weight"] = arrays[b + "attn_norm.weight"]
        out[p + "mlp_norm/weight"] = arrays[b + "ffn_norm.weight"]
    return out


def test_llama_tiny_f32_is_the_h5_model_bit_for_bit():
    config, tensors, _, _, _ = canonical_llama()
    _, arrays = gguf_arrays("llama-tiny.gguf")
    assert {t for t, _ in arrays.values()} == {"F32"}
    rebuilt = canonical_from_gguf({n: a for n, (_, a) in arrays.items()}, config)
    assert set(rebuilt) == set(tensors)
    for name, array in tensors.items():
        assert rebuilt[name].shape == array.shape, name
        assert rebuilt[name].tobytes() == array.astype("<f4").tobytes(), name


def test_llama_tiny_f16_and_q8_0_are_the_h5_model_rounded():
    config, tensors, _, _, _ = canonical_llama()
    _, f16 = gguf_arrays("llama-tiny-f16.gguf")
    for name, (kind, array) in f16.items():
        assert kind == ("F16" if array.ndim == 2 else "F32"), name
    rebuilt = canonical_from_gguf({n: a for n, (_, a) in f16.items()}, config)
    for name, array in tensors.items():
        assert rebuilt[name].tobytes() == array.astype(rebuilt[name].dtype).tobytes(), name

    _, q8 = gguf_arrays("llama-tiny-q8_0.gguf")
    kinds = {n: k for n, (k, _) in q8.items()}
    assert kinds["blk.0.ffn_down.weight"] == "F16"      # 48 columns: not whole Q8_0 blocks
    assert kinds["token_embd.weight"] == "Q8_0" and kinds["blk.1.attn_k.weight"] == "Q8_0"
    assert kinds["output_norm.weight"] == "F32"
    rebuilt = canonical_from_gguf({n: a.astype("<f4") for n, (_, a) in q8.items()}, config)
    for name, array in tensors.items():
        a = array.astype("<f4")
        if array.ndim == 1:
            assert rebuilt[name].tobytes() == a.tobytes(), name
            continue
        # Q8_0: scale = max|x| / 127 per block of 32 along the row, so the error is at most half a step
        # (plus the f16 rounding of the scale).
        step = np.abs(a).max() / 127
        assert np.abs(rebuilt[name] - a).max() <= 0.51 * step + 1e-6, name


def test_llama_tiny_metadata_matches_the_h5_config_and_tokenizer():
    config, _, tokens, scores, types = canonical_llama()
    reader = gguf.GGUFReader(os.path.join(GGUF_DIR, "llama-tiny.gguf"))

    def value(key):
        return reader.fields[key].contents()

    assert value("general.architecture") == "llama"
    assert value("llama.block_count") == config["layer_count"]
    assert value("llama.embedding_length") == config["model_dim"]
    assert value("llama.feed_forward_length") == config["ffn_dim"]
    assert value("llama.attention.head_count") == config["head_count"]
    assert value("llama.attention.head_count_kv") == config["kv_head_count"]
    assert value("llama.rope.dimension_count") == config["head_dim"]
    assert value("llama.context_length") == config["max_positions"]
    assert value("llama.vocab_size") == config["vocab_size"]
    assert np.float32(value("llama.attention.layer_norm_rms_epsilon")) == np.float32(config["norm_epsilon"])
    assert value("llama.rope.freq_base") == config["rope_theta"]
    assert value("tokenizer.ggml.bos_token_id") == config["bos_token_id"]
    assert value("tokenizer.ggml.eos_token_id") == config["eos_token_id"]
    assert value("tokenizer.ggml.unknown_token_id") == config["unk_token_id"]
    padded = config["vocab_size"] - len(tokens)
    assert value("tokenizer.ggml.tokens") == tokens + ["[PAD%d]" % i for i in range(len(tokens), config["vocab_size"])]
    assert np.array_equal(np.array(value("tokenizer.ggml.scores"), dtype="<f4"),
                          np.concatenate([scores, np.full(padded, -10000.0, "<f4")]))
    assert value("tokenizer.ggml.token_type") == list(types) + [5] * padded
    assert reader.fields["tokenizer.ggml.token_type"].types == [gguf.GGUFValueType.ARRAY, gguf.GGUFValueType.INT32]


# ---------------------------------------------------------------------------
# The bad corpus
# ---------------------------------------------------------------------------

def swift_error_cases():
    with open(SWIFT_ERRORS, encoding="utf-8") as f:
        source = f.read()
    enum = source[source.index("public enum GGUFError"):source.index("extension GGUFError")]
    return set(re.findall(r"^\s*case (\w+)\(", enum, re.M))


def test_manifest_lists_the_folder_and_covers_every_swift_case():
    files = {n for n in os.listdir(BAD_DIR) if n.endswith(".gguf")}
    assert files == set(MANIFEST)
    used = {entry["error"].split(".", 1)[1] for entry in MANIFEST.values()}
    assert used == swift_error_cases()
    for name, entry in MANIFEST.items():
        assert entry["error"].startswith("GGUFError.") and entry["why"], name
        assert all(isinstance(v, str) for v in entry["fields"].values()), name


def test_gguf_py_on_the_bad_corpus_is_reported():
    """Informational: what gguf-py does with each file (it is not the reference qkv follows; ggml is)."""
    rows = []
    for name in sorted(MANIFEST):
        try:
            reader = gguf.GGUFReader(os.path.join(BAD_DIR, name))
            for t in reader.tensors:
                np.asarray(t.data).tobytes()
            outcome = "accepted"
        except Exception as error:  # noqa: BLE001 (any failure is a rejection here)
            outcome = "rejected: %s: %s" % (type(error).__name__, str(error).splitlines()[0][:70] if str(error) else "")
        rows.append((name, MANIFEST[name]["error"], outcome))
    print("\ngguf-py %s on Fixtures/gguf/bad/:" % importlib.metadata.version("gguf"))
    for row in rows:
        print("  %-28s %-34s %s" % row)
    accepted = [r[0] for r in rows if r[2] == "accepted"]
    print("  gguf-py accepts %d of %d: %s (no-such-tensor and unsupported-type-q8_k are valid files; their errors come from tensor())"
          % (len(accepted), len(rows), ", ".join(accepted)))
    assert len(rows) == len(MANIFEST)


def test_bad_files_differ_from_the_base_only_where_stated():
    """Sanity of the builder: the base itself is valid for gguf-py, and each header-level case changes
    the base (no case is accidentally the base)."""
    base = fixtures_gguf.bad_base().build()
    path = os.path.join(BAD_DIR, "no-such-tensor.gguf")
    with open(path, "rb") as f:
        assert f.read() == base, "no-such-tensor.gguf is the valid base file"
    r = gguf.GGUFReader(path)
    assert [t.name for t in r.tensors] == ["a.weight", "b.weight", "c.weight"]
    for name in MANIFEST:
        if MANIFEST[name].get("tensor") is None:
            with open(os.path.join(BAD_DIR, name), "rb") as f:
                assert f.read() != base, name


def test_regenerating_gives_identical_files(tmp_path):
    fixtures_gguf.write_all(str(tmp_path))
    for root, _, files in os.walk(GGUF_DIR):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), GGUF_DIR)
            with open(os.path.join(root, name), "rb") as a, open(os.path.join(tmp_path, "gguf", rel), "rb") as b:
                assert a.read() == b.read(), rel
    generated = {os.path.relpath(os.path.join(r, n), os.path.join(tmp_path, "gguf"))
                 for r, _, fs in os.walk(os.path.join(tmp_path, "gguf")) for n in fs}
    committed = {os.path.relpath(os.path.join(r, n), GGUF_DIR) for r, _, fs in os.walk(GGUF_DIR) for n in fs}
    assert generated == committed
