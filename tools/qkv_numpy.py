#!/usr/bin/env python3
"""An independent reader of `.qkv` files, written only from Specs/qkv-format.md.

It shares no code with the Swift implementation: it exists to check it. It
memory-maps the file (numpy.memmap) and returns tensors as zero-copy numpy
views into the mapping.

    from qkv_numpy import read_qkv
    metadata, tensors = read_qkv("model.qkv")
    metadata["config.head_count"]                  # 12
    tensors["layers/0/attn/q/weight"]["array"][3]  # head 3's W_Q

`metadata` maps "section.name" keys to values, in file order:
    bool -> bool, int -> int, float -> float, string -> str,
    int32[]/int64[]/float32[]/float64[] -> 1-D numpy array (<i4/<i8/<f4/<f8),
    string[] -> list of str.
`tensors` maps names to dicts (in table order) with keys
    role, role_code, dtype, dtype_code, shape, offset (absolute, in the
    file), nbytes, crc32, array.
`array` is a read-only numpy view: f32/f16/f64/integers as their numpy
types, bf16 as uint16 bits, block types (q8_0, q4_k, ...) as raw uint8 blocks
shaped shape[:-1] + (shape[-1] // block size, block bytes).

Every violation of the format raises ValueError with a message saying what
is wrong and where. The container rules (steps 1-5 of the spec's
"Validation") are checked in the spec's order; the schema rules (step 6) are
not checked here.

As a script:  python3 tools/qkv_numpy.py FILE [FILE...]   prints a summary.
"""

import os
import re
import struct
import sys
import zlib

import numpy as np

MAGIC = b"\x89QKV\r\n\x1a\n"
MAJOR_VERSION = 1
BYTE_ORDER_MARK = 0x0A0B0C0D          # stored as 0D 0C 0B 0A
HEADER_SIZE = 64

# Limits (spec section "Limits").
MAX_METADATA_LENGTH = 1 << 30          # 1 GiB
MAX_TABLE_LENGTH = 256 << 20           # 256 MiB
MAX_TENSOR_COUNT = 1048576
MAX_KEY_LENGTH = 255
MAX_NAME_LENGTH = 1024
MAX_RANK = 8

U64_MAX = (1 << 64) - 1

# Metadata value type codes -> names.
VALUE_TYPES = {
    1: "bool", 2: "int", 3: "float", 4: "string",
    16: "int32[]", 17: "int64[]", 18: "float32[]", 19: "float64[]",
    20: "string[]",
}
# Numeric array types -> little-endian numpy dtype.
ARRAY_DTYPES = {16: "<i4", 17: "<i8", 18: "<f4", 19: "<f8"}

# Dtype codes -> (name, numpy dtype of the returned array, bytes per element).
# q8_0 has no per-element size: 34 bytes per block of 32 values.
DTYPES = {
    1: ("f32", "<f4", 4),
    2: ("f16", "<f2", 2),
    3: ("bf16", "<u2", 2),   # returned as the raw bits
    4: ("f64", "<f8", 8),
    8: ("i8", "i1", 1),
    9: ("u8", "u1", 1),
    10: ("i16", "<i2", 2),
    11: ("i32", "<i4", 4),
    12: ("i64", "<i8", 8),
    32: ("q8_0", "u1", None),
}
Q8_0 = 32
Q8_0_BLOCK = 32          # values per block
Q8_0_BLOCK_BYTES = 34    # f16 scale + 32 int8

# Block types (Specs/quantization.md): code -> (name, values per block, bytes per block).
BLOCK_TYPES = {
    32: ("q8_0", 32, 34), 33: ("q4_0", 32, 18), 34: ("q4_1", 32, 20), 35: ("q5_0", 32, 22),
    36: ("q5_1", 32, 24), 37: ("q2_k", 256, 84), 38: ("q3_k", 256, 110), 39: ("q4_k", 256, 144),
    40: ("q5_k", 256, 176), 41: ("q6_k", 256, 210), 42: ("iq4_nl", 32, 18), 43: ("iq4_xs", 256, 136),
    44: ("iq1_s", 256, 50), 45: ("iq1_m", 256, 56), 46: ("iq2_xxs", 256, 66), 47: ("iq2_xs", 256, 74),
    48: ("iq2_s", 256, 82), 49: ("iq3_xxs", 256, 98), 50: ("iq3_s", 256, 110), 51: ("tq1_0", 256, 54),
    52: ("tq2_0", 256, 66), 53: ("mxfp4", 32, 17),
}
MXFP4 = 53
for _code, (_name, _, _) in BLOCK_TYPES.items():
    DTYPES.setdefault(_code, (_name, "u1", None))

