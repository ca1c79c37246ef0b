#!/usr/bin/env python3
"""Generate Fixtures/conformance/: the conformance corpus every qkv reader must pass.

For each reader (.qkv, safetensors, GGUF, HDF5, PyTorch's zip) the corpus lists good files that must load (and pass
`qkv validate --deep`) and bad files that must be rejected, each with the Swift error case a reader
throws for it ("<Type>.<case>"). It reuses the bad corpora the other generators write
(Fixtures/bad-hdf5/, Fixtures/bad-safetensors/, Fixtures/gguf/bad/) by reference and adds what they
lack: the whole `.qkv` container (written here byte by byte from Specs/qkv-format.md, sharing no code
with the Swift writer), the schema rules (per-head shapes against the config, tokenizer data out of
range, metadata type errors), integer overflow in shape x dtype, absurd sizes declared in tiny files
(2^60 tensors, a 2^62-byte tensor in a 1 KB file), HDF5 storage that libhdf5 would read without
complaint (external and virtual storage, unallocated data, compression bombs, unknown filters), and
global heaps (where variable-length strings live) that libhdf5 would trust and crash on.

    python3 tools/fixtures_conformance.py [--out Fixtures]

Writes Fixtures/conformance/{qkv,safetensors,gguf,hdf5}/*.{qkv,...} and Fixtures/conformance/manifest.json:

    {"files": [{"path": "conformance/qkv/header-checksum.qkv"   (relative to Fixtures/),
                "reader": "qkv" | "safetensors" | "gguf" | "hdf5" | "pytorch",
                "expect": "valid" | "<Type>.<case>",
                "stage": "open" | "schema" | "deep"   (bad files: where the error appears),
                "exit": 0 | 1 | 2                     (`qkv validate --deep`'s exit status),
                "why": one line}, ...]}

"open": opening the file (`openWeightFile`) throws; "schema": it opens but `ModelFile.problems` is not
empty; "deep": only `validate --deep` (`ModelFile.deepProblems`) finds it. Deterministic: running it
twice gives the same bytes (HDF5 files: with the same h5py/libhdf5).
"""

import argparse
import base64
import copy
import json
import os
import struct
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402

DEFAULT_OUT = mf.DEFAULT_OUT
CONFORMANCE_DIR = "conformance"

# ---------------------------------------------------------------------------
# A minimal .qkv writer from Specs/qkv-format.md
# ---------------------------------------------------------------------------

MAGIC = b"\x89QKV\r\n\x1a\n"
T_BOOL, T_INT, T_FLOAT, T_STRING = 1, 2, 3, 4
T_I32A, T_I64A, T_F32A, T_F64A, T_STRA = 16, 17, 18, 19, 20
SCHEMA_TYPE_CODES = {"bool": T_BOOL, "int": T_INT, "float": T_FLOAT, "string": T_STRING,
                     "int32[]": T_I32A, "int64[]": T_I64A, "float32[]": T_F32A,
                     "float64[]": T_F64A, "string[]": T_STRA}
DTYPE_CODES = {"f32": 1, "f16": 2, "bf16": 3, "f64": 4, "i8": 8, "u8": 9, "i16": 10, "i32": 11,
               "i64": 12, "q8_0": 32}


def align64(x):
    return (x + 63) // 64 * 64


def encode_value(type_code, value):
    """The value bytes of one metadata entry (after its type byte)."""
    if type_code == T_BOOL:
        return struct.pack("<B", value)
    if type_code == T_INT:
        return struct.pack("<q", value)
    if type_code == T_FLOAT:
        return struct.pack("<d", value)
    if type_code == T_STRING:
        raw = value.encode("utf-8") if isinstance(value, str) else value
        return struct.pack("<I", len(raw)) + raw
    if type_code == T_STRA:
        out = struct.pack("<Q", len(value))
        for s in value:
            raw = s.encode("utf-8")
            out += struct.pack("<I", len(raw)) + raw
        return out
    fmt = {T_I32A: "<i4", T_I64A: "<i8", T_F32A: "<f4", T_F64A: "<f8"}[type_code]
    arr = np.asarray(value, dtype=fmt)
    return struct.pack("<Q", arr.size) + arr.tobytes()


class Entry:
    """A metadata entry: key, type code and value, or `raw` bytes replacing type + value."""

    def __init__(self, key, type_code, value, raw=None, key_bytes=None):
        self.key, self.type_code, self.value, self.raw = key, type_code, value, raw
        self.key_bytes = key.encode("utf-8") if key_bytes is None else key_bytes

    def encode(self):
        body = self.raw if self.raw is not None else struct.pack("<B", self.type_code) + encode_value(self.type_code, self.value)
        return struct.pack("<H", len(self.key_bytes)) + self.key_bytes + body


class Tensor:
    def __init__(self, name, role, dtype, shape, data):
        self.name, self.role, self.dtype, self.shape, self.data = name, role, dtype, list(shape), data
        self.offset = None          # None: the tiling rule's offset
        self.length = None          # None: len(data)
        self.crc = None             # None: CRC-32 of data
        self.block = None           # None: the dtype's block fields
        self.name_bytes = name.encode("utf-8")
        self.rank = None            # None: len(shape)

    def table_entry(self, offset):
        out = struct.pack("<H", len(self.name_bytes)) + self.name_bytes
        out += struct.pack("<HBB", self.role, self.dtype, len(self.shape) if self.rank is None else self.rank)
        for d in self.shape:
            out += struct.pack("<Q", d)
        length = len(self.data) if self.length is None else self.length
        crc = zlib.crc32(self.data) if self.crc is None else self.crc
        out += struct.pack("<QQI", offset, length, crc)
        block = self.block or ((32, 2, 1) if self.dtype == 32 else (0, 0, 0))
        out += struct.pack("<HBB", *block)
        return out


class QKVBuilder:
    """A .qkv file as parts a bad case can break one at a time; `build()` computes every length, offset
    and checksum from the parts unless a field is overridden."""

    def __init__(self, entries, tensors):
        self.entries = entries          # [Entry], written in list order (sort before for a valid file)
        self.tensors = tensors          # [Tensor]
        self.entry_count = None
        self.tensor_count = None
        self.header_fields = {}         # offset -> (struct format, value), applied before the CRC
        self.metadata_suffix = b""
        self.table_suffix = b""

    def metadata_bytes(self):
        count = len(self.entries) if self.entry_count is None else self.entry_count
        return struct.pack("<Q", count) + b"".join(e.encode() for e in self.entries) + self.metadata_suffix

    def layout(self):
        """(table offsets, data bytes) following the tiling rule, or the tensors' own offsets."""
        offsets, data, running = [], bytearray(), 0
        for t in self.tensors:
            offset = running if t.offset is None else t.offset
            offsets.append(offset)
            if offset > running + (1 << 20):
                offset = running    # an absurd offset: recorded in the table, the data stays in place
            if len(data) < offset:
                data += bytes(offset - len(data))
            data[offset:offset + len(t.data)] = t.data
            running = align64(offset + len(t.data))
        return offsets, bytes(data)

    def build(self, fix_crc=True):
        metadata = self.metadata_bytes()
        offsets, data = self.layout()
        table = b"".join(t.table_entry(o) for t, o in zip(self.tensors, offsets)) + self.table_suffix
        table_end = 64 + len(metadata) + len(table)
        data_offset = align64(table_end)
        out = bytearray(data_offset) + data
        out[0:8] = MAGIC
        struct.pack_into("<HHI", out, 8, 1, 0, 0x0A0B0C0D)
        count = len(self.tensors) if self.tensor_count is None else self.tensor_count
        struct.pack_into("<QQQQQ", out, 16, len(out), len(metadata), count, len(table), data_offset)
        out[64:64 + len(metadata)] = metadata
        out[64 + len(metadata):table_end] = table
        for offset, (fmt, value) in self.header_fields.items():
            struct.pack_into(fmt, out, offset, value)
        if fix_crc:
            refresh_crc(out)
        return out


