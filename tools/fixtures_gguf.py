#!/usr/bin/env python3
"""Generate the GGUF fixtures: llama-tiny in llama.cpp's naming and layout, and a
corpus of invalid GGUF files.

Two independent writers, neither sharing code with the Swift sources:

* gguf-py (`pip install gguf`, llama.cpp's own Python package) writes the
  llama-tiny files, from the same weights as Fixtures/llama-tiny.h5
  (make_fixtures.py's generator functions, imported);
* a small byte-level builder here (`Builder`, written from ggml's
  docs/gguf.md and src/gguf.cpp) writes the files gguf-py cannot: version 2,
  every value type, odd alignments, and one invalid file per rule.

Usage: python3 tools/fixtures_gguf.py [--out DIR]   (default <repo>/Fixtures;
make_fixtures.py calls write_all() too). It writes into DIR/gguf/:

    llama-tiny.gguf        F32; Q and K rows permuted for ggml's RoPE exactly as
                           llama.cpp's convert_hf_to_gguf.py (LlamaModel.permute)
    llama-tiny-f16.gguf    2-D weights F16, norms F32 (general.file_type 1)
    llama-tiny-q8_0.gguf   2-D weights Q8_0 by gguf-py's quantize, norms F32,
                           ffn_down F16 (48 columns are not whole Q8_0 blocks:
                           convert_hf_to_gguf.py's fallback)
    all-types-v2.gguf      version 2, general.alignment 64, every value type as
                           a scalar and as an array, tensors of I8..F64, BF16,
                           Q4_0, a scalar, a 4-D and a zero-element tensor
    alignment-1.gguf       general.alignment 1: tensors at odd offsets
    expected.json          per file: version, alignment, data start, metadata
                           (key, type, and "repr": a canonical text of the value,
                           floats as bit patterns), tensors (name, ggml type,
                           dims fastest first, offset, byte count, CRC-32 of the
                           raw bytes)
    bad/*.gguf             invalid files, each the builder's base file with one
                           rule broken (BAD_CASES)
    bad/manifest.json      file -> {"error": "GGUFError.<case>", "why": one line,
                           "fields": {label: value} of the error's payload,
                           ["tensor": name: the error comes from tensor(name),
                           not from opening]}

The canonical -> llama.cpp mapping (Specs/schema.md, "[H, d, D]"):
  q_proj = Q.reshape(H*d, D), then permute(q_proj, H)
  k_proj = K.reshape(K_heads*d, D), then permute(k_proj, K_heads)
  v_proj = V.reshape(K_heads*d, D)
  o_proj = O.reshape(H*d, D).T                      ([D, H*d])
  numpy arrays are row-major, so GGUF dims are their shapes reversed.
The token list is padded to vocab_size with "[PAD<i>]" (score -10000, type
UNUSED), as convert_hf_to_gguf.py does, so token_embd's rows match.

Deterministic: the weights come from make_fixtures' seeded generators and
gguf-py writes no timestamps, so re-running gives byte-identical files with the
same gguf-py version.
"""

import argparse
import json
import os
import struct
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

import gguf  # noqa: E402
from gguf import GGMLQuantizationType as QT  # noqa: E402

GGUF_DIR = "gguf"
BAD_DIR = "bad"

# ---------------------------------------------------------------------------
# GGUF constants (ggml include/gguf.h, include/ggml.h, src/ggml-common.h)
# ---------------------------------------------------------------------------

U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
VALUE_TYPE_NAMES = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "arr", "u64", "i64", "f64"]
SCALAR_FORMATS = {U8: "<B", I8: "<b", U16: "<H", I16: "<h", U32: "<I", I32: "<i", F32: "<f",
                  BOOL: "<B", U64: "<Q", I64: "<q", F64: "<d"}

# ggml type code -> (name, block size, block bytes), for the types the builder writes.
GGML_TYPES = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 8: ("Q8_0", 32, 34), 15: ("Q8_K", 256, 292),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8),
    28: ("F64", 1, 8), 30: ("BF16", 1, 2),
}
T_F32, T_F16, T_Q4_0, T_Q8_0, T_I8, T_I16, T_I32, T_I64, T_F64, T_BF16 = 0, 1, 2, 8, 24, 25, 26, 27, 28, 30
T_Q8_K = 15

MAX_STRING = 1 << 30        # GGUF_MAX_STRING_LENGTH
MAX_ARRAY = 1 << 30         # GGUF_MAX_ARRAY_ELEMENTS


def pad(n, alignment):
    return (n + alignment - 1) // alignment * alignment


def nbytes(type_code, dims):
    _, block, size = GGML_TYPES[type_code]
    count = 1
    for d in dims:
        count *= d
    return count // block * size


# ---------------------------------------------------------------------------
# Canonical text of a value, shared by expected.json and the manifest
# ---------------------------------------------------------------------------

