"""Unit tests of tools/qkv_numpy.py, the independent .qkv reader.

A minimal, spec-following .qkv writer lives here (and only here): it exists
to produce valid files and precisely corrupted ones for the reader. It is not
a second implementation to trust; qkv's own writer is checked against the
reader in test_interop.py.
"""

import os
import struct
import zlib

import h5py
import numpy as np
import pytest

import make_fixtures
from qkv_numpy import read_qkv, read_qkv_file

REPO_ROOT = os.path.dirname(make_fixtures.DEFAULT_OUT)
FIXTURES = make_fixtures.DEFAULT_OUT

MAGIC = b"\x89QKV\r\n\x1a\n"
VALUE_CODES = {"bool": 1, "int": 2, "float": 3, "string": 4, "int32[]": 16,
               "int64[]": 17, "float32[]": 18, "float64[]": 19, "string[]": 20}
ARRAY_FORMATS = {"int32[]": "<i4", "int64[]": "<i8", "float32[]": "<f4", "float64[]": "<f8"}
DTYPE_CODES = {"f32": 1, "f16": 2, "bf16": 3, "f64": 4, "i8": 8, "u8": 9,
               "i16": 10, "i32": 11, "i64": 12, "q8_0": 32}


def align64(x):
    return (x + 63) // 64 * 64


# ---------------------------------------------------------------------------
# The throwaway writer
# ---------------------------------------------------------------------------

def encode_string(s):
    b = s.encode("utf-8")
    return struct.pack("<I", len(b)) + b


def encode_value(type_name, value):
    """The value bytes of one metadata entry (after its type byte)."""
    if type_name == "bool":
        return bytes([1 if value else 0])
    if type_name == "int":
        return struct.pack("<q", value)
    if type_name == "float":
        return struct.pack("<d", value)
    if type_name == "string":
        return encode_string(value)
    if type_name == "string[]":
        return struct.pack("<Q", len(value)) + b"".join(encode_string(s) for s in value)
    array = np.asarray(value, dtype=ARRAY_FORMATS[type_name])
    return struct.pack("<Q", len(array)) + array.tobytes()


def encode_entry(key, type_name, value):
    k = key.encode("utf-8")
    return struct.pack("<H", len(k)) + k + bytes([VALUE_CODES[type_name]]) + encode_value(type_name, value)


def tensor(name, role, dtype, shape, data, **overrides):
    """A tensor for build_qkv; `data` is its raw bytes (or a numpy array).
    Overrides (offset, nbytes, crc, block, dtype_code, rank_shape) replace
    table fields to make broken files."""
    if isinstance(data, np.ndarray):
        data = np.ascontiguousarray(data).tobytes()
    return dict(name=name, role=role, dtype=dtype, shape=tuple(shape), data=data, **overrides)


def build_qkv(metadata, tensors, **header):
    """Build a .qkv file image (a bytearray) following Specs/qkv-format.md.

    metadata: list of (key, type_name, value), or raw pre-encoded entry bytes.
    tensors: list of tensor(...) dicts, in table order.
    header: overrides for magic, major, minor, bom, reserved, file_length,
    data_offset, entry_count; the header CRC is computed last, over whatever
    was written (so overridden fields still pass the CRC check).
    """
    entries = [m if isinstance(m, bytes) else encode_entry(*m)
               for m in sorted(metadata, key=lambda m: m[0] if not isinstance(m, bytes) else "")]
    meta = struct.pack("<Q", header.get("entry_count", len(entries))) + b"".join(entries)

    # Tensor data positions follow the tiling rule, from the real data lengths.
    table = b""
    offset = 0
    placed = []
    for t in tensors:
        crc = zlib.crc32(t["data"])
        block = (32, 2, 1) if t["dtype"] == "q8_0" else (0, 0, 0)
        name = t["name"].encode("utf-8")
        shape = t.get("rank_shape", t["shape"])
        table += struct.pack("<H", len(name)) + name
        table += struct.pack("<HBB", t["role"], t.get("dtype_code", DTYPE_CODES[t["dtype"]]), len(shape))
        table += b"".join(struct.pack("<Q", d) for d in shape)
        table += struct.pack("<QQI", t.get("offset", offset), t.get("nbytes", len(t["data"])),
                             t.get("crc", crc))
        table += struct.pack("<HBB", *t.get("block", block))
        placed.append((offset, t["data"]))
        offset = align64(offset + len(t["data"]))

    M, L = len(meta), len(table)
    D = align64(64 + M + L)
    end = D + (placed[-1][0] + len(placed[-1][1]) if placed else 0)
    buf = bytearray(end)
    buf[64:64 + M] = meta
    buf[64 + M:64 + M + L] = table
    for off, data in placed:
        buf[D + off:D + off + len(data)] = data

    buf[0:8] = header.get("magic", MAGIC)
    struct.pack_into("<HHI", buf, 8, header.get("major", 1), header.get("minor", 0),
                     header.get("bom", 0x0A0B0C0D))
    struct.pack_into("<QQQQQ", buf, 16, header.get("file_length", end), M, len(tensors), L,
                     header.get("data_offset", D))
    struct.pack_into("<I", buf, 60, header.get("reserved", 0))
    fix_header_crc(buf)
    return buf