# Role codes -> names (schema.md, "Roles").
ROLES = {
    1: "token_embedding", 2: "position_embedding", 3: "token_type_embedding",
    4: "embedding_norm", 10: "attn_q", 11: "attn_k", 12: "attn_v",
    13: "attn_o", 14: "attn_norm", 20: "mlp_up", 21: "mlp_gate",
    22: "mlp_down", 23: "mlp_norm", 30: "final_norm", 31: "lm_head",
    32: "pooler",
}

# A metadata key: section "." name, name 1-255 bytes of [A-Za-z0-9_.-].
KEY_PATTERN = re.compile(
    r"(config|tokenizer|provenance|user)\.[A-Za-z0-9_.\-]{1,255}\Z")


def align64(x):
    """The smallest multiple of 64 that is >= x."""
    return (x + 63) // 64 * 64


class _Cursor:
    """Bounded little-endian reads from buf[start:end] (a uint8 array).

    Every read checks it stays inside the section and raises ValueError
    naming the section and the absolute file offset otherwise.
    """

    def __init__(self, buf, start, end, section):
        self.buf, self.pos, self.end, self.section = buf, start, end, section

    def left(self):
        return self.end - self.pos

    def fail(self, message):
        raise ValueError("%s at file offset %d: %s" % (self.section, self.pos, message))

    def take(self, n, what):
        """Return the next n bytes as a uint8 view and advance."""
        if n > self.left():
            self.fail("%s needs %d bytes but only %d are left" % (what, n, self.left()))
        view = self.buf[self.pos:self.pos + n]
        self.pos += n
        return view

    def uint(self, size, what):
        return int.from_bytes(bytes(self.take(size, what)), "little")

    def utf8(self, n, what):
        raw = bytes(self.take(n, what))
        try:
            return raw.decode("utf-8")    # strict: rejects invalid UTF-8
        except UnicodeDecodeError as error:
            self.pos -= n
            self.fail("%s is not valid UTF-8 (%s)" % (what, error))


def _u64(header, offset):
    return int.from_bytes(header[offset:offset + 8], "little")


# ---------------------------------------------------------------------------
# Steps 1-3: fixed header
# ---------------------------------------------------------------------------

def _parse_header(raw, path):
    length = raw.shape[0]
    # Step 1: size, magic, version, byte order, reserved word.
    if length < HEADER_SIZE:
        raise ValueError("%s: file is %d bytes, shorter than the 64-byte header"
                         % (path, length))
    header = bytes(raw[:HEADER_SIZE])
    if header[0:8] != MAGIC:
        raise ValueError("%s: bad magic %s (expected %s)"
                         % (path, header[0:8].hex(" "), MAGIC.hex(" ")))
    major = int.from_bytes(header[8:10], "little")
    minor = int.from_bytes(header[10:12], "little")
    if major != MAJOR_VERSION:
        raise ValueError("%s: unsupported major version %d (this reader reads %d)"
                         % (path, major, MAJOR_VERSION))
    bom = int.from_bytes(header[12:16], "little")
    if bom != BYTE_ORDER_MARK:
        if header[12:16] == bytes.fromhex("0a0b0c0d"):
            raise ValueError("%s: byte-order mark says big-endian; version 1 is "
                             "little-endian only" % path)
        raise ValueError("%s: bad byte-order mark %s" % (path, header[12:16].hex(" ")))
    reserved = int.from_bytes(header[60:64], "little")
    if reserved != 0:
        raise ValueError("%s: reserved header word is 0x%08x, must be 0" % (path, reserved))

    # Step 2: lengths.
    file_length = _u64(header, 16)
    M, T, L, D = _u64(header, 24), _u64(header, 32), _u64(header, 40), _u64(header, 48)
    if file_length != length:
        raise ValueError("%s: header says the file is %d bytes but it is %d "
                         "(truncated or trailing bytes)" % (path, file_length, length))
    end = HEADER_SIZE + M + L
    if end > U64_MAX:
        raise ValueError("%s: 64 + M + L overflows (M=%d, L=%d)" % (path, M, L))
    if not end <= D <= length:
        raise ValueError("%s: need 64 + M + L (%d) <= D (%d) <= file length (%d)"
                         % (path, end, D, length))
    if D != align64(end):
        raise ValueError("%s: data offset D is %d, must be align64(64 + M + L) = %d"
                         % (path, D, align64(end)))
    # Limits (spec "Limits"; the spec does not place them in the check order).
    if M > MAX_METADATA_LENGTH:
        raise ValueError("%s: metadata length %d exceeds 1 GiB" % (path, M))
    if L > MAX_TABLE_LENGTH:
        raise ValueError("%s: tensor table length %d exceeds 256 MiB" % (path, L))
    if T > MAX_TENSOR_COUNT:
        raise ValueError("%s: tensor count %d exceeds %d" % (path, T, MAX_TENSOR_COUNT))

    # Step 3: header CRC over [0, 56) then [64, 64 + M + L).
    stored_crc = int.from_bytes(header[56:60], "little")
    crc = zlib.crc32(header[0:56])
    crc = zlib.crc32(raw[HEADER_SIZE:end], crc)
    if crc != stored_crc:
        raise ValueError("%s: header CRC-32 mismatch (stored 0x%08x, computed 0x%08x): "
                         "header, metadata or tensor table is corrupt"
                         % (path, stored_crc, crc))
    return dict(major=major, minor=minor, file_length=file_length,
                metadata_length=M, tensor_count=T, table_length=L,
                data_offset=D, header_crc32=stored_crc)