def refresh_crc(out):
    """Recomputes the header CRC of a .qkv file in `out` (a bytearray) from its own M and L fields."""
    m, l = struct.unpack_from("<QQ", out, 24)[0], struct.unpack_from("<Q", out, 40)[0]
    end = min(64 + m + l, len(out))
    struct.pack_into("<I", out, 56, zlib.crc32(bytes(out[64:end]), zlib.crc32(bytes(out[0:56]))))
    return out


def model_entries(model):
    """Metadata entries of a make_fixtures model dict, typed by the schema, sorted by key."""
    entries = []
    for section, values, types in (("config", model["config"], mf.CONFIG_KEYS),
                                   ("tokenizer", model["tokenizer"], mf.TOKENIZER_KEYS),
                                   ("provenance", model["provenance"], None),
                                   ("user", model["user"], None)):
        for key, value in values.items():
            schema_type = types[key] if types is not None else mf.free_type(value)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            if schema_type == "bool":
                value = 1 if value else 0
            entries.append(Entry("%s.%s" % (section, key), SCHEMA_TYPE_CODES[schema_type], value))
    entries.sort(key=lambda e: e.key_bytes)
    return entries


def model_tensors(model, weights):
    return [Tensor(name, mf.ROLE_CODES[role], DTYPE_CODES["f32"], array.shape,
                   np.ascontiguousarray(array, dtype="<f4").tobytes())
            for name, role, array in weights]


def micro_model():
    """A LLaMA of one layer, 2 query heads and 1 key/value head of width 4, model width 8, 24 tokens:
    about 5 KB as .qkv, small enough to flip every bit of it in a test."""
    model = mf.bad_base_model()
    model["name"] = "llama-micro"
    model["seed"] = 4004
    tokens = model["tokenizer"]["tokens"]
    model["config"].update(vocab_size=len(tokens), model_dim=8, layer_count=1, head_count=2,
                           kv_head_count=1, head_dim=4, ffn_dim=8, max_positions=16)
    model["tokenizer"]["max_length"] = 16
    return model


def qkv_builder(model):
    return QKVBuilder(model_entries(model), model_tensors(model, mf.make_weights(model)))


# ---------------------------------------------------------------------------
# The corpus
# ---------------------------------------------------------------------------