def fix_header_crc(buf):
    """Recompute the header CRC of a file image in place (after patching)."""
    M, L = struct.unpack_from("<Q", buf, 24)[0], struct.unpack_from("<Q", buf, 40)[0]
    crc = zlib.crc32(bytes(buf[0:56]))
    crc = zlib.crc32(bytes(buf[64:64 + M + L]), crc)
    struct.pack_into("<I", buf, 56, crc)


def write(tmp_path, buf, name="t.qkv"):
    path = tmp_path / name
    path.write_bytes(bytes(buf))
    return path


# ---------------------------------------------------------------------------
# A small valid model image used by most tests
# ---------------------------------------------------------------------------

RNG = np.random.RandomState(7)
W_Q = RNG.standard_normal((2, 4, 8)).astype("<f4")
W_F16 = RNG.standard_normal((3, 5)).astype("<f2")
W_BF16 = np.arange(10, dtype="<u2") * 0x0101
W_I8 = np.arange(-3, 4, dtype="i1")
Q8 = bytes(range(34)) * 2            # two q8_0 blocks: shape [1, 64]

METADATA = [
    ("config.family", "string", "llama"),
    ("config.head_count", "int", -2 ** 63),            # any int64, even negative
    ("config.norm_epsilon", "float", 1e-6),
    ("config.gated_mlp", "bool", True),
    ("config.tied_embeddings", "bool", False),
    ("tokenizer.tokens", "string[]", ["<unk>", "▁the", "é", ""]),
    ("tokenizer.scores", "float32[]", [0.0, -1.5, -2.25, 3.0]),
    ("tokenizer.token_types", "int32[]", [2, 1, 1, 6]),
    ("user.big", "int64[]", [2 ** 62, -1]),
    ("user.doubles", "float64[]", [0.1, -0.0]),
    ("user.empty", "string", ""),
    ("provenance.source", "string", "unit-test"),
]

TENSORS = [
    tensor("layers/0/attn/q/weight", 10, "f32", W_Q.shape, W_Q),
    tensor("x/f16", 1, "f16", W_F16.shape, W_F16),
    tensor("x/bf16", 1, "bf16", W_BF16.shape, W_BF16),
    tensor("x/i8", 1, "i8", W_I8.shape, W_I8),
    tensor("x/scalar", 1, "f64", (), np.array(2.5, dtype="<f8")),
    tensor("x/q8", 1, "q8_0", (1, 64), Q8),
]


def valid_image():
    return build_qkv(METADATA, TENSORS)


# ---------------------------------------------------------------------------
# Tests: valid files
# ---------------------------------------------------------------------------

def test_reads_all_metadata_types(tmp_path):
    metadata, _ = read_qkv(write(tmp_path, valid_image()))
    # Keys come back in file order, which the writer sorted.
    assert list(metadata) == sorted(k for k, _, _ in METADATA)
    assert metadata["config.family"] == "llama"
    assert metadata["config.head_count"] == -2 ** 63
    assert metadata["config.norm_epsilon"] == 1e-6
    assert metadata["config.gated_mlp"] is True
    assert metadata["config.tied_embeddings"] is False
    assert metadata["tokenizer.tokens"] == ["<unk>", "▁the", "é", ""]
    scores = metadata["tokenizer.scores"]
    assert scores.dtype == np.dtype("<f4") and scores.tolist() == [0.0, -1.5, -2.25, 3.0]
    types = metadata["tokenizer.token_types"]
    assert types.dtype == np.dtype("<i4") and types.tolist() == [2, 1, 1, 6]
    assert metadata["user.big"].dtype == np.dtype("<i8")
    assert metadata["user.big"].tolist() == [2 ** 62, -1]
    doubles = metadata["user.doubles"]
    assert doubles.dtype == np.dtype("<f8") and doubles.tobytes() == np.array([0.1, -0.0]).tobytes()
    assert metadata["user.empty"] == ""