# ---------------------------------------------------------------------------
# Step 4: metadata
# ---------------------------------------------------------------------------

def _parse_metadata(raw, M, path):
    cur = _Cursor(raw, HEADER_SIZE, HEADER_SIZE + M, "%s: metadata" % path)
    count = cur.uint(8, "entry count")
    # Each entry is at least 2 (key length) + 1 (key) + 1 (type) + 1 bytes.
    if count > cur.left() // 5:
        cur.fail("entry count %d cannot fit in the %d bytes left" % (count, cur.left()))
    metadata = {}
    for index in range(count):
        what = "entry %d" % index
        key_length = cur.uint(2, what + " key length")
        if not 1 <= key_length <= MAX_KEY_LENGTH:
            cur.fail("%s: key length %d is not in 1...%d" % (what, key_length, MAX_KEY_LENGTH))
        key = cur.utf8(key_length, what + " key")
        if not KEY_PATTERN.match(key):
            cur.fail("%s: bad key %r (want section.name, section one of config/"
                     "tokenizer/provenance/user, name of [A-Za-z0-9_.-])" % (what, key))
        what = "key %r" % key
        type_code = cur.uint(1, what + " value type")
        if type_code not in VALUE_TYPES:
            cur.fail("%s: unknown value type %d" % (what, type_code))
        value = _read_value(cur, type_code, what)
        if key in metadata:
            cur.fail("duplicate key %r" % key)
        metadata[key] = value
    if cur.left() != 0:
        cur.fail("%d bytes left after the last entry; entries must fill M exactly"
                 % cur.left())
    return metadata


def _read_value(cur, type_code, what):
    """One metadata value of type `type_code` (already known to be valid)."""
    if type_code == 1:                                   # bool
        byte = cur.uint(1, what)
        if byte not in (0, 1):
            cur.pos -= 1
            cur.fail("%s: bool byte is %d, must be 0 or 1" % (what, byte))
        return bool(byte)
    if type_code == 2:                                   # int
        return int.from_bytes(bytes(cur.take(8, what)), "little", signed=True)
    if type_code == 3:                                   # float
        return struct.unpack("<d", bytes(cur.take(8, what)))[0]
    if type_code == 4:                                   # string
        n = cur.uint(4, what + " string length")
        return cur.utf8(n, what)
    count = cur.uint(8, what + " array count")
    if type_code in ARRAY_DTYPES:                        # numeric arrays
        dtype = np.dtype(ARRAY_DTYPES[type_code])
        # Check the count against the bytes left before sizing anything by it.
        if count > cur.left() // dtype.itemsize:
            cur.fail("%s: array count %d needs more than the %d bytes left"
                     % (what, count, cur.left()))
        return cur.take(count * dtype.itemsize, what).view(dtype)   # zero copy
    # string[]: each string is at least its 4-byte length.
    if count > cur.left() // 4:
        cur.fail("%s: string count %d cannot fit in the %d bytes left"
                 % (what, count, cur.left()))
    strings = []
    for i in range(count):
        n = cur.uint(4, "%s[%d] length" % (what, i))
        strings.append(cur.utf8(n, "%s[%d]" % (what, i)))
    return strings


# ---------------------------------------------------------------------------
# Step 5: tensor table
# ---------------------------------------------------------------------------