class Corpus:
    def __init__(self, fixtures):
        self.fixtures = fixtures
        self.root = os.path.join(fixtures, CONFORMANCE_DIR)
        self.files = []
        self.written = set()

    def add(self, path, reader, expect, why, stage=None, exit_code=None):
        if exit_code is None:
            exit_code = 0 if expect == "valid" else 1
        entry = {"path": path, "reader": reader, "expect": expect, "why": why, "exit": exit_code}
        if expect != "valid":
            entry["stage"] = stage or "open"
        self.files.append(entry)

    def write(self, reader, name, data, expect, why, stage=None, exit_code=None):
        rel = "%s/%s/%s" % (CONFORMANCE_DIR, reader, name)
        path = os.path.join(self.fixtures, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as out:
            out.write(bytes(data))
        self.written.add(os.path.abspath(path))
        self.add(rel, reader, expect, why, stage, exit_code)

    def written_by(self, reader, name, expect, why, writer, stage=None):
        """A file made by `writer(path)` (h5py)."""
        rel = "%s/%s/%s" % (CONFORMANCE_DIR, reader, name)
        path = os.path.join(self.fixtures, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        writer(path)
        self.written.add(os.path.abspath(path))
        self.add(rel, reader, expect, why, stage)


def q(error):
    return "QKVFileError." + error


def m(error):
    return "ModelError." + error


def find_tensor(b, name):
    return next(t for t in b.tensors if t.name == name)


def find_entry(b, key):
    return next(e for e in b.entries if e.key == key)


def qkv_cases(c):
    """Every rule of Specs/qkv-format.md's "Validation", one file each (most from the micro model)."""
    micro = micro_model()
    base = lambda: qkv_builder(copy.deepcopy(micro))  # noqa: E731
    good = bytes(base().build())
    c.write("qkv", "micro-llama.qkv", good, "valid", "a one-layer LLaMA with GQA (2 query heads, 1 key/value head), 24 tokens")
    c.write("qkv", "small-llama.qkv", qkv_builder(mf.bad_base_model()).build(), "valid",
            "bad-hdf5's base model (2 layers, 4 heads, 2 key/value heads) as .qkv")
    b = bytearray(good); struct.pack_into("<H", b, 10, 7); refresh_crc(b)
    c.write("qkv", "minor-version-7.qkv", b, "valid", "minor version 7: readers accept any minor of major 1")
    empty_model = base()
    empty_model.entries = [e for e in empty_model.entries if not e.key.startswith("user.")]
    c.write("qkv", "no-user-section.qkv", empty_model.build(), "valid", "no user.* keys at all")

    def w(name, data, error, why, stage="open"):
        c.write("qkv", name, data, error, why, stage)

    def patched(fmt, offset, value, crc=True):
        out = bytearray(good)
        struct.pack_into(fmt, out, offset, value)
        return refresh_crc(out) if crc else out

    # 1. Fixed header.
    w("truncated-3-bytes.qkv", good[:3], q("tooSmall"), "the first 3 bytes of a valid file")
    w("header-only-40-bytes.qkv", good[:40], q("tooSmall"), "the first 40 bytes: less than the 64-byte header")
    w("bad-magic.qkv", b"\x89QKW" + good[4:], "IOError.unrecognizedFormat",
      "magic 89 51 4B 57: neither .qkv nor any other signature (exit 2: not a model file at all)")
    w("major-version-2.qkv", patched("<H", 8, 2), q("unsupportedVersion"), "major version 2")
    w("major-version-0.qkv", patched("<H", 8, 0), q("unsupportedVersion"), "major version 0")
    w("big-endian-bom.qkv", patched("<I", 12, 0x0D0C0B0A), q("badByteOrder"), "byte-order mark written big-endian")
    w("reserved-not-zero.qkv", patched("<I", 60, 1), q("reservedNotZero"), "reserved word at byte 60 is 1")
    # 2. Lengths and sections.
    w("truncated-by-100.qkv", good[:-100], q("lengthMismatch"), "the last 100 bytes cut off (a truncated download)")
    w("trailing-garbage.qkv", good + b"junk", q("lengthMismatch"), "4 bytes after the recorded length")
    w("metadata-length-2-40.qkv", patched("<Q", 24, 1 << 40), q("limitExceeded"), "M = 2^40, over the 1 GiB limit")
    w("table-length-2-30.qkv", patched("<Q", 40, 1 << 30), q("limitExceeded"), "L = 2^30, over the 256 MiB limit")
    w("tensor-count-2-60.qkv", patched("<Q", 32, 1 << 60), q("limitExceeded"),
      "2^60 tensors declared in a 5 KB file: refused before any allocation")
    w("tensor-count-u64-max.qkv", patched("<Q", 32, (1 << 64) - 1), q("limitExceeded"), "tensor count 2^64 - 1")
    w("tensor-count-at-limit.qkv", patched("<Q", 32, 1 << 20), q("tableOverrun"),
      "1,048,576 tensors (the limit) declared, a few hundred bytes of table: fails at the first missing entry")
    m_len, l_len, d_off = struct.unpack_from("<QQQ", good, 24)[0], struct.unpack_from("<Q", good, 40)[0], struct.unpack_from("<Q", good, 48)[0]
    w("metadata-past-data-offset.qkv", patched("<Q", 24, m_len + 200), q("sectionsOutOfBounds"),
      "M 200 bytes too long: header + metadata + table run past the data offset")
    w("data-offset-past-end.qkv", patched("<Q", 48, len(good) + 64), q("sectionsOutOfBounds"), "data offset beyond the file")
    w("data-offset-plus-64.qkv", patched("<Q", 48, d_off + 64), q("dataOffsetMismatch"),
      "data offset 64 bytes after align64(end of table)")
    # 3. Header checksum.
    b = bytearray(good); b[64 + 20] ^= 0x10
    w("header-crc-metadata-bit.qkv", b, q("headerChecksumMismatch"), "one metadata bit flipped, CRC left as it was")
    b = bytearray(good); b[64 + m_len + 3] ^= 0x01
    w("header-crc-table-bit.qkv", b, q("headerChecksumMismatch"), "one tensor table bit flipped, CRC left as it was")
    w("header-crc-field.qkv", patched("<I", 56, struct.unpack_from("<I", good, 56)[0] ^ 0x80000000, crc=False),
      q("headerChecksumMismatch"), "the stored CRC itself has one bit flipped")
    # 4. Metadata.
    bb = base(); bb.entry_count = 1 << 62
    w("metadata-count-2-62.qkv", bb.build(), q("metadataOverrun"),
      "2^62 metadata entries declared: refused by the bytes-left check before allocating")
    bb = base(); bb.entries[0].key_bytes = b""
    w("key-empty.qkv", bb.build(), q("invalidKeyLength"), "a metadata key of length 0")
    bb = base(); bb.entries.append(Entry("user." + "k" * 300, T_INT, 1))
    w("key-300-bytes.qkv", bb.build(), q("invalidKeyLength"), "a 305-byte key, over the 255-byte limit")
    bb = base(); bb.entries[-1].key_bytes = b"user.\xff\xfe"
    w("key-not-utf8.qkv", bb.build(), q("invalidUTF8"), "a key holding FF FE")
    bb = base(); e = find_entry(bb, "config.head_count"); e.raw = struct.pack("<B", 5) + struct.pack("<q", 2)
    w("value-type-5.qkv", bb.build(), q("unknownValueType"), "value type 5, between string (4) and int32[] (16)")
    bb = base(); e = find_entry(bb, "config.gated_mlp"); e.raw = struct.pack("<BB", T_BOOL, 2)
    w("bool-is-2.qkv", bb.build(), q("invalidBool"), "config.gated_mlp stored as the byte 2")
    bb = base(); bb.entries.insert(1, copy.deepcopy(bb.entries[0]))
    w("duplicate-key.qkv", bb.build(), q("duplicateKey"), "the first key twice")
    bb = base(); e = find_entry(bb, "config.family"); e.raw = struct.pack("<BI", T_STRING, 1 << 31) + b"llama"
    w("string-length-past-section.qkv", bb.build(), q("metadataOverrun"), "config.family's length is 2^31, in a 1 KB section")
    bb = base(); e = find_entry(bb, "tokenizer.tokens"); e.raw = struct.pack("<BQ", T_STRA, 1 << 61)
    bb.entries = [x for x in bb.entries if x.key <= "tokenizer.tokens"]
    w("string-array-count-2-61.qkv", bb.build(), q("metadataOverrun"),
      "tokenizer.tokens declares 2^61 strings: refused before allocating (the count is checked against the bytes left)")
    bb = base(); e = find_entry(bb, "tokenizer.scores"); e.raw = struct.pack("<BQ", T_F32A, (1 << 62) + 1)
    bb.entries = [x for x in bb.entries if x.key <= "tokenizer.scores"]
    w("float-array-count-overflow.qkv", bb.build(), q("metadataOverrun"),
      "tokenizer.scores declares 2^62 + 1 floats: the byte count (x4) overflows 64 bits")
    bb = base(); bb.metadata_suffix = b"\x00\x00\x00"
    w("metadata-trailing-bytes.qkv", bb.build(), q("trailingSectionBytes"), "3 bytes after the last metadata entry")
    bb = base(); e = find_entry(bb, "config.family"); e.raw = struct.pack("<BI", T_STRING, 4) + b"ll\xc3\x28"
    w("string-not-utf8.qkv", bb.build(), q("invalidUTF8"), "config.family holds C3 28, an invalid 2-byte sequence")
    # 5. Tensor table.
    bb = base(); bb.table_suffix = b""; bb.tensor_count = len(bb.tensors) + 1
    w("table-entry-missing.qkv", bb.build(), q("tableOverrun"), "one tensor more declared than the table holds")
    bb = base(); bb.tensors[1].name_bytes = b""
    w("tensor-name-empty.qkv", bb.build(), q("invalidNameLength"), "a tensor name of length 0")
    bb = base(); bb.tensors[1].name_bytes = b"x" * 1025
    w("tensor-name-1025-bytes.qkv", bb.build(), q("invalidNameLength"), "a 1025-byte name, over the 1024-byte limit")
    bb = base(); bb.tensors[1].name_bytes = b"layers/0/\xc0\xaf"
    w("tensor-name-not-utf8.qkv", bb.build(), q("invalidUTF8"), "a tensor name with the overlong encoding C0 AF")
    bb = base(); bb.tensors[2].name_bytes = bb.tensors[1].name_bytes
    w("duplicate-tensor.qkv", bb.build(), q("duplicateTensor"), "two table entries with one name")
    bb = base(); bb.tensors[0].dtype = 5
    w("dtype-code-5.qkv", bb.build(), q("unknownDType"), "dtype code 5 (between f64 and i8)")
    bb = base(); bb.tensors[0].role = 99
    w("role-code-99.qkv", bb.build(), q("unknownRole"), "role code 99")
    bb = base(); bb.tensors[0].shape = [1] * 9; bb.tensors[0].data = bytes(4)
    w("rank-9.qkv", bb.build(), q("rankTooLarge"), "a tensor of rank 9")
    bb = base(); bb.tensors[0].block = (32, 2, 1)
    w("block-fields-on-f32.qkv", bb.build(), q("invalidBlockFields"), "an f32 tensor with q8_0's block fields")
    bb = base(); bb.tensors[0].shape = [1 << 32, 1 << 32]
    w("element-count-overflow.qkv", bb.build(), q("elementCountOverflow"), "shape [2^32, 2^32]: 2^64 elements")
    bb = base(); bb.tensors[0].shape = [1 << 62]
    w("byte-count-overflow.qkv", bb.build(), q("elementCountOverflow"), "f32 [2^62]: the elements fit, the bytes (x4) do not")
    bb = base(); bb.tensors = bb.tensors[:1]; t = bb.tensors[0]; t.shape = [1 << 60]; t.length = 1 << 62
    bb.tensor_count = 1
    w("tensor-2-62-bytes.qkv", bb.build(), q("tensorPastEnd"),
      "a tensor of f32 [2^60] (2^62 bytes) declared in a file of about 1 KB: refused without reading or allocating")
    bb = base(); t = bb.tensors[0]; t.dtype = 32; t.block = None; t.shape = [24, 30]; t.data = bytes(24 * 34)
    w("q8-0-partial-block.qkv", bb.build(), q("partialBlock"), "q8_0 [24, 30]: 30 is not a multiple of 32")
    bb = base(); bb.tensors[0].length = len(bb.tensors[0].data) - 4
    w("byte-length-short.qkv", bb.build(), q("byteLengthMismatch"), "byte length 4 short of what f32 and the shape need")
    bb = base(); bb.tensors[1].offset = align64(len(bb.tensors[0].data)) + 32
    w("tensor-misaligned.qkv", bb.build(), q("misalignedTensor"), "the second tensor at an offset that is 32 mod 64")
    bb = base(); bb.tensors[1].offset = 0
    w("tensor-overlap.qkv", bb.build(), q("overlappingTensor"), "the second tensor at offset 0, on top of the first")
    bb = base(); bb.tensors[1].offset = align64(len(bb.tensors[0].data)) + 64
    w("tensor-gap.qkv", bb.build(), q("gapBeforeTensor"), "64 unused bytes before the second tensor")
    bb = base(); bb.tensors[1].offset = align64(len(bb.tensors[0].data)) + (1 << 62)
    w("tensor-offset-2-62.qkv", bb.build(), q("gapBeforeTensor"), "the second tensor at offset 2^62 in a 5 KB file")
    b = bytearray(good) + bytes(64); struct.pack_into("<Q", b, 16, len(b)); refresh_crc(b)
    w("bytes-after-last-tensor.qkv", b, q("trailingBytes"), "64 zero bytes after the last tensor, with the file length updated")
    bb = base(); bb.table_suffix = b"\x00" * 5
    w("table-trailing-bytes.qkv", bb.build(), q("trailingSectionBytes"), "5 bytes after the last table entry")
    # validate --deep: checksums, padding, values.
    offsets, _ = base().layout()
    b = bytearray(good); b[d_off + offsets[3] + 1] ^= 0x20
    w("tensor-data-bit.qkv", b, q("tensorChecksumMismatch"), "one bit of the fourth tensor's data flipped", "deep")
    bb = base(); bb.tensors[2].crc = zlib.crc32(bb.tensors[2].data) ^ 1
    w("tensor-crc-wrong.qkv", bb.build(), q("tensorChecksumMismatch"), "the table's CRC-32 of the third tensor is off by one bit", "deep")
    b = bytearray(good); table_end = 64 + m_len + l_len
    assert table_end < d_off, "the micro model must have padding before the data"
    b[d_off - 1] = 1
    w("padding-before-data.qkv", b, q("nonZeroPadding"), "the last padding byte before the data offset is 1", "deep")
    gap = next(i for i, t in enumerate(base().tensors) if len(t.data) % 64)
    b = bytearray(good); b[d_off + offsets[gap] + len(base().tensors[gap].data)] = 7
    w("padding-between-tensors.qkv", b, q("nonZeroPadding"), "a padding byte between two tensors is 7", "deep")
    bb = base(); t = bb.tensors[3]; arr = bytearray(t.data); struct.pack_into("<f", arr, 8, float("nan")); t.data = bytes(arr)
    w("nan-in-tensor.qkv", bb.build(), m("nonFiniteValue"), "a NaN in %s, with a correct CRC" % t.name, "deep")
    bb = base(); t = bb.tensors[3]; arr = bytearray(t.data); struct.pack_into("<f", arr, 0, float("-inf")); t.data = bytes(arr)
    w("infinity-in-tensor.qkv", bb.build(), m("nonFiniteValue"), "-infinity in %s, with a correct CRC" % t.name, "deep")

    # 6. Schema (Specs/schema.md): the container is sound, the content is not.
    def s(name, builder, error, why):
        w(name, builder.build(), error, why, "schema")

    def with_config(key, type_code, value, why, error, name):
        bb = base(); e = find_entry(bb, key); e.type_code, e.value = type_code, value
        s(name, bb, error, why)

    bb = base(); t = find_tensor(bb, "layers/0/attn/q/weight"); t.shape = [3, 4, 8]; t.data = bytes(3 * 4 * 8 * 4)
    s("q-heads-3-config-2.qkv", bb, m("shapeMismatch"), "attn/q/weight is [3, 4, 8] (3 heads) but config.head_count is 2")
    bb = base(); t = find_tensor(bb, "layers/0/attn/k/weight"); t.shape = [2, 4, 8]; t.data = bytes(2 * 4 * 8 * 4)
    s("k-heads-2-config-kv-1.qkv", bb, m("shapeMismatch"), "attn/k/weight has 2 heads but config.kv_head_count is 1")
    bb = base(); t = find_tensor(bb, "layers/0/attn/o/weight"); t.shape = [2, 8, 4]
    s("o-transposed-heads.qkv", bb, m("shapeMismatch"), "attn/o/weight is [2, 8, 4], the head slab transposed (same bytes)")
    with_config("config.head_count", T_INT, 3, "config.head_count 3 with 1 key/value head and head_dim 4: the stored heads are 2",
                m("shapeMismatch"), "config-head-count-3.qkv")
    bb = base(); find_entry(bb, "config.kv_head_count").value = 3; find_entry(bb, "config.head_count").value = 2
    s("kv-heads-not-dividing.qkv", bb, m("invalidValue"), "config.kv_head_count 3 does not divide config.head_count 2")
    with_config("config.head_dim", T_INT, 0, "config.head_dim 0", m("invalidValue"), "head-dim-0.qkv")
    with_config("config.bos_token_id", T_INT, 999, "config.bos_token_id 999 with config.vocab_size 24", m("invalidValue"), "bos-token-999.qkv")
    with_config("config.eos_token_id", T_INT, -1, "config.eos_token_id -1", m("invalidValue"), "eos-token-negative.qkv")
    bb = base()
    for key in ("tokenizer.tokens", "tokenizer.scores", "tokenizer.token_types"):
        e = find_entry(bb, key); e.value = list(e.value)[:20]
    find_entry(bb, "config.bos_token_id").value = 22
    s("bos-token-past-tokens.qkv", bb, m("tokenIdOutOfRange"),
      "20 tokens in an embedding of 24 rows, config.bos_token_id 22: a row, but no token")
    bb = base(); find_entry(bb, "tokenizer.scores").value = [0.0] * 23
    s("scores-23-for-24-tokens.qkv", bb, m("tokenizerArrayLength"), "tokenizer.scores has 23 entries for 24 tokens")
    bb = base(); find_entry(bb, "tokenizer.token_types").value = [1] * 23 + [99]
    s("token-type-99.qkv", bb, m("invalidValue"), "the last token's type is 99")
    bb = base(); e = find_entry(bb, "tokenizer.tokens"); e.value = e.value + ["extra%d" % i for i in range(8)]
    find_entry(bb, "tokenizer.scores").value = list(find_entry(bb, "tokenizer.scores").value) + [0.0] * 8
    find_entry(bb, "tokenizer.token_types").value = list(find_entry(bb, "tokenizer.token_types").value) + [1] * 8
    s("more-tokens-than-vocab.qkv", bb, m("invalidValue"), "32 tokens for config.vocab_size 24")
    with_config("config.head_count", T_STRING, "2", "config.head_count is the string \"2\"", m("wrongKeyType"), "head-count-string.qkv")
    with_config("config.gated_mlp", T_INT, 1, "config.gated_mlp is the int 1, not a bool", m("wrongKeyType"), "gated-mlp-int.qkv")
    with_config("config.rope_theta", T_STRING, "10000", "config.rope_theta is a string", m("wrongKeyType"), "rope-theta-string.qkv")
    bb = base(); e = find_entry(bb, "tokenizer.tokens"); e.type_code, e.value = T_I32A, list(range(24))
    s("tokens-int32-array.qkv", bb, m("wrongKeyType"), "tokenizer.tokens is an int32[]")
    bb = base(); e = find_entry(bb, "tokenizer.scores"); e.type_code = T_F64A
    s("scores-float64-array.qkv", bb, m("wrongKeyType"), "tokenizer.scores is a float64[], not float32[]")
    bb = base(); bb.entries = [e for e in bb.entries if e.key != "config.model_dim"]
    s("missing-model-dim.qkv", bb, m("missingKey"), "no config.model_dim")
    bb = base(); bb.entries.append(Entry("config.hidden_size", T_INT, 8)); bb.entries.sort(key=lambda e: e.key_bytes)
    s("unknown-config-key.qkv", bb, m("unknownKey"), "config.hidden_size is not a schema key")
    bb = base(); bb.entries.append(Entry("weights.note", T_STRING, "x")); bb.entries.sort(key=lambda e: e.key_bytes)
    s("unknown-section.qkv", bb, m("invalidKey"), "a key in section 'weights', which the schema does not have")
    bb = base(); bb.tensors = [t for t in bb.tensors if t.name != "layers/0/mlp/gate/weight"]
    s("missing-tensor.qkv", bb, m("missingTensor"), "no layers/0/mlp/gate/weight")
    bb = base(); bb.tensors.append(Tensor("layers/0/attn/extra/weight", 10, 1, [2], bytes(8)))
    s("stray-tensor.qkv", bb, m("unexpectedTensor"), "layers/0/attn/extra/weight, which the config does not call for")
    bb = base(); find_tensor(bb, "layers/0/attn/q/weight").role = mf.ROLE_CODES["attn_k"]
    s("role-mismatch.qkv", bb, m("roleMismatch"), "attn/q/weight stored with role attn_k")
    bb = base(); t = find_tensor(bb, "final_norm/weight"); t.dtype = DTYPE_CODES["i32"]
    s("i32-model-tensor.qkv", bb, m("dtypeNotAllowed"), "final_norm/weight stored as i32 (a model tensor must be a float)")
    with_config("config.family", T_STRING, "mamba", "config.family 'mamba'", m("invalidValue"), "family-unknown.qkv")

    def with_dense(dims, activations, bias):
        bb = base()
        bb.entries += [Entry("config.dense_dims", T_I32A, dims), Entry("config.dense_activations", T_STRA, activations),
                       Entry("config.dense_bias", T_I32A, bias)]
        bb.entries.sort(key=lambda e: e.key_bytes)
        return bb
    s("dense-on-a-decoder.qkv", with_dense([8], ["tanh"], [1]), m("invalidValue"),
      "config.dense_* (a sentence-transformers Dense module) on a llama: Dense modules are for encoders")
    s("dense-activations-1-for-2.qkv", with_dense([8, 4], ["tanh"], [1, 0]), m("invalidValue"),
      "config.dense_dims has 2 entries, config.dense_activations 1")
    s("dense-activation-unknown.qkv", with_dense([8], ["softplus"], [1]), m("invalidValue"),
      "config.dense_activations names 'softplus', which the schema does not list")

    # Unigram tokenizers and classification heads (Specs/schema.md: tokenizer.precompiled_charsmap,
    # config.position_offset, config.label_count, config.label_activation).
    def with_entries(*entries, kind=None, drop=()):
        bb = base()
        bb.entries = [e for e in bb.entries if e.key not in drop]
        if kind is not None:
            find_entry(bb, "tokenizer.kind").value = kind
        bb.entries += [Entry(key, code, value) for key, code, value in entries]
        bb.entries.sort(key=lambda e: e.key_bytes)
        return bb
    root_unit = struct.pack("<I", 1 << 10)
    for name, blob, why in [
            ("charsmap-truncated.qkv", struct.pack("<I", 64) + root_unit, "the charsmap's trie size says 64 bytes, 4 follow"),
            ("charsmap-overlong.qkv", struct.pack("<I", 0xFFFFFFFC) + root_unit + b"a\0",
             "the charsmap's trie size is 2^32 - 4 in a 10-byte blob"),
            ("charsmap-size-not-units.qkv", struct.pack("<I", 6) + root_unit + b"a\0", "the charsmap's trie size 6 is not whole u32 units"),
            ("charsmap-not-utf8.qkv", struct.pack("<I", 4) + root_unit + b"\xff\xfe\0", "the charsmap's replacement strings are not UTF-8"),
            ("charsmap-empty-trie.qkv", struct.pack("<I", 0) + b"a\0", "the charsmap's trie has no root unit")]:
        s(name, with_entries(("tokenizer.precompiled_charsmap", T_STRING, base64.b64encode(blob).decode()), kind="unigram"),
          m("invalidValue"), why)
    s("charsmap-not-base64.qkv", with_entries(("tokenizer.precompiled_charsmap", T_STRING, "not base64!"), kind="unigram"),
      m("invalidValue"), "tokenizer.precompiled_charsmap is not base64")
    s("unigram-without-scores.qkv", with_entries(kind="unigram", drop=("tokenizer.scores",)), m("missingKey"),
      "tokenizer.kind unigram without tokenizer.scores, which its Viterbi needs")
    s("collapse-spaces-other.qkv", with_entries(("tokenizer.collapse_spaces", T_STRING, "_"), kind="unigram"), m("invalidValue"),
      "tokenizer.collapse_spaces is '_', neither a space nor U+2581")
    s("position-offset-on-rope.qkv", with_entries(("config.position_offset", T_INT, 2)), m("invalidValue"),
      "config.position_offset 2 on a RoPE model: the offset is for learned positions")
    s("label-count-on-decoder.qkv", with_entries(("config.label_count", T_INT, 1), ("config.label_activation", T_STRING, "sigmoid")),
      m("invalidValue"), "a classification head (config.label_count 1) on a llama: heads are for encoders")
    s("label-activation-alone.qkv", with_entries(("config.label_activation", T_STRING, "sigmoid")), m("invalidValue"),
      "config.label_activation without config.label_count")
    return good


# --- safetensors -------------------------------------------------------------

def safetensors_file(header, data=b""):
    text = json.dumps(header, separators=(",", ":")).encode("utf-8") if not isinstance(header, bytes) else header
    return struct.pack("<Q", len(text)) + text + data


def safetensors_cases(c):
    fixtures = c.fixtures
    for folder in ("bert-tiny", "gpt2-tiny", "llama-tiny"):
        c.add("hf/%s/model.safetensors" % folder, "safetensors", "valid", "the %s Hugging Face fixture" % folder)
    with open(os.path.join(fixtures, "bad-safetensors", "manifest.json"), encoding="utf-8") as f:
        for name, entry in sorted(json.load(f).items()):
            c.add("bad-safetensors/" + name, "safetensors", entry["error"], entry["why"], "open")

    def w(name, data, error, why):
        c.write("safetensors", name, data, "SafetensorsError." + error, why)

    w("tensor-2-62-bytes.safetensors", safetensors_file({"a": {"dtype": "F32", "shape": [1 << 60], "data_offsets": [0, 1 << 62]}}, bytes(16)),
      "dataLengthMismatch", "F32 [2^60] spanning [0, 2^62) in a file of under 100 bytes: refused without allocating")
    w("header-length-99999999.safetensors", struct.pack("<Q", 99_999_999) + b"{}",
      "headerPastEnd", "a header of 99,999,999 bytes (under the limit) declared in a 10-byte file")
    w("offsets-u64-max.safetensors", safetensors_file({"a": {"dtype": "F32", "shape": [], "data_offsets": [(1 << 64) - 5, (1 << 64) - 1]}}, bytes(4)),
      "elementCountOverflow", "a scalar at data_offsets [2^64 - 5, 2^64 - 1]: the end does not fit in 63 bits")
    w("shape-2-64.safetensors", safetensors_file(b'{"a":{"dtype":"F32","shape":[18446744073709551616],"data_offsets":[0,4]}}', bytes(4)),
      "invalidEntry", "a dimension of 2^64, which no u64 holds")
    w("nesting-100000.safetensors", safetensors_file(b'{"a":' + b"[" * 100000 + b"]" * 100000 + b"}"),
      "headerNotJSON", "an entry nested 100,000 arrays deep (the parser's depth limit, not the stack)")
    w("shape-bytes-overflow-bf16.safetensors", safetensors_file({"a": {"dtype": "BF16", "shape": [1 << 31, 1 << 31], "data_offsets": [0, 0]}}),
      "elementCountOverflow", "BF16 [2^31, 2^31]: 2^62 elements, 2^63 bytes")


# --- GGUF -------------------------------------------------------------------

def gguf_patch_u32(data, key, value):
    """`data` with the u32 value of GGUF key `key` replaced."""
    raw = struct.pack("<Q", len(key)) + key.encode("utf-8")
    at = data.index(raw) + len(raw)
    assert struct.unpack_from("<I", data, at)[0] == 4, key   # u32
    out = bytearray(data)
    struct.pack_into("<I", out, at + 4, value)
    return bytes(out)


def gguf_patch_charsmap(data, size):
    """`data` with the first 4 bytes of tokenizer.ggml.precompiled_charsmap (the trie size) set to `size`,
    or with its second-to-last byte (in the replacement strings) set to 0xFF when `size` is None."""
    key = b"tokenizer.ggml.precompiled_charsmap"
    at = data.index(struct.pack("<Q", len(key)) + key) + 8 + len(key)
    vtype, etype, count = struct.unpack_from("<IIQ", data, at)
    assert vtype == 9 and etype in (0, 1), (vtype, etype)
    start = at + 16
    out = bytearray(data)
    if size is None:
        out[start + count - 2] = 0xFF
    else:
        out[start:start + 4] = size
    return bytes(out)


def gguf_cases(c):
    import fixtures_gguf as fg
    for name in ("llama-tiny.gguf", "llama-tiny-f16.gguf", "llama-tiny-q8_0.gguf"):
        c.add("gguf/" + name, "gguf", "valid", "llama-tiny written by gguf-py (%s)" % name)
    with open(os.path.join(c.fixtures, "gguf", "bad", "manifest.json"), encoding="utf-8") as f:
        for name, entry in sorted(json.load(f).items()):
            if entry.get("tensor"):
                continue   # these open; their error comes from tensor(name), which a model never asks for
            error = entry["error"]
            if name in ("bad-magic.gguf", "empty.gguf"):
                error = "IOError.unrecognizedFormat"   # no GGUF magic: detection finds no format at all
            c.add("gguf/bad/" + name, "gguf", error, entry["why"], "open")

    def w(name, data, error, why, stage="open"):
        c.write("gguf", name, data, error, why, stage)

    b = fg.bad_base(); b.tensor_count = 1 << 60
    w("tensor-count-2-60.gguf", b.build(), "GGUFError.countOutOfRange", "2^60 tensors declared in a 400-byte file")
    b = fg.bad_base(); b.tensors = b.tensors[:1]; b.tensors[0]["dims"] = [1 << 30, 1 << 30]
    w("tensor-2-62-bytes.gguf", b.build(), "GGUFError.tensorPastEnd", "F32 [2^30, 2^30] (2^62 bytes) in a file of a few hundred bytes")
    b = fg.bad_base(); fg.replace_kv(b, "tokenizer.ggml.tokens", fg.ARR, raw=struct.pack("<IIQ", fg.ARR, fg.STR, 1 << 29))
    w("string-array-2-29.gguf", b.build(), "GGUFError.unexpectedEnd",
      "tokenizer.ggml.tokens declares 2^29 strings (under ggml's 2^30) in a tiny file: refused before allocating")
    b = fg.bad_base(); fg.replace_kv(b, "tokenizer.ggml.tokens", fg.ARR, raw=struct.pack("<IIQ", fg.ARR, fg.U64, (1 << 30) + 1))
    w("u64-array-over-limit.gguf", b.build(), "GGUFError.arrayTooLong", "an array of 2^30 + 1 u64")
    with open(os.path.join(c.fixtures, "gguf", "llama-tiny.gguf"), "rb") as f:
        tiny = f.read()
    w("head-count-3.gguf", gguf_patch_u32(tiny, "llama.attention.head_count", 3), "ImportError.configField",
      "llama-tiny with llama.attention.head_count 3: the attention tensors hold 4 heads", "open")
    w("block-count-3.gguf", gguf_patch_u32(tiny, "llama.block_count", 3), "ImportError.missingSourceTensor",
      "llama-tiny with llama.block_count 3: there are 2 layers of tensors", "open")
    # Written by tools/make_xlmr_references.py (llama.cpp's converter), so read from the repository.
    with open(os.path.join(mf.DEFAULT_OUT, "xlmr", "e5-small-shaped.gguf"), "rb") as f:
        xlmr = f.read()
    c.add("xlmr/e5-small-shaped.gguf", "gguf", "valid", "llama.cpp's XLM-R (bert with a t5 tokenizer and its charsmap)")
    w("charsmap-overlong.gguf", gguf_patch_charsmap(xlmr, struct.pack("<I", 0x7FFFFFFC)), "ImportError.tokenizer",
      "llama.cpp's XLM-R with tokenizer.ggml.precompiled_charsmap's trie size 2^31 - 4, past the blob")
    w("charsmap-not-utf8.gguf", gguf_patch_charsmap(xlmr, None), "ImportError.tokenizer",
      "llama.cpp's XLM-R with a 0xFF in tokenizer.ggml.precompiled_charsmap's replacement strings")


# --- HDF5 -------------------------------------------------------------------

def hdf5_cases(c):
    import h5py
    for name in ("bert-tiny.h5", "gpt2-tiny.h5", "gpt2-tiny-f16.h5", "llama-tiny.h5", "llama-tiny-bf16.h5"):
        c.add(name, "hdf5", "valid", "the %s fixture" % name)
    with open(os.path.join(c.fixtures, "bad-hdf5", "manifest.json"), encoding="utf-8") as f:
        for name, entry in sorted(json.load(f).items()):
            # The readers' corpus: a file the schema accepts but no tokenizer builds from is the command's
            # to refuse (`qkv validate` builds the tokenizer; tools/tests/test_bad_fixtures.py holds it).
            if entry["error"].startswith("TokenizerError."):
                continue
            stage = "deep" if entry.get("deep") else ("schema" if entry["error"].startswith("ModelError.") else "open")
            c.add("bad-hdf5/" + name, "hdf5", entry["error"], entry["why"], stage)

    model = mf.bad_base_model()
    weights = mf.make_weights(model)
    target = "layers/1/mlp/down/weight"
    others = mf.without_tensor(weights, target)
    array = mf.tensor_array(weights, target)

    def h(name, error, why, edit, stage="open"):
        def writer(path):
            mf.write_h5(path, copy.deepcopy(model), others, "f32", edit=edit)
        c.written_by("hdf5", name, "HDF5Error." + error if "." not in error else error, why, writer, stage)

    def compressed(f):
        ds = f.create_dataset(target, data=array, chunks=(4, array.shape[1]), compression="gzip", shuffle=True, track_times=False)
        ds.attrs["dtype"] = "f32"

    c.written_by("hdf5", "compressed.h5", "valid", "bad-hdf5's base model with one tensor chunked, shuffle + deflate",
                 lambda path: mf.write_h5(path, copy.deepcopy(model), others, "f32", edit=compressed))

    def external(f):
        raw = os.path.basename(f.filename) + ".raw"
        with open(os.path.join(os.path.dirname(f.filename), raw), "wb") as out:
            out.write(np.ascontiguousarray(array, dtype="<f4").tobytes())
        ds = f.create_dataset(target, shape=array.shape, dtype="<f4", external=[(raw, 0, array.nbytes)], track_times=False)
        ds.attrs["dtype"] = "f32"
    h("external-storage.h5", "unsafeStorage", "%s keeps its data in an external raw file (a path outside the HDF5 file)" % target, external)

    def virtual(f):
        layout = h5py.VirtualLayout(shape=array.shape, dtype="<f4")
        layout[:] = h5py.VirtualSource("elsewhere.h5", "data", shape=array.shape)
        ds = f.create_virtual_dataset(target, layout, fillvalue=0)
        ds.attrs["dtype"] = "f32"
    h("virtual-dataset.h5", "unsafeStorage", "%s is a virtual dataset mapping elsewhere.h5:/data" % target, virtual)

    def unallocated(f):
        ds = f.create_dataset(target, shape=array.shape, dtype="<f4", track_times=False)
        ds.attrs["dtype"] = "f32"
    h("unallocated-data.h5", "unsafeStorage",
      "%s was created but never written: libhdf5 would return fill values (zeros), not weights" % target, unallocated)

    def sparse_bomb(f):
        big = "layers/1/bomb/weight"
        ds = f.create_dataset(big, shape=(4096, 4096, 16), dtype="<f4", chunks=(64, 64, 16), compression="gzip",
                              track_times=False)
        ds[0:64, 0:64, :] = np.zeros((64, 64, 16), dtype="<f4")
        f.create_dataset(target, data=array, track_times=False).attrs["dtype"] = "f32"
    h("sparse-chunks.h5", "unsafeStorage",
      "a 1 GiB f32 tensor with one zero chunk written and 4095 never written (fill values)", sparse_bomb)

    def double_deflate_bomb(f):
        # Deflate twice: 64 MiB of zeros in a few hundred bytes, every chunk written. One deflate cannot
        # pass about 1032:1; qkv refuses more than 1100:1 whatever the filters.
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_chunk((256, 256, 64))
        dcpl.set_deflate(9)
        dcpl.set_deflate(9)
        space = h5py.h5s.create_simple((512, 512, 64))
        ds = h5py.Dataset(h5py.h5d.create(f.id, b"layers/1/bomb", h5py.h5t.IEEE_F32LE, space, dcpl=dcpl))
        ds[...] = np.zeros((512, 512, 64), dtype="<f4")
        f.create_dataset(target, data=array, track_times=False).attrs["dtype"] = "f32"
    h("compression-bomb.h5", "unsafeStorage",
      "64 MiB of f32 in 4 chunks deflated twice into a few hundred bytes: over 1100x, more than one deflate can reach",
      double_deflate_bomb)

    def lzf(f):
        ds = f.create_dataset(target, data=array, chunks=array.shape, compression="lzf", track_times=False)
        ds.attrs["dtype"] = "f32"
    h("filter-lzf.h5", "unsafeStorage", "%s is compressed with h5py's LZF filter (32000), not deflate or shuffle" % target, lzf)

    def scaleoffset(f):
        ds = f.create_dataset(target, data=array, chunks=array.shape, scaleoffset=3, track_times=False)
        ds.attrs["dtype"] = "f32"
    h("filter-scaleoffset.h5", "unsafeStorage", "%s goes through the lossy scale-offset filter" % target, scaleoffset)

    def huge_string(f):
        f["config"].attrs.create("family", b"llama", dtype=h5py.string_dtype("ascii", 5))
    c.written_by("hdf5", "fixed-string-family.h5", "valid", "config.family as a 5-byte fixed-length ASCII string",
                 lambda path: mf.write_h5(path, copy.deepcopy(model), weights, "f32", edit=huge_string))

    def metadata_unallocated(f):
        del f["tokenizer/scores"]
        f["tokenizer"].create_dataset("scores", shape=(len(model["tokenizer"]["tokens"]),), dtype="<f4", track_times=False)
    c.written_by("hdf5", "metadata-unallocated.h5", "HDF5Error.unsafeStorage",
                 "tokenizer/scores was created but never written (its values would be fill values)",
                 lambda path: mf.write_h5(path, copy.deepcopy(model), weights, "f32", edit=metadata_unallocated))

    def contiguous_past_end(path):
        mf.write_h5(path, copy.deepcopy(model), weights, "f32")
        with h5py.File(path, "r") as f:
            offset = f[target].id.get_offset()
        # Cut the file inside that dataset, and keep the superblock's end-of-file address consistent? No:
        # libhdf5 checks that address against the real size itself ("truncated file").
        with open(path, "r+b") as out:
            out.truncate(offset + 16)
    c.written_by("hdf5", "truncated-in-tensor.h5", "HDF5Error.libraryCall",
                 "cut 16 bytes into %s's data: libhdf5's own end-of-file check refuses it at open" % target, contiguous_past_end)
    heap_cases(c, model, weights)
    c.write("hdf5", "signature-only.h5", b"\x89HDF\r\n\x1a\n", "HDF5Error.libraryCall", "the 8-byte signature and nothing else")
    c.write("hdf5", "garbage-superblock.h5", b"\x89HDF\r\n\x1a\n" + bytes([0xFF] * 1016), "HDF5Error.libraryCall",
            "the signature followed by 1016 bytes of FF")


# Variable-length strings live in the global heap: collections ("GCOL", version 1, 3 reserved bytes, u64
# size, then objects: u16 index, u16 reference count, 4 reserved bytes, u64 size, data padded to 8; index 0
# is the free space, to the end), each string an element (u32 length, u64 collection address, u32 index).
# libhdf5 1.10 trusts all of it (H5HG_read copies an object's declared size into a buffer sized by the
# string's length); qkv reads strings itself and refuses these (Specs/hdf5-layout.md, "Hostile files").

def heap_objects(data, at):
    """The objects of the global heap collection at byte `at`: {index: position of its header}."""
    assert data[at:at + 5] == b"GCOL\x01", at
    size = struct.unpack_from("<Q", data, at + 8)[0]
    objects, p = {}, at + 16
    while at + size - p >= 16:
        index, _, _, length = struct.unpack_from("<HHIQ", data, p)
        objects[index] = p
        if index == 0:
            break
        p += 16 + (length + 7) // 8 * 8
    return objects


def heap_collections(data):
    """Positions of every global heap collection h5py wrote (signature and version 1)."""
    found, at = [], data.find(b"GCOL\x01")
    while at >= 0:
        found.append(at)
        at = data.find(b"GCOL\x01", at + 1)
    return found


def heap_cases(c, model, weights):
    import h5py

    def mutated(name, error, why, mutate, edit=None):
        def writer(path):
            mf.write_h5(path, copy.deepcopy(model), weights, "f32", edit=edit)
            with open(path, "rb") as f:
                data = bytearray(f.read())
            mutate(path, data)
            with open(path, "wb") as out:
                out.write(data)
        c.written_by("hdf5", name, "HDF5Error." + error, why, writer)

    def string_element(path, dataset, i):
        """File position of string element `i` of a contiguous dataset (base address 0)."""
        with h5py.File(path, "r") as f:
            return f[dataset].id.get_offset() + 16 * i

    def object_holding(data, content):
        """Header position of the one heap object whose data is `content`."""
        hits = [p for at in heap_collections(data) for i, p in heap_objects(data, at).items()
                if i != 0 and struct.unpack_from("<Q", data, p + 8)[0] == len(content) and data[p + 16:p + 16 + len(content)] == content]
        assert len(hits) == 1, hits
        return hits[0]

    def past_collection(path, data):
        # The fuzzer's crash, byte for byte: bit 16 of config.rope_layout's object size set (4 -> 65540).
        p = object_holding(data, b"half")
        data[p + 10] |= 1
    mutated("heap-object-past-collection.h5", "unsafeStructure",
            "config.rope_layout's global heap object ('half') declares 65540 bytes in a 4096-byte collection: the fuzzer's "
            "crash (memcpy-param-overlap in libhdf5's H5HG_read, which copies the declared size)", past_collection)

    def index_missing(path, data):
        at = string_element(path, "tokenizer/tokens", 3)
        struct.pack_into("<I", data, at + 12, 999)
    mutated("heap-index-missing.h5", "unsafeStructure",
            "tokenizer/tokens[3] names object 999 of its global heap collection, which has no such object "
            "(libhdf5 would index its object table past the end)", index_missing)

    def free_space_zero(path, data):
        at = heap_collections(data)[0]
        p = heap_objects(data, at)[0]
        struct.pack_into("<Q", data, p + 8, 0)
    mutated("heap-free-space-zero.h5", "unsafeStructure",
            "the first global heap collection's free space (object 0) declares 0 bytes "
            "(libhdf5's collection parser would loop on it forever)", free_space_zero)

    def long_note(f):
        f.require_group("user").create_dataset("notes", data=np.array(["x" * 10000], dtype=object),
                                               dtype=h5py.string_dtype("utf-8"), track_times=False)

    def shorter_than_object(path, data):
        at = string_element(path, "user/notes", 0)
        struct.pack_into("<I", data, at, 1)
    mutated("heap-string-shorter-than-object.h5", "unsafeStructure",
            "user/notes[0] has length 1 but its global heap object holds 10000 bytes "
            "(libhdf5 would copy all 10000 into a buffer of 4096)", shorter_than_object, edit=long_note)


# --- PyTorch (pytorch_model.bin) ---------------------------------------------

def pytorch_cases(c):
    """tools/fixtures_pytorch.py's hostile and broken files (those up to 64 KiB; the memo and stack bombs
    are megabytes and stay in tools/tests/test_pytorch.py), each refused when opened without running
    anything; torch.save's fixtures as the good files."""
    import fixtures_pytorch as fp
    for folder in ("bert-tiny", "llama-tiny-sharded", "llama-tiny-strided", "llama-tiny-legacy"):
        c.add("pytorch/" + folder, "pytorch", "valid", "written by torch.save (tools/make_pytorch_fixtures.py): " + folder)
    for name, data, error, fragment in fp.hostile_cases("/nonexistent/qkv-conformance-ran"):
        if len(data) <= 65536:
            c.write("pytorch", name, data, "PyTorchError." + error, "a lone pytorch_model.bin refused when read: " + fragment)


def write_all(out_dir=DEFAULT_OUT, quiet=False):
    corpus = Corpus(out_dir)
    qkv_cases(corpus)
    safetensors_cases(corpus)
    gguf_cases(corpus)
    hdf5_cases(corpus)
    pytorch_cases(corpus)
    root = os.path.join(out_dir, CONFORMANCE_DIR)
    for dirpath, _, names in os.walk(root):
        for name in names:
            path = os.path.abspath(os.path.join(dirpath, name))
            if name != "manifest.json" and path not in corpus.written and not name.endswith(".raw"):
                os.remove(path)
                if not quiet:
                    print("removed stale %s" % path)
    with open(os.path.join(root, "manifest.json"), "w", encoding="utf-8") as out:
        json.dump({"files": corpus.files}, out, indent=1, ensure_ascii=False)
        out.write("\n")
    if not quiet:
        counts = {}
        for e in corpus.files:
            key = (e["reader"], "good" if e["expect"] == "valid" else "bad")
            counts[key] = counts.get(key, 0) + 1
        print("wrote %s: %s" % (os.path.join(root, "manifest.json"),
                                ", ".join("%s %s %d" % (r, g, n) for (r, g), n in sorted(counts.items()))))
    return corpus.files


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="fixtures directory (default: %(default)s)")
    args = parser.parse_args(argv)
    write_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