def test_reads_tensors_zero_copy(tmp_path):
    path = write(tmp_path, valid_image())
    _, tensors = read_qkv(path)
    assert list(tensors) == [t["name"] for t in TENSORS]
    q = tensors["layers/0/attn/q/weight"]
    assert q["role"] == "attn_q" and q["dtype"] == "f32" and q["shape"] == (2, 4, 8)
    assert q["array"].dtype == np.dtype("<f4")
    assert np.array_equal(q["array"][1], W_Q[1])
    assert tensors["x/f16"]["array"].tobytes() == W_F16.tobytes()
    assert tensors["x/bf16"]["array"].dtype == np.dtype("<u2")
    assert tensors["x/bf16"]["array"].tobytes() == W_BF16.tobytes()
    assert tensors["x/i8"]["array"].tolist() == W_I8.tolist()
    assert tensors["x/scalar"]["array"].shape == () and float(tensors["x/scalar"]["array"]) == 2.5
    q8 = tensors["x/q8"]["array"]
    assert q8.shape == (1, 2, 34) and q8.tobytes() == Q8
    for t in tensors.values():
        assert t["offset"] % 64 == 0
        # Views into the read-only mapping, not copies.
        assert not t["array"].flags.writeable
        assert not t["array"].flags.owndata


def test_file_without_tensors(tmp_path):
    metadata, tensors = read_qkv(write(tmp_path, build_qkv(METADATA[:1], [])))
    assert tensors == {} and metadata == {"config.family": "llama"}


def test_newer_minor_version_is_accepted(tmp_path):
    _, tensors = read_qkv(write(tmp_path, build_qkv(METADATA, TENSORS, minor=7)))
    assert len(tensors) == len(TENSORS)


def test_fixture_roundtrip_through_throwaway_writer(tmp_path):
    """A fixture copied into .qkv by the throwaway writer reads back bit for bit."""
    with h5py.File(os.path.join(FIXTURES, "llama-tiny-bf16.h5"), "r") as f:
        metadata = []
        for key, value in f["config"].attrs.items():
            kind = make_fixtures.CONFIG_KEYS[key]
            metadata.append(("config." + key, kind, value.item() if kind != "string" else value))
        tokens = f["tokenizer/tokens"].asstr()[()].tolist()
        metadata.append(("tokenizer.tokens", "string[]", tokens))
        metadata.append(("tokenizer.scores", "float32[]", f["tokenizer/scores"][()]))
        expected = {}
        tensors = []
        for name, _, role in make_fixtures.expected_tensors(
                {k: (v.item() if hasattr(v, "item") else v) for k, v in f["config"].attrs.items()}):
            data = f[name][()]
            expected[name] = data
            tensors.append(tensor(name, make_fixtures.ROLE_CODES[role], "bf16", data.shape, data))
    meta, got = read_qkv(write(tmp_path, build_qkv(metadata, tensors)), check_finite=True)
    assert meta["tokenizer.tokens"] == tokens
    assert meta["config.rope_theta"] == 10000.0
    for name, data in expected.items():
        assert got[name]["array"].tobytes() == data.tobytes()


# ---------------------------------------------------------------------------
# Tests: broken files, each with the error it must give
# ---------------------------------------------------------------------------

def patched(offset, data, fix_crc=False):
    """A corruption: overwrite bytes at `offset` of a valid image."""
    def apply(buf):
        buf[offset:offset + len(data)] = data
        if fix_crc:
            fix_header_crc(buf)
        return buf
    return apply


def flip_bit(where):
    """A corruption: flip one bit; `where(buf)` gives the byte offset."""
    def apply(buf):
        buf[where(buf)] ^= 0x10
        return buf
    return apply


def data_offset(buf):
    return struct.unpack_from("<Q", buf, 48)[0]