def repr_scalar(vtype, value):
    """ints in decimal, bools true/false, strings as they are, floats as their
    bit pattern in hex (exact, and JSON has no NaN)."""
    if vtype == F32:
        return "0x%08x" % struct.unpack("<I", struct.pack("<f", value))[0]
    if vtype == F64:
        return "0x%016x" % struct.unpack("<Q", struct.pack("<d", value))[0]
    if vtype == BOOL:
        return "true" if value else "false"
    if vtype == STR:
        return value if isinstance(value, str) else value.decode("utf-8")
    return str(int(value))


def expected_value(vtype, value, element_type=None):
    entry = {"type": VALUE_TYPE_NAMES[vtype]}
    if vtype == ARR:
        entry["element_type"] = VALUE_TYPE_NAMES[element_type]
        entry["count"] = len(value)
        entry["repr"] = [repr_scalar(element_type, v) for v in value]
    else:
        entry["repr"] = repr_scalar(vtype, value)
        if not (isinstance(value, float) and (value != value or abs(value) == float("inf"))):
            entry["value"] = value if not isinstance(value, bytes) else value.decode("utf-8")
    return entry


# ---------------------------------------------------------------------------
# The byte-level builder
# ---------------------------------------------------------------------------

def b_string(s):
    """GGUF string: u64 byte length, then the bytes (no NUL)."""
    data = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(data)) + data


def b_value(vtype, value, element_type=None):
    if vtype == ARR:
        return (struct.pack("<IQ", element_type, len(value))
                + b"".join(b_value(element_type, v) for v in value))
    if vtype == STR:
        return b_string(value)
    return struct.pack(SCALAR_FORMATS[vtype], value)


class Builder:
    """A GGUF file as parts that a bad case can break one at a time.

    kvs: [(key, type, value, element_type, raw)] - `raw`, if not None, replaces
    the encoded type+value bytes. tensors: [dict(name, dims, type, data,
    offset)] - offset None means the running padded total; `n_dims` may
    override len(dims). `alignment` pads the data (keep it equal to any
    general.alignment pair). `tensor_count`/`kv_count` None means the real counts.
    """

    def __init__(self, version=3, alignment=32):
        self.magic = b"GGUF"
        self.version = version
        self.alignment = alignment
        self.tensor_count = None
        self.kv_count = None
        self.kvs = []
        self.tensors = []

    def kv(self, key, vtype, value=None, element_type=None, raw=None):
        self.kvs.append((key, vtype, value, element_type, raw))
        return self

    def tensor(self, name, type_code, dims, data=None, offset=None, n_dims=None):
        if data is None:
            data = pattern_bytes(name, nbytes(type_code, dims))
        self.tensors.append(dict(name=name, type=type_code, dims=list(dims), data=data,
                                 offset=offset, n_dims=n_dims))
        return self

    def offsets(self):
        out, total = [], 0
        for t in self.tensors:
            out.append(total if t["offset"] is None else t["offset"])
            total += pad(len(t["data"]), self.alignment)
        return out

    def header(self):
        """(bytes up to the end of the tensor infos, positions), where positions
        has 'kv' (offset of each key) and 'info' (offset of each tensor name)."""
        out = bytearray()
        out += self.magic + struct.pack("<I", self.version)
        out += struct.pack("<Q", len(self.tensors) if self.tensor_count is None else self.tensor_count)
        out += struct.pack("<Q", len(self.kvs) if self.kv_count is None else self.kv_count)
        positions = {"kv": [], "info": []}
        for key, vtype, value, element_type, raw in self.kvs:
            positions["kv"].append(len(out))
            out += b_string(key)
            out += raw if raw is not None else struct.pack("<I", vtype) + b_value(vtype, value, element_type)
        for t, offset in zip(self.tensors, self.offsets()):
            positions["info"].append(len(out))
            out += b_string(t["name"])
            n_dims = len(t["dims"]) if t["n_dims"] is None else t["n_dims"]
            out += struct.pack("<I", n_dims)
            for d in t["dims"]:
                out += struct.pack("<q", d)
            out += struct.pack("<I", t["type"] & 0xFFFFFFFF)
            out += struct.pack("<Q", offset)
        return bytes(out), positions

    def data_start(self):
        return pad(len(self.header()[0]), self.alignment)

    def build(self):
        """The whole file: header, padding, each tensor followed by its padding
        (the last one too, as gguf-py and ggml write it)."""
        head, _ = self.header()
        out = bytearray(head)
        out += bytes(pad(len(out), self.alignment) - len(out))
        for t in self.tensors:
            out += t["data"]
            out += bytes(pad(len(t["data"]), self.alignment) - len(t["data"]))
        return bytes(out)

    def expected(self):
        """The expected.json entry of the built file."""
        metadata = []
        for key, vtype, value, element_type, raw in self.kvs:
            assert raw is None
            metadata.append(dict(key=key, **expected_value(vtype, value, element_type)))
        alignment = 32
        for entry in metadata:
            if entry["key"] == "general.alignment":
                alignment = int(entry["repr"])
        tensors = []
        for t, offset in zip(self.tensors, self.offsets()):
            tensors.append(dict(name=t["name"], type=GGML_TYPES[t["type"]][0], dims=t["dims"],
                                offset=offset, nbytes=len(t["data"]), crc32=zlib.crc32(t["data"])))
        return dict(version=self.version, alignment=alignment, data_start=self.data_start(),
                    metadata=metadata, tensors=tensors)