def _parse_table(raw, header, path):
    M, T, L, D = (header["metadata_length"], header["tensor_count"],
                  header["table_length"], header["data_offset"])
    cur = _Cursor(raw, HEADER_SIZE + M, HEADER_SIZE + M + L, "%s: tensor table" % path)
    entries = {}
    next_offset = 0                           # where the tiling rule puts the next tensor
    for index in range(T):
        what = "tensor %d" % index
        name_length = cur.uint(2, what + " name length")
        if not 1 <= name_length <= MAX_NAME_LENGTH:
            cur.fail("%s: name length %d is not in 1...%d"
                     % (what, name_length, MAX_NAME_LENGTH))
        name = cur.utf8(name_length, what + " name")
        if name in entries:
            cur.fail("duplicate tensor name %r" % name)
        what = "tensor %r" % name
        role_code = cur.uint(2, what + " role")
        dtype_code = cur.uint(1, what + " dtype")
        rank = cur.uint(1, what + " rank")
        if dtype_code not in DTYPES:
            cur.fail("%s: unknown dtype code %d" % (what, dtype_code))
        if role_code not in ROLES:
            cur.fail("%s: unknown role code %d" % (what, role_code))
        if rank > MAX_RANK:
            cur.fail("%s: rank %d exceeds %d" % (what, rank, MAX_RANK))
        shape = tuple(cur.uint(8, what + " dimension") for _ in range(rank))
        offset = cur.uint(8, what + " offset")
        nbytes = cur.uint(8, what + " byte length")
        crc = cur.uint(4, what + " CRC-32")
        block_size = cur.uint(2, what + " block size")
        block_scale = cur.uint(1, what + " block scale dtype")
        block_layout = cur.uint(1, what + " block layout")

        # Block fields must match the dtype.
        if dtype_code in BLOCK_TYPES:
            # The block size; the scale dtype f16 (2), or u8 (9: an e8m0 exponent) for mxfp4; layout 1.
            want = (BLOCK_TYPES[dtype_code][1], 9 if dtype_code == MXFP4 else 2, 1)
        else:
            want = (0, 0, 0)
        if (block_size, block_scale, block_layout) != want:
            cur.fail("%s: block fields (size %d, scale dtype %d, layout %d) must be %s "
                     "for dtype %s" % (what, block_size, block_scale, block_layout,
                                       want, DTYPES[dtype_code][0]))
        # Element count and byte size, overflow-checked against u64.
        elements = 1
        for dim in shape:
            elements *= dim
            if elements > U64_MAX:
                cur.fail("%s: element count of shape %s overflows 64 bits" % (what, shape))
        if dtype_code in BLOCK_TYPES:
            bname, bsize, bbytes = BLOCK_TYPES[dtype_code]
            if rank == 0 or shape[-1] % bsize != 0:
                cur.fail("%s: %s needs a last dimension that is a multiple of %d, "
                         "shape is %s" % (what, bname, bsize, shape))
            size = elements // bsize * bbytes
        else:
            size = elements * DTYPES[dtype_code][2]
        if size > U64_MAX:
            cur.fail("%s: byte size of shape %s overflows 64 bits" % (what, shape))
        if size != nbytes:
            cur.fail("%s: byte length is %d but shape %s of %s needs %d"
                     % (what, nbytes, shape, DTYPES[dtype_code][0], size))
        # Tiling: first at 0, each next at align64(previous end).
        if offset != next_offset:
            cur.fail("%s: offset %d breaks the tiling rule (expected %d)"
                     % (what, offset, next_offset))
        next_offset = align64(offset + nbytes)
        entries[name] = dict(
            role=ROLES[role_code], role_code=role_code,
            dtype=DTYPES[dtype_code][0], dtype_code=dtype_code,
            shape=shape, offset=D + offset, nbytes=nbytes, crc32=crc)
        last_end = D + offset + nbytes
    if cur.left() != 0:
        cur.fail("%d bytes left after the last entry; entries must fill L exactly"
                 % cur.left())
    expected_end = last_end if T > 0 else D
    if expected_end != header["file_length"]:
        raise ValueError("%s: the last tensor ends at %d but the file is %d bytes"
                         % (path, expected_end, header["file_length"]))
    return entries


# ---------------------------------------------------------------------------
# Deep checks and arrays
# ---------------------------------------------------------------------------

def _check_zero(raw, start, end, what, path):
    if end > start and np.any(raw[start:end]):
        first = start + int(np.flatnonzero(raw[start:end])[0])
        raise ValueError("%s: nonzero padding byte at file offset %d (%s)"
                         % (path, first, what))