def metadata_value_offset(buf, key):
    """Offset of the value bytes of metadata entry `key` (found by its bytes)."""
    k = key.encode("utf-8")
    at = bytes(buf).index(struct.pack("<H", len(k)) + k)
    return at + 2 + len(k) + 1


def first_table_offset(buf):
    return 64 + struct.unpack_from("<Q", buf, 24)[0]


def tensor_field_offset(buf, name, field):
    """Offset of a fixed-size field of tensor `name`'s table entry."""
    n = name.encode("utf-8")
    at = bytes(buf).index(struct.pack("<H", len(n)) + n, first_table_offset(buf)) + 2 + len(n)
    rank = buf[at + 3]
    fields = {"role": 0, "dtype": 2, "rank": 3, "offset": 4 + 8 * rank,
              "nbytes": 12 + 8 * rank, "crc": 20 + 8 * rank, "block": 24 + 8 * rank}
    return at + fields[field]


CORRUPTIONS = {
    # step 1
    "short file": (lambda buf: buf[:40], "shorter than the 64-byte header"),
    "bad magic": (patched(1, b"X"), "bad magic"),
    "text-mode mangled magic": (patched(4, b"\n\x1a"), "bad magic"),
    "major version 2": (patched(8, b"\x02\x00"), "major version 2"),
    "big-endian": (patched(12, bytes.fromhex("0a0b0c0d")), "big-endian"),
    "bad byte-order mark": (patched(12, b"\x00\x00\x00\x00"), "byte-order mark"),
    "reserved word": (patched(60, b"\x01"), "reserved"),
    # step 2
    "truncated": (lambda buf: buf[:-1], "truncated or trailing"),
    "trailing byte": (lambda buf: buf + b"\x00", "truncated or trailing"),
    "D beyond file": (lambda buf: patched(48, struct.pack("<Q", len(buf) + 64))(buf),
                      "<= D"),
    "D not align64": (lambda buf: patched(48, struct.pack("<Q", data_offset(buf) + 64),
                                          fix_crc=True)(buf), "align64"),
    "M overflows": (patched(24, struct.pack("<Q", 2 ** 64 - 10)), "overflows"),
    # step 3
    "flipped header bit": (flip_bit(lambda buf: 33), "header CRC-32 mismatch"),
    "flipped metadata bit": (flip_bit(lambda buf: 80), "header CRC-32 mismatch"),
    "flipped table bit": (flip_bit(lambda buf: first_table_offset(buf) + 3),
                          "header CRC-32 mismatch"),
    # step 4
    "bool byte 2": (lambda buf: patched(metadata_value_offset(buf, "config.gated_mlp"),
                                        b"\x02", fix_crc=True)(buf), "bool byte is 2"),
    "array count too large": (
        lambda buf: patched(metadata_value_offset(buf, "tokenizer.scores"),
                            struct.pack("<Q", 2 ** 61), fix_crc=True)(buf), "array count"),
    "string count too large": (
        lambda buf: patched(metadata_value_offset(buf, "tokenizer.tokens"),
                            struct.pack("<Q", 2 ** 40), fix_crc=True)(buf), "string count"),
    "unknown value type": (
        lambda buf: patched(metadata_value_offset(buf, "config.family") - 1,
                            b"\x05", fix_crc=True)(buf), "unknown value type 5"),
    "entry count too small": (patched(64, struct.pack("<Q", 3), fix_crc=True),
                              "fill M exactly"),
    # step 5
    "unknown role": (lambda buf: patched(tensor_field_offset(buf, "x/f16", "role"),
                                         struct.pack("<H", 99), fix_crc=True)(buf),
                     "unknown role code 99"),
    "unknown dtype": (lambda buf: patched(tensor_field_offset(buf, "x/f16", "dtype"),
                                          b"\x05", fix_crc=True)(buf), "unknown dtype code 5"),
    "block fields on f32": (lambda buf: patched(tensor_field_offset(buf, "x/f16", "block"),
                                                b"\x20\x00\x02\x01", fix_crc=True)(buf),
                            "block fields"),
    "byte length": (lambda buf: patched(tensor_field_offset(buf, "x/f16", "nbytes"),
                                        struct.pack("<Q", 32), fix_crc=True)(buf),
                    "byte length is 32"),
    "tiling": (lambda buf: patched(tensor_field_offset(buf, "x/f16", "offset"),
                                   struct.pack("<Q", 0), fix_crc=True)(buf), "tiling rule"),
    # deep checks
    "flipped data bit": (flip_bit(lambda buf: data_offset(buf) + 5),
                         "tensor 'layers/0/attn/q/weight' CRC-32 mismatch"),
    "nonzero padding before D": (lambda buf: patched(data_offset(buf) - 1, b"\x01")(buf),
                                 "nonzero padding"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_rejects_corruption(tmp_path, case):
    corrupt, message = CORRUPTIONS[case]
    buf = corrupt(valid_image())
    with pytest.raises(ValueError, match=_escape(message)):
        read_qkv(write(tmp_path, buf))


def _escape(message):
    import re
    return re.escape(message)


# Files the throwaway writer builds broken on purpose.
BROKEN_BUILDS = {
    "duplicate key": (lambda: build_qkv([("user.a", "int", 1), ("user.a", "int", 2)], []),
                      "duplicate key 'user.a'"),
    "bad key charset": (lambda: build_qkv([("user.a b", "int", 1)], []), "bad key"),
    "unknown section": (lambda: build_qkv([("model.a", "int", 1)], []), "bad key"),
    "invalid UTF-8": (lambda: build_qkv([encode_entry("user.s", "string", "ab")[:-2]
                                         + b"\xc3\x28"], []), "not valid UTF-8"),
    "duplicate tensor": (lambda: build_qkv([], [TENSORS[1], TENSORS[1]]),
                         "duplicate tensor name"),
    "rank 9": (lambda: build_qkv([], [tensor("x", 1, "u8", (1,) * 9, b"\x00")]), "rank 9"),
    "q8_0 last dim": (lambda: build_qkv([], [tensor("x", 1, "q8_0", (1, 33), bytes(34),
                                                    nbytes=34)]), "multiple of 32"),
    "q8_0 block fields": (lambda: build_qkv([], [tensor("x", 1, "q8_0", (1, 32), bytes(34),
                                                        block=(0, 0, 0))]), "block fields"),
    "element count overflow": (lambda: build_qkv([], [tensor("x", 1, "u8", (2 ** 40, 2 ** 40),
                                                             b"\x00")]), "overflows"),
    "tensor CRC": (lambda: build_qkv([], [tensor("x", 1, "u8", (2,), b"\x01\x02", crc=0)]),
                   "tensor 'x' CRC-32 mismatch"),
    "nonzero padding between tensors": (
        lambda: _pad_between(), "nonzero padding"),
}


def _pad_between():
    buf = build_qkv([], [tensor("a", 1, "u8", (3,), b"abc"), tensor("b", 1, "u8", (1,), b"z")])
    buf[data_offset(buf) + 10] = 1        # inside the padding after tensor "a"
    return buf


@pytest.mark.parametrize("case", sorted(BROKEN_BUILDS))
def test_rejects_broken_build(tmp_path, case):
    build, message = BROKEN_BUILDS[case]
    with pytest.raises(ValueError, match=_escape(message)):
        read_qkv(write(tmp_path, build()))


def test_crc_and_padding_checks_can_be_skipped(tmp_path):
    buf = flip_bit(lambda b: data_offset(b) + 5)(valid_image())
    path = write(tmp_path, buf)
    _, tensors = read_qkv(path, check_crc=False, check_padding=False)
    assert tensors["layers/0/attn/q/weight"]["array"].tobytes() != W_Q.tobytes()


def test_check_finite(tmp_path):
    bad = np.array([1.0, np.inf], dtype="<f4")
    path = write(tmp_path, build_qkv([], [tensor("x", 1, "f32", (2,), bad)]))
    read_qkv(path)                                    # off by default
    with pytest.raises(ValueError, match="NaN or infinity"):
        read_qkv(path, check_finite=True)
    nan_bf16 = np.array([0x3F80, 0x7FC0], dtype="<u2")
    path = write(tmp_path, build_qkv([], [tensor("x", 1, "bf16", (2,), nan_bf16)]), "b.qkv")
    with pytest.raises(ValueError, match="NaN or infinity"):
        read_qkv(path, check_finite=True)


def test_header_fields(tmp_path):
    header, _, _ = read_qkv_file(write(tmp_path, valid_image()))
    assert header["major"] == 1 and header["minor"] == 0
    assert header["data_offset"] % 64 == 0
    assert header["tensor_count"] == len(TENSORS)