def pattern_bytes(name, count):
    """Deterministic filler bytes for a tensor (any bytes are valid data)."""
    rng = np.random.RandomState(zlib.crc32(name.encode("utf-8")) % 2 ** 32)
    return rng.randint(0, 256, size=count).astype("u1").tobytes()


# ---------------------------------------------------------------------------
# llama-tiny through gguf-py
# ---------------------------------------------------------------------------

def llama_permute(weights, n_head):
    """convert_hf_to_gguf.py LlamaModel.permute: within each head, rows in
    Hugging Face's rotate_half order (pairs i, i + d/2) are reordered so that
    pairs are adjacent (2i, 2i + 1), the order ggml's RoPE rotates. For K the
    caller passes n_head_kv (what LlamaModel.permute does when they differ)."""
    rows = weights.shape[0]
    return (weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


def llama_tiny_hf():
    """llama-tiny's weights as llama.cpp names them, in Hugging Face's matrix
    layout with Q/K permuted: [(gguf name, f32 array)] in writing order, plus
    the model dict from make_fixtures."""
    model = mf.llama_model()
    tensors = mf.make_weights(model)
    mf.plant_bf16_cases(tensors)        # exactly what llama-tiny.h5 holds
    w = {name: array for name, _, array in tensors}
    c = model["config"]
    H, K, d, D = c["head_count"], c["kv_head_count"], c["head_dim"], c["model_dim"]
    out = [("token_embd.weight", w["embed/token/weight"])]
    for i in range(c["layer_count"]):
        p = "layers/%d/" % i
        q = w[p + "attn/q/weight"].reshape(H * d, D)
        k = w[p + "attn/k/weight"].reshape(K * d, D)
        v = w[p + "attn/v/weight"].reshape(K * d, D)
        o = w[p + "attn/o/weight"].reshape(H * d, D).T
        b = "blk.%d." % i
        out += [
            (b + "attn_q.weight", llama_permute(q, H)),
            (b + "attn_k.weight", llama_permute(k, K)),
            (b + "attn_v.weight", v),
            (b + "attn_output.weight", o),
            (b + "ffn_gate.weight", w[p + "mlp/gate/weight"]),
            (b + "ffn_up.weight", w[p + "mlp/up/weight"]),
            (b + "ffn_down.weight", w[p + "mlp/down/weight"]),
            (b + "attn_norm.weight", w[p + "attn_norm/weight"]),
            (b + "ffn_norm.weight", w[p + "mlp_norm/weight"]),
        ]
    out += [("output_norm.weight", w["final_norm/weight"]), ("output.weight", w["lm_head/weight"])]
    return model, [(n, np.ascontiguousarray(a, dtype="<f4")) for n, a in out]


def llama_metadata(model, file_type, quantized):
    """[(key, type, value, element_type)] in the order the writer adds them."""
    c, t = model["config"], model["tokenizer"]
    V = c["vocab_size"]
    tokens = list(t["tokens"])
    scores = [float(s) for s in t["scores"]]
    types = [int(x) for x in t["token_types"]]
    # convert_hf_to_gguf.py pads the vocabulary up to vocab_size.
    for i in range(len(tokens), V):
        tokens.append("[PAD%d]" % i)
        scores.append(-10000.0)
        types.append(5)         # UNUSED
    f32 = lambda x: float(np.float32(x))  # noqa: E731  (the value an f32 holds)
    meta = [
        ("general.architecture", STR, "llama", None),
        ("general.name", STR, "llama-tiny", None),
        ("general.file_type", U32, file_type, None),
        ("llama.vocab_size", U32, V, None),
        ("llama.context_length", U32, c["max_positions"], None),
        ("llama.embedding_length", U32, c["model_dim"], None),
        ("llama.block_count", U32, c["layer_count"], None),
        ("llama.feed_forward_length", U32, c["ffn_dim"], None),
        ("llama.rope.dimension_count", U32, c["head_dim"], None),
        ("llama.attention.head_count", U32, c["head_count"], None),
        ("llama.attention.head_count_kv", U32, c["kv_head_count"], None),
        ("llama.attention.layer_norm_rms_epsilon", F32, f32(c["norm_epsilon"]), None),
        ("llama.rope.freq_base", F32, f32(c["rope_theta"]), None),
        ("tokenizer.ggml.model", STR, "llama", None),
        ("tokenizer.ggml.tokens", ARR, tokens, STR),
        ("tokenizer.ggml.scores", ARR, scores, F32),
        ("tokenizer.ggml.token_type", ARR, types, I32),
        ("tokenizer.ggml.bos_token_id", U32, c["bos_token_id"], None),
        ("tokenizer.ggml.eos_token_id", U32, c["eos_token_id"], None),
        ("tokenizer.ggml.unknown_token_id", U32, c["unk_token_id"], None),
        ("tokenizer.ggml.add_bos_token", BOOL, t["add_bos"], None),
        ("tokenizer.ggml.add_eos_token", BOOL, t["add_eos"], None),
        ("tokenizer.ggml.add_space_prefix", BOOL, True, None),
    ]
    if quantized:
        meta.append(("general.quantization_version", U32, 2, None))
    return meta


def add_metadata(writer, meta):
    """Through gguf-py's typed adders (add_architecture() already ran)."""
    adders = {STR: writer.add_string, U32: writer.add_uint32, F32: writer.add_float32, BOOL: writer.add_bool}
    for key, vtype, value, element_type in meta:
        if key == "general.architecture":
            continue
        if vtype == ARR:
            writer.add_key_value(key, value, gguf.GGUFValueType.ARRAY, sub_type=gguf.GGUFValueType(element_type))
        else:
            adders[vtype](key, value)


def write_llama_gguf(path, variant):
    """variant: "f32", "f16" or "q8_0". Returns the expected.json entry."""
    model, tensors = llama_tiny_hf()
    file_type = {"f32": 0, "f16": 1, "q8_0": 7}[variant]
    meta = llama_metadata(model, file_type, variant == "q8_0")
    writer = gguf.GGUFWriter(path, "llama")
    add_metadata(writer, meta)
    expected_tensors = []
    offset = 0
    for name, array in tensors:
        data, raw_type, type_name = array, None, "F32"
        if array.ndim == 2 and variant == "f16":
            data, type_name = array.astype("<f2"), "F16"
        elif array.ndim == 2 and variant == "q8_0":
            try:
                data = gguf.quants.quantize(array, QT.Q8_0)
                raw_type, type_name = QT.Q8_0, "Q8_0"
            except gguf.quants.QuantError:
                # convert_hf_to_gguf.py falls back to F16 when a row is not whole blocks
                data, type_name = array.astype("<f2"), "F16"
        writer.add_tensor(name, data, raw_dtype=raw_type)
        raw = np.ascontiguousarray(data).tobytes()
        expected_tensors.append(dict(name=name, type=type_name, dims=list(reversed(array.shape)),
                                     offset=offset, nbytes=len(raw), crc32=zlib.crc32(raw)))
        offset += pad(len(raw), 32)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()

    metadata = [dict(key=k, **expected_value(t, v, e)) for k, t, v, e in meta]
    reader = gguf.GGUFReader(path)
    # gguf-py must have written what we asked for, in our order.
    assert [f for f in reader.fields if not f.startswith("GGUF.")] == [m["key"] for m in metadata]
    assert [(t.name, int(t.data_offset) - reader.data_offset) for t in reader.tensors] == \
        [(t["name"], t["offset"]) for t in expected_tensors]
    return dict(version=3, alignment=32, data_start=reader.data_offset,
                metadata=metadata, tensors=expected_tensors)


# ---------------------------------------------------------------------------
# Builder fixtures: every value type, version 2, odd alignments
# ---------------------------------------------------------------------------

def all_types_builder():
    f32_specials = [0.0, -0.0, 1.5, float("inf"), float("-inf"), float("nan"), float(np.float32(1e-45))]
    b = Builder(version=2, alignment=64)
    b.kv("general.architecture", STR, "test")
    b.kv("general.alignment", U32, 64)
    b.kv("test.u8", U8, 255)
    b.kv("test.i8", I8, -128)
    b.kv("test.u16", U16, 65535)
    b.kv("test.i16", I16, -32768)
    b.kv("test.u32", U32, 4294967295)
    b.kv("test.i32", I32, -2147483648)
    b.kv("test.f32", F32, float(np.float32(0.1)))
    b.kv("test.bool", BOOL, True)
    b.kv("test.str", STR, "héllo wörld ✓ 日本")
    b.kv("test.u64", U64, 18446744073709551615)
    b.kv("test.i64", I64, -9223372036854775808)
    b.kv("test.f64", F64, 0.1)
    b.kv("test.empty_str", STR, "")
    # Keys that differ only in Unicode normalisation are two keys (ggml compares bytes).
    b.kv("test.caf\u00e9", U8, 1)
    b.kv("test.cafe\u0301", U8, 2)
    b.kv("test.arr.u8", ARR, [0, 1, 255], U8)
    b.kv("test.arr.i8", ARR, [-128, 0, 127], I8)
    b.kv("test.arr.u16", ARR, [0, 65535], U16)
    b.kv("test.arr.i16", ARR, [-32768, 32767], I16)
    b.kv("test.arr.u32", ARR, [0, 4294967295], U32)
    b.kv("test.arr.i32", ARR, [-2147483648, 2147483647], I32)
    b.kv("test.arr.f32", ARR, f32_specials, F32)
    b.kv("test.arr.bool", ARR, [True, False, True], BOOL)
    b.kv("test.arr.str", ARR, ["", "a", "✓", "<0x0A>", "▁the"], STR)
    b.kv("test.arr.u64", ARR, [0, 18446744073709551615], U64)
    b.kv("test.arr.i64", ARR, [-9223372036854775808, 9223372036854775807], I64)
    b.kv("test.arr.f64", ARR, [0.0, -0.0, float("nan"), 5e-324, 1e308], F64)
    b.kv("test.arr.empty", ARR, [], U32)
    b.tensor("i8", T_I8, [3])
    b.tensor("i16", T_I16, [3, 2])
    b.tensor("i32", T_I32, [4])
    b.tensor("i64", T_I64, [2])
    b.tensor("f64", T_F64, [2], data=np.array([1.0, -2.5], dtype="<f8").tobytes())
    b.tensor("bf16", T_BF16, [4, 2])
    b.tensor("scalar", T_F32, [], data=np.array([3.25], dtype="<f4").tobytes())
    b.tensor("four-d", T_F32, [2, 1, 3, 2], data=np.arange(12, dtype="<f4").tobytes())
    b.tensor("empty", T_F32, [0, 4], data=b"")
    b.tensor("q4_0", T_Q4_0, [32, 2])
    b.tensor("q8_0", T_Q8_0, [64, 1])
    b.tensor("n" * 63, T_F16, [1])          # the longest name ggml allows
    return b


def alignment_1_builder():
    b = Builder(version=3, alignment=1)
    b.kv("general.architecture", STR, "tests")   # puts the data at byte 242: every tensor but "odd" misaligned
    b.kv("general.alignment", U32, 1)
    b.tensor("odd", T_I8, [3], data=bytes([1, 2, 3]))
    b.tensor("f32", T_F32, [2], data=np.array([1.5, -2.0], dtype="<f4").tobytes())
    b.tensor("f64", T_F64, [1], data=np.array([0.25], dtype="<f8").tobytes())
    b.tensor("f16", T_F16, [2], data=np.array([1.0, 2.0], dtype="<f2").tobytes())
    return b


# ---------------------------------------------------------------------------
# Bad fixtures: the base file with one rule broken each
# ---------------------------------------------------------------------------

BAD_CASES = []   # (filename, error, why, function(builder) -> (bytes, fields, tensor or None))


def bad_case(filename, error, why):
    def register(function):
        BAD_CASES.append((filename, "GGUFError." + error, why, function))
        return function
    return register


def bad_base():
    """A valid little file: 5 pairs, tensors a (F32 [5, 2], 40 bytes, padded to
    64), b (Q8_0 [32, 2], 68 bytes) and c (F16 [4])."""
    b = Builder()
    b.kv("general.architecture", STR, "llama")
    b.kv("general.name", STR, "bad-base")
    b.kv("llama.block_count", U32, 1)
    b.kv("tokenizer.ggml.tokens", ARR, ["<unk>", "<s>", "</s>", "a"], STR)
    b.kv("tokenizer.ggml.add_bos_token", BOOL, True)
    b.tensor("a.weight", T_F32, [5, 2], data=np.arange(10, dtype="<f4").tobytes())
    b.tensor("b.weight", T_Q8_0, [32, 2])
    b.tensor("c.weight", T_F16, [4], data=np.array([1, 2, 3, 4], dtype="<f2").tobytes())
    return b


def replace_kv(b, key, vtype, value=None, element_type=None, raw=None):
    i = [k for k, *_ in b.kvs].index(key)
    b.kvs[i] = (key, vtype, value, element_type, raw)
    return i


def value_position(b, i):
    """Offset of the first byte after key i's key string."""
    _, positions = b.header()
    return positions["kv"][i] + 8 + len(b.kvs[i][0].encode("utf-8"))


# --- split models ------------------------------------------------------------

@bad_case("split-not-first.gguf", "splitShard", "split.no 1 of split.count 2: a later shard of a split model, opened alone")
def split_not_first(b):
    b.kv("split.no", U16, 1)
    b.kv("split.count", U16, 2)
    b.kv("split.tensors.count", I32, 3)
    return b.build(), {}, None


# --- magic, version, counts -------------------------------------------------

@bad_case("bad-magic.gguf", "badMagic", "the magic is GGML, the pre-GGUF format")
def bad_magic(b):
    b.magic = b"GGML"
    return b.build(), {"found": list(b"GGML")}, None


@bad_case("empty.gguf", "unexpectedEnd", "a file of zero bytes: not even the magic")
def empty(b):
    return b"", {"offset": 0, "needed": 4, "available": 0}, None


@bad_case("version-0.gguf", "unsupportedVersion", "version 0")
def version_0(b):
    b.version = 0
    return b.build(), {"version": 0}, None


@bad_case("version-1.gguf", "unsupportedVersion", "version 1 (GGUFv1: u32 counts and lengths; ggml no longer reads it)")
def version_1(b):
    b.version = 1
    return b.build(), {"version": 1}, None


@bad_case("version-4.gguf", "unsupportedVersion", "version 4, newer than 3")
def version_4(b):
    b.version = 4
    return b.build(), {"version": 4}, None


@bad_case("version-byteswapped.gguf", "wrongByteOrder", "version 3 written big-endian (0x03000000 read little-endian)")
def version_byteswapped(b):
    b.version = 0x03000000
    return b.build(), {"version": 0x03000000}, None


@bad_case("tensor-count-negative.gguf", "countOutOfRange", "tensor count 0xFFFFFFFFFFFFFFFF, -1 as ggml's int64")
def tensor_count_negative(b):
    b.tensor_count = 2 ** 64 - 1
    data = b.build()
    return data, {"count": 2 ** 64 - 1, "limit": (len(data) - 24) // 25}, None


@bad_case("tensor-count-huge.gguf", "countOutOfRange", "tensor count 1,000,000 in a file of a few hundred bytes (25 bytes at least each)")
def tensor_count_huge(b):
    b.tensor_count = 1000000
    data = b.build()
    return data, {"count": 1000000, "limit": (len(data) - 24) // 25}, None


@bad_case("kv-count-huge.gguf", "countOutOfRange", "key-value count 2^40 (14 bytes at least each)")
def kv_count_huge(b):
    b.kv_count = 2 ** 40
    data = b.build()
    return data, {"count": 2 ** 40, "limit": (len(data) - 24) // 14}, None


@bad_case("truncated-header.gguf", "unexpectedEnd", "the file ends 4 bytes into the key-value count")
def truncated_header(b):
    return b.build()[:20], {"offset": 16, "needed": 8, "available": 4}, None


# --- keys and values ----------------------------------------------------------

@bad_case("string-past-end.gguf", "unexpectedEnd", "general.name declares 100,000 bytes, more than the file has left")
def string_past_end(b):
    i = replace_kv(b, "general.name", STR, raw=struct.pack("<IQ", STR, 100000) + b"bad-base")
    data = b.build()
    at = value_position(b, i) + 4 + 8
    return data, {"offset": at, "needed": 100000, "available": len(data) - at}, None


@bad_case("string-too-long.gguf", "stringTooLong", "a key declares 2^30 + 1 bytes, over ggml's 1 GiB string limit")
def string_too_long(b):
    b.kvs.insert(1, ("x", U8, 0, None, None))
    data = bytearray(b.build())
    _, positions = b.header()
    at = positions["kv"][1]
    data[at:at + 8] = struct.pack("<Q", MAX_STRING + 1)
    return bytes(data), {"offset": at, "length": MAX_STRING + 1, "limit": MAX_STRING}, None


@bad_case("array-too-long.gguf", "arrayTooLong", "a u32 array declares 2^30 + 1 elements, over ggml's limit")
def array_too_long(b):
    b.kv("test.big", ARR, raw=struct.pack("<IIQ", ARR, U32, MAX_ARRAY + 1) + bytes(16))
    return b.build(), {"key": "test.big", "count": MAX_ARRAY + 1, "limit": MAX_ARRAY}, None


@bad_case("array-past-end.gguf", "unexpectedEnd", "a u32 array declares 1,000,000 elements (4,000,000 bytes) in a small file")
def array_past_end(b):
    b.kv("test.big", ARR, raw=struct.pack("<IIQ", ARR, U32, 1000000) + bytes(16))
    data = b.build()
    at = value_position(b, len(b.kvs) - 1) + 4 + 4 + 8
    return data, {"offset": at, "needed": 4000000, "available": len(data) - at}, None


@bad_case("empty-key.gguf", "emptyKey", "the third key is the empty string")
def empty_key(b):
    b.kvs.insert(2, ("", U32, 7, None, None))
    data = b.build()
    return data, {"index": 2, "offset": b.header()[1]["kv"][2]}, None


@bad_case("duplicate-key.gguf", "duplicateKey", "general.name appears twice (second value 'again')")
def duplicate_key(b):
    b.kv("general.name", STR, "again")
    data = b.build()
    return data, {"key": "general.name", "offset": b.header()[1]["kv"][-1]}, None


@bad_case("key-not-utf8.gguf", "invalidUTF8", "a key holds the byte 0xFF")
def key_not_utf8(b):
    b.kv(b"test.\xff", U8, 1)
    data = b.build()
    return data, {"offset": b.header()[1]["kv"][-1]}, None


@bad_case("value-type-13.gguf", "invalidValueType", "llama.block_count has value type 13, one past f64")
def value_type_13(b):
    replace_kv(b, "llama.block_count", U32, raw=struct.pack("<II", 13, 1))
    return b.build(), {"key": "llama.block_count", "type": 13}, None


@bad_case("array-element-type-13.gguf", "invalidValueType", "an array whose element type is 13")
def array_element_type_13(b):
    b.kv("test.arr", ARR, raw=struct.pack("<IIQ", ARR, 13, 1) + bytes(8))
    return b.build(), {"key": "test.arr", "type": 13}, None


@bad_case("array-of-arrays.gguf", "nestedArray", "an array whose element type is array")
def array_of_arrays(b):
    b.kv("test.nested", ARR, raw=struct.pack("<IIQ", ARR, ARR, 1) + struct.pack("<IQ", U8, 1) + b"\x01")
    return b.build(), {"key": "test.nested"}, None


@bad_case("bool-2.gguf", "invalidBool", "tokenizer.ggml.add_bos_token is a bool stored as 2")
def bool_2(b):
    i = replace_kv(b, "tokenizer.ggml.add_bos_token", BOOL, raw=struct.pack("<IB", BOOL, 2))
    data = b.build()
    return data, {"key": "tokenizer.ggml.add_bos_token", "offset": value_position(b, i) + 4, "byte": 2}, None


@bad_case("alignment-u64.gguf", "alignmentNotU32", "general.alignment is the u64 32 (ggml requires a u32)")
def alignment_u64(b):
    b.kvs.insert(1, ("general.alignment", U64, 32, None, None))
    return b.build(), {"type": "u64"}, None


@bad_case("alignment-0.gguf", "invalidAlignment", "general.alignment is 0")
def alignment_0(b):
    b.kvs.insert(1, ("general.alignment", U32, 0, None, None))
    return b.build(), {"alignment": 0}, None


@bad_case("alignment-48.gguf", "invalidAlignment", "general.alignment is 48, not a power of two (data padded to 48)")
def alignment_48(b):
    b.kvs.insert(1, ("general.alignment", U32, 48, None, None))
    b.alignment = 48
    return b.build(), {"alignment": 48}, None


# --- tensor infos ---------------------------------------------------------------

def set_tensor(b, tensor_name, **changes):
    t = next(t for t in b.tensors if t["name"] == tensor_name)
    t.update(changes)
    return t


@bad_case("tensor-name-empty.gguf", "invalidTensorName", "tensor 1's name is empty")
def tensor_name_empty(b):
    set_tensor(b, "b.weight", name="")
    data = b.build()
    return data, {"index": 1, "offset": b.header()[1]["info"][1], "name": ""}, None


@bad_case("tensor-name-64-bytes.gguf", "invalidTensorName", "tensor 1's name is 64 bytes; GGML_MAX_NAME (64) includes the NUL")
def tensor_name_64(b):
    set_tensor(b, "b.weight", name="b" * 64)
    data = b.build()
    return data, {"index": 1, "offset": b.header()[1]["info"][1], "name": "b" * 64}, None


@bad_case("tensor-name-nul.gguf", "invalidTensorName", "tensor 1's name is 'b\\0.weight', which ggml would cut to 'b'")
def tensor_name_nul(b):
    set_tensor(b, "b.weight", name="b\0.weight")
    data = b.build()
    return data, {"index": 1, "offset": b.header()[1]["info"][1], "name": "b\0.weight"}, None


@bad_case("tensor-name-not-utf8.gguf", "invalidUTF8", "tensor 2's name holds the byte 0xC3 without its continuation")
def tensor_name_not_utf8(b):
    set_tensor(b, "c.weight", name=b"c\xc3.weight")
    data = b.build()
    return data, {"offset": b.header()[1]["info"][2]}, None


@bad_case("duplicate-tensor.gguf", "duplicateTensor", "tensor c is named a.weight like tensor 0")
def duplicate_tensor(b):
    set_tensor(b, "c.weight", name="a.weight")
    return b.build(), {"tensor": "a.weight"}, None


@bad_case("five-dims.gguf", "tooManyDimensions", "a.weight has 5 dimensions [5, 2, 1, 1, 1]; GGML_MAX_DIMS is 4")
def five_dims(b):
    set_tensor(b, "a.weight", dims=[5, 2, 1, 1, 1])
    return b.build(), {"tensor": "a.weight", "count": 5}, None


@bad_case("negative-dim.gguf", "negativeDimension", "a.weight has dimensions [5, -2]")
def negative_dim(b):
    set_tensor(b, "a.weight", dims=[5, -2])
    return b.build(), {"tensor": "a.weight", "index": 1, "value": -2}, None


@bad_case("element-overflow.gguf", "elementCountOverflow", "a.weight has dimensions [2^32, 2^32]: 2^64 elements")
def element_overflow(b):
    set_tensor(b, "a.weight", dims=[2 ** 32, 2 ** 32])
    return b.build(), {"tensor": "a.weight", "dims": [2 ** 32, 2 ** 32]}, None


@bad_case("byte-overflow.gguf", "elementCountOverflow", "a.weight is F32 [2^62]: the element count fits, 2^64 bytes do not")
def byte_overflow(b):
    set_tensor(b, "a.weight", dims=[2 ** 62])
    return b.build(), {"tensor": "a.weight", "dims": [2 ** 62]}, None


@bad_case("type-99.gguf", "invalidTensorType", "b.weight has ggml type 99, past GGML_TYPE_COUNT")
def type_99(b):
    set_tensor(b, "b.weight", type=99)
    return b.build(), {"tensor": "b.weight", "code": 99}, None


@bad_case("type-removed-q4_2.gguf", "invalidTensorType", "b.weight has ggml type 4, Q4_2, removed from ggml")
def type_removed(b):
    set_tensor(b, "b.weight", type=4)
    return b.build(), {"tensor": "b.weight", "code": 4}, None


@bad_case("type-negative.gguf", "invalidTensorType", "b.weight has ggml type -1")
def type_negative(b):
    set_tensor(b, "b.weight", type=-1)
    return b.build(), {"tensor": "b.weight", "code": 2 ** 32 - 1}, None


@bad_case("partial-block-q8_0.gguf", "partialBlock", "b.weight is Q8_0 with 48 elements per row, not whole 32-element blocks")
def partial_block(b):
    set_tensor(b, "b.weight", dims=[48, 2], data=pattern_bytes("b.weight", 102))
    return b.build(), {"tensor": "b.weight", "type": "Q8_0", "firstDimension": 48, "blockSize": 32}, None


@bad_case("offset-gap.gguf", "tensorOffsetMismatch", "b.weight's offset is 96, 32 bytes after the padded end of a.weight (64)")
def offset_gap(b):
    set_tensor(b, "b.weight", offset=96)
    return b.build(), {"tensor": "b.weight", "offset": 96, "expected": 64}, None


@bad_case("offset-unpadded.gguf", "tensorOffsetMismatch", "b.weight's offset is 40, a.weight's end without the padding to 32")
def offset_unpadded(b):
    set_tensor(b, "b.weight", offset=40)
    return b.build(), {"tensor": "b.weight", "offset": 40, "expected": 64}, None


# --- the data section -------------------------------------------------------------

@bad_case("data-start-past-end.gguf", "dataStartPastEnd", "the file ends with the tensor infos, before the padding that starts the data")
def data_start_past_end(b):
    head, _ = b.header()
    assert len(head) % 32 != 0, "the base's header must end unaligned for this case"
    return head, {"dataStart": pad(len(head), 32), "fileLength": len(head)}, None


@bad_case("truncated-data.gguf", "tensorPastEnd", "the file ends 4 bytes into c.weight (a truncated download)")
def truncated_data(b):
    data = b.build()
    start = b.data_start() + b.offsets()[2]
    return data[:start + 4], {"tensor": "c.weight", "end": start + 8, "fileLength": start + 4}, None


# --- reading tensors ---------------------------------------------------------------

@bad_case("unsupported-type-q8_k.gguf", "unsupportedTensorType", "valid; q.weight is Q8_K (ggml's scratch type for activations), which tensor() cannot view")
def unsupported_type(b):
    b.tensor("q.weight", T_Q8_K, [256, 2])
    return b.build(), {"tensor": "q.weight", "type": "Q8_K"}, "q.weight"


@bad_case("no-such-tensor.gguf", "noSuchTensor", "valid; tensor('missing.weight') asks for a name the file lacks")
def no_such_tensor(b):
    return b.build(), {"tensor": "missing.weight"}, "missing.weight"


def render_field(value):
    """A payload value as Swift's `description` prints it: decimal integers,
    lists as "[a, b]", strings as they are (JSON numbers above 2^53 would not
    survive Foundation's parser)."""
    if isinstance(value, list):
        return "[" + ", ".join(render_field(v) for v in value) + "]"
    return value if isinstance(value, str) else str(value)


def write_bad_fixtures(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    manifest = {}
    for filename, error, why, function in BAD_CASES:
        data, fields, tensor = function(bad_base())
        with open(os.path.join(out_dir, filename), "wb") as f:
            f.write(data)
        manifest[filename] = {"error": error, "why": why,
                              "fields": {label: render_field(v) for label, v in fields.items()}}
        if tensor is not None:
            manifest[filename]["tensor"] = tensor
    for stale in sorted(os.listdir(out_dir)):
        if stale.endswith(".gguf") and stale not in manifest:
            os.remove(os.path.join(out_dir, stale))
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as out:
        json.dump(manifest, out, indent=1, ensure_ascii=False)
        out.write("\n")
    print("wrote %s: %d bad GGUF files and manifest.json" % (out_dir, len(manifest)))


# ---------------------------------------------------------------------------

def write_all(fixtures_dir):
    """Write every GGUF fixture into fixtures_dir/gguf."""
    out = os.path.join(fixtures_dir, GGUF_DIR)
    os.makedirs(out, exist_ok=True)
    expected = {}
    for filename, variant in (("llama-tiny.gguf", "f32"), ("llama-tiny-f16.gguf", "f16"),
                              ("llama-tiny-q8_0.gguf", "q8_0")):
        path = os.path.join(out, filename)
        expected[filename] = write_llama_gguf(path, variant)
        print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
    for filename, builder in (("all-types-v2.gguf", all_types_builder()), ("alignment-1.gguf", alignment_1_builder())):
        path = os.path.join(out, filename)
        with open(path, "wb") as f:
            f.write(builder.build())
        expected[filename] = builder.expected()
        print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
    with open(os.path.join(out, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")
    write_bad_fixtures(os.path.join(out, BAD_DIR))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=mf.DEFAULT_OUT, help="fixtures directory (default: %(default)s)")
    args = parser.parse_args(argv)
    write_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