def _make_array(raw, entry):
    name, npdtype, _ = DTYPES[entry["dtype_code"]]
    shape = entry["shape"]
    if entry["dtype_code"] in BLOCK_TYPES:
        _, bsize, bbytes = BLOCK_TYPES[entry["dtype_code"]]
        shape = shape[:-1] + (shape[-1] // bsize, bbytes)
    # Zero copy: a view of the memory map at the tensor's offset.
    return np.ndarray(shape, dtype=np.dtype(npdtype), buffer=raw, offset=entry["offset"])


def _check_finite(entry, array, path):
    dtype = entry["dtype"]
    if dtype in ("f32", "f16", "f64"):
        bad = ~np.isfinite(array)
    elif dtype == "bf16":
        bad = (array & 0x7F80) == 0x7F80      # exponent all ones: inf or NaN
    elif dtype == "q8_0":
        scales = np.ascontiguousarray(array[..., 0:2]).view("<f2")
        bad = ~np.isfinite(scales)
    else:
        return
    if np.any(bad):
        raise ValueError("%s: tensor %r holds NaN or infinity" % (path, entry["name"]))


def read_qkv_file(path, check_crc=True, check_padding=True, check_finite=False):
    """Open and validate a .qkv file; return (header, metadata, tensors).

    check_crc: verify every tensor's CRC-32 (the spec's `validate --deep`).
    check_padding: verify the padding before D and between tensors is zero.
    check_finite: reject float tensors holding NaN or infinity.
    """
    path = str(path)
    if os.path.getsize(path) < HEADER_SIZE:      # np.memmap cannot map 0 bytes
        raise ValueError("%s: file is %d bytes, shorter than the 64-byte header"
                         % (path, os.path.getsize(path)))
    # A read-only mapping of the whole file, seen as a plain uint8 ndarray
    # (the view keeps the mapping alive for as long as any array uses it).
    raw = np.memmap(path, dtype=np.uint8, mode="r").view(np.ndarray)
    header = _parse_header(raw, path)
    metadata = _parse_metadata(raw, header["metadata_length"], path)
    entries = _parse_table(raw, header, path)

    tensors = {}
    previous_end = HEADER_SIZE + header["metadata_length"] + header["table_length"]
    for name, entry in entries.items():
        start, end = entry["offset"], entry["offset"] + entry["nbytes"]
        if check_padding:
            _check_zero(raw, previous_end, start,
                        "before tensor %r" % name, path)
        if check_crc:
            crc = zlib.crc32(raw[start:end])
            if crc != entry["crc32"]:
                raise ValueError("%s: tensor %r CRC-32 mismatch (stored 0x%08x, "
                                 "computed 0x%08x): its data is corrupt"
                                 % (path, name, entry["crc32"], crc))
        array = _make_array(raw, entry)
        if check_finite:
            _check_finite(dict(entry, name=name), array, path)
        tensors[name] = dict(entry, array=array)
        previous_end = end
    return header, metadata, tensors


def read_qkv(path, **checks):
    """Read a .qkv file: returns (metadata, tensors). See the module docstring."""
    _, metadata, tensors = read_qkv_file(path, **checks)
    return metadata, tensors


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------

def _describe(value):
    if isinstance(value, np.ndarray):
        head = ", ".join(str(v) for v in value[:4].tolist())
        return "%s[%d] [%s%s]" % (value.dtype.name, len(value), head,
                                  ", ..." if len(value) > 4 else "")
    if isinstance(value, list):
        head = ", ".join(repr(v) for v in value[:4])
        return "string[%d] [%s%s]" % (len(value), head, ", ..." if len(value) > 4 else "")
    return repr(value)


def main(argv):
    if not argv:
        print("usage: qkv_numpy.py FILE.qkv [FILE.qkv ...]", file=sys.stderr)
        return 2
    status = 0
    for path in argv:
        try:
            header, metadata, tensors = read_qkv_file(path, check_finite=True)
        except (ValueError, OSError) as error:
            print("INVALID %s" % error)
            status = 1
            continue
        print("%s: qkv %d.%d, %d bytes, metadata %d bytes, table %d bytes, data at %d"
              % (path, header["major"], header["minor"], header["file_length"],
                 header["metadata_length"], header["table_length"], header["data_offset"]))
        print("metadata (%d keys):" % len(metadata))
        for key, value in metadata.items():
            print("  %-32s %s" % (key, _describe(value)))
        total = sum(int(np.prod(t["shape"], dtype=object)) for t in tensors.values())
        print("tensors (%d, %d elements):" % (len(tensors), total))
        for name, t in tensors.items():
            print("  %-32s %-20s %-5s %-16s @%-10d crc %08x"
                  % (name, t["role"], t["dtype"], list(t["shape"]), t["offset"], t["crc32"]))
        print("OK")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
