"""Check the Swift `qkv` binary against independent references.

The references are the h5py-written fixtures (tools/make_fixtures.py), h5py
itself, numpy's float16 conversion, and tools/qkv_numpy.py (a .qkv reader
written from the spec alone).

The binary is $QKV_BIN, or <repo>/.build/debug/qkv. Nothing is skipped: a
missing binary or fixture fails every test with a message saying so.

    swift build && python3 -m pytest tools/tests/test_interop.py
"""

import os
import subprocess

import h5py
import numpy as np
import pytest

import make_fixtures as mf
from h5ref import (WRITTEN_ATTR_TYPES, attr_hdf5_type, bf16_to_f32, h5_metadata,
                   h5_tensors, plain_config, qkv_metadata, section, tensor_paths)
from qkv_numpy import read_qkv

REPO_ROOT = os.path.dirname(mf.DEFAULT_OUT)
FIXTURES = mf.DEFAULT_OUT
FILES = ["bert-tiny.h5", "gpt2-tiny.h5", "gpt2-tiny-f16.h5", "llama-tiny.h5",
         "llama-tiny-bf16.h5"]

# Provenance keys a converter writes itself (schema.md, "provenance.*").
CONVERTER_PROVENANCE = ("provenance.source", "provenance.source_format", "provenance.converter")

ATTENTION_WEIGHTS = ("attn/q/weight", "attn/k/weight", "attn/v/weight", "attn/o/weight")


# ---------------------------------------------------------------------------
# Running qkv
# ---------------------------------------------------------------------------

def qkv_binary():
    path = os.environ.get("QKV_BIN") or os.path.join(REPO_ROOT, ".build", "debug", "qkv")
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("qkv binary missing: %s is not an executable file. Build it with "
                    "`swift build` in %s, or point QKV_BIN at it." % (path, REPO_ROOT),
                    pytrace=False)
    return path


def qkv_convert(src, dst, *flags):
    """Run `qkv convert SRC DST FLAGS...`; fail the test with its output on error."""
    command = [qkv_binary(), "convert", str(src), str(dst), *flags]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        pytest.fail("%s exited with %d\nstdout:\n%s\nstderr:\n%s"
                    % (" ".join(command), result.returncode, result.stdout, result.stderr),
                    pytrace=False)
    assert os.path.isfile(dst), "%s did not create %s" % (" ".join(command), dst)
    return dst


def fixture(name):
    path = os.path.join(FIXTURES, name)
    if not os.path.exists(path):
        pytest.fail("%s is missing: run `python3 tools/make_fixtures.py`" % path, pytrace=False)
    return path


# ---------------------------------------------------------------------------
# Reading either container into comparable form
# ---------------------------------------------------------------------------

def read_h5(path):
    """(normalised metadata, {name: (dtype, array)}) of an HDF5 file."""
    with h5py.File(path, "r") as f:
        return h5_metadata(f), h5_tensors(f)


def read_qkv_plain(path):
    """(normalised metadata, {name: (dtype, array)}) of a .qkv file, via qkv_numpy."""
    metadata, tensors = read_qkv(path, check_finite=True)
    return qkv_metadata(metadata), {n: (t["dtype"], t["array"]) for n, t in tensors.items()}


def read_any(path):
    return read_qkv_plain(path) if str(path).endswith(".qkv") else read_h5(path)


def raw_bytes(array):
    return np.ascontiguousarray(array).view(np.uint8).tobytes()


def assert_same_tensors(got, want, dtype=None):
    """Same names, dtypes and bit-identical data ({name: (dtype, array)})."""
    assert sorted(got) == sorted(want)
    for name, (want_dtype, want_array) in want.items():
        got_dtype, got_array = got[name]
        assert got_dtype == (dtype or want_dtype), name
        assert got_array.shape == want_array.shape, name
        assert raw_bytes(got_array) == raw_bytes(want_array), "%s differs" % name


def assert_same_model_metadata(got, want):
    """config, tokenizer and user sections identical (keys, types, values);
    provenance: the converter's keys exist, the input's other keys are kept."""
    # config: every key of the input, equal; a writer may also spell out an
    # optional key the input left out, but only with its schema default.
    got_config, want_config = section(got, "config"), section(want, "config")
    added = {k: v for k, v in got_config.items() if k not in want_config}
    for key, (_, value) in added.items():
        default = mf.CONFIG_DEFAULTS.get(key.split(".", 1)[1])
        assert default is not None and value == default and type(value) is type(default), \
            "qkv added %s = %r, which is not its schema default" % (key, value)
    assert {k: v for k, v in got_config.items() if k in want_config} == want_config, \
        "config section differs"
    for name in ("tokenizer", "user"):
        assert section(got, name) == section(want, name), "%s section differs" % name
    for key in CONVERTER_PROVENANCE:
        assert key in got and got[key][0] == "string", "missing %s" % key
    for key, value in section(want, "provenance").items():
        if key not in CONVERTER_PROVENANCE:
            assert got.get(key) == value, "provenance key %s not kept" % key


def expected_order(metadata, tensors):
    config = plain_config(metadata)
    return mf.expected_tensors(config, has_pooler="pooler/weight" in tensors)


# ---------------------------------------------------------------------------
# HDF5 -> .qkv
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILES)
def test_h5_to_qkv(tmp_path, name):
    out = qkv_convert(fixture(name), tmp_path / "out.qkv")
    ref_meta, ref_tensors = read_h5(fixture(name))
    metadata, tensors = read_qkv(out, check_finite=True)

    # Tensors: the schema's set, in the writer's order, roles and shapes as
    # in the schema, bits identical to h5py's read of the fixture.
    want = expected_order(ref_meta, ref_tensors)
    assert list(tensors) == [n for n, _, _ in want], "table order is not the schema's"
    for tensor_name, shape, role in want:
        t = tensors[tensor_name]
        ref_dtype, ref_array = ref_tensors[tensor_name]
        assert (t["role"], t["shape"], t["dtype"]) == (role, shape, ref_dtype), tensor_name
        assert t["offset"] % 64 == 0
        assert raw_bytes(t["array"]) == raw_bytes(ref_array), "%s differs" % tensor_name

    # Metadata: sorted by key (bytewise), and equal to the fixture's.
    keys = list(metadata)
    assert keys == sorted(keys, key=lambda k: k.encode("utf-8")), "metadata not sorted by key"
    assert_same_model_metadata(qkv_metadata(metadata), ref_meta)


# ---------------------------------------------------------------------------
# .qkv -> HDF5
# ---------------------------------------------------------------------------

def check_written_layout(f, compressed):
    """What hdf5-layout.md says a qkv-written file looks like."""
    assert f.attrs["qkv_format"] == "qkv-hdf5"
    assert attr_hdf5_type(f, "qkv_format") == WRITTEN_ATTR_TYPES["string"]
    assert f.attrs["qkv_format_version"] == 1
    assert attr_hdf5_type(f, "qkv_format_version")[0] == "int"
    known = {"config": mf.CONFIG_KEYS, "tokenizer": mf.TOKENIZER_KEYS}
    for section_name, types in known.items():
        group = f[section_name]
        for key in group.attrs:
            # The exact written type of the key's schema type.
            assert attr_hdf5_type(group, key) == WRITTEN_ATTR_TYPES[types[key]], \
                "%s.%s has HDF5 type %r" % (section_name, key, attr_hdf5_type(group, key))
            if types[key] == "bool":
                assert isinstance(group.attrs[key], np.bool_), key
        for key, ds in group.items():
            assert ds.ndim == 1, key
            if types[key] == "string[]":
                info = h5py.check_string_dtype(ds.dtype)
                assert info is not None and info.encoding == "utf-8" and info.length is None, key
    for path in tensor_paths(f):
        ds = f[path]
        assert "dtype" in ds.attrs, "%s has no dtype attribute" % path
        if not compressed:
            assert ds.chunks is None and ds.compression is None and not ds.shuffle, path
            assert ds.id.get_offset() is not None, "%s is not contiguous" % path


@pytest.mark.parametrize("name", FILES)
def test_qkv_to_h5(tmp_path, name):
    middle = qkv_convert(fixture(name), tmp_path / "middle.qkv")
    out = qkv_convert(middle, tmp_path / "out.h5")
    ref_meta, ref_tensors = read_h5(fixture(name))
    with h5py.File(out, "r") as f, h5py.File(fixture(name), "r") as ref:
        check_written_layout(f, compressed=False)
        meta, tensors = h5_metadata(f), h5_tensors(f)
        # The example of hdf5-layout.md: head 3's W_Q slab.
        head3 = f["layers/0/attn/q/weight"][3]
        assert head3.shape == (ref_meta["config.head_dim"][1], ref_meta["config.model_dim"][1])
        assert raw_bytes(head3) == raw_bytes(ref["layers/0/attn/q/weight"][3])
    assert_same_tensors(tensors, ref_tensors)
    assert_same_model_metadata(meta, ref_meta)


# ---------------------------------------------------------------------------
# --compress
# ---------------------------------------------------------------------------

def check_compressed(f):
    """Chunked, shuffle then deflate level 6; attention one chunk per head;
    other tensors whole rows, about 1 MiB at most."""
    config = plain_config(h5_metadata(f))
    d, D = config["head_dim"], config["model_dim"]
    for path in tensor_paths(f):
        ds = f[path]
        assert ds.chunks is not None, "%s is not chunked" % path
        plist = ds.id.get_create_plist()
        filters = [plist.get_filter(i) for i in range(plist.get_nfilters())]
        codes = [flt[0] for flt in filters]
        assert codes == [h5py.h5z.FILTER_SHUFFLE, h5py.h5z.FILTER_DEFLATE], \
            "%s filters %r (want shuffle then deflate)" % (path, filters)
        assert tuple(filters[1][2]) == (6,), "%s deflate level %r" % (path, filters[1][2])
        if path.endswith(ATTENTION_WEIGHTS):
            assert ds.chunks == (1, d, D), "%s chunks %r" % (path, ds.chunks)
        elif ds.ndim >= 2:
            assert ds.chunks[1:] == ds.shape[1:], "%s chunks are not whole rows" % path
            row_bytes = ds.dtype.itemsize * int(np.prod(ds.shape[1:]))
            assert ds.chunks[0] * row_bytes <= max(1 << 20, row_bytes), path


@pytest.mark.parametrize("name", FILES)
def test_compress(tmp_path, name):
    middle = qkv_convert(fixture(name), tmp_path / "middle.qkv")
    packed = qkv_convert(middle, tmp_path / "packed.h5", "--compress")
    ref_meta, ref_tensors = read_h5(fixture(name))
    with h5py.File(packed, "r") as f:
        check_written_layout(f, compressed=True)
        check_compressed(f)
    meta, tensors = read_h5(packed)
    assert_same_tensors(tensors, ref_tensors)
    assert_same_model_metadata(meta, ref_meta)

    # .qkv -> .h5 --compress -> .qkv keeps every bit.
    back = qkv_convert(packed, tmp_path / "back.qkv")
    meta_a, tensors_a = read_qkv_plain(middle)
    meta_b, tensors_b = read_qkv_plain(back)
    assert_same_tensors(tensors_b, tensors_a)
    for section_name in ("config", "tokenizer", "user"):
        assert section(meta_b, section_name) == section(meta_a, section_name), section_name


@pytest.mark.parametrize("name", ["bert-tiny.h5", "llama-tiny-bf16.h5"])
def test_compress_from_h5(tmp_path, name):
    """h5 -> h5 --compress directly, and back to contiguous."""
    packed = qkv_convert(fixture(name), tmp_path / "packed.h5", "--compress")
    with h5py.File(packed, "r") as f:
        check_compressed(f)
    plain = qkv_convert(packed, tmp_path / "plain.h5")
    with h5py.File(plain, "r") as f:
        check_written_layout(f, compressed=False)
    ref_meta, ref_tensors = read_h5(fixture(name))
    meta, tensors = read_h5(plain)
    assert_same_tensors(tensors, ref_tensors)
    assert_same_model_metadata(meta, ref_meta)


# ---------------------------------------------------------------------------
# --dtype against numpy
# ---------------------------------------------------------------------------

# (source fixture, --dtype, reference fixture holding numpy's rounding)
ROUNDINGS = [
    ("llama-tiny.h5", "bf16", "llama-tiny-bf16.h5"),
    ("gpt2-tiny.h5", "f16", "gpt2-tiny-f16.h5"),
]


def widen(dtype, array):
    """The exact f32 value of an f16 or bf16 array."""
    return bf16_to_f32(array) if dtype == "bf16" else array.astype("<f4")


@pytest.mark.parametrize("ext", [".qkv", ".h5"])
@pytest.mark.parametrize("src,dtype,ref", ROUNDINGS)
def test_dtype_rounding_matches_numpy(tmp_path, src, dtype, ref, ext):
    narrow = qkv_convert(fixture(src), tmp_path / ("narrow" + ext), "--dtype", dtype)
    src_meta, _ = read_h5(fixture(src))
    _, ref_tensors = read_h5(fixture(ref))
    meta, tensors = read_any(narrow)
    assert_same_tensors(tensors, ref_tensors, dtype=dtype)
    assert_same_model_metadata(meta, src_meta)    # metadata arrays are not converted

    # And back: --dtype f32 widens exactly.
    wide = qkv_convert(narrow, tmp_path / ("wide" + ext), "--dtype", "f32")
    meta, tensors = read_any(wide)
    widened = {n: ("f32", widen(dtype, a)) for n, (_, a) in ref_tensors.items()}
    assert_same_tensors(tensors, widened, dtype="f32")
    assert_same_model_metadata(meta, src_meta)


@pytest.mark.parametrize("ext", [".qkv", ".h5"])
def test_bf16_to_f16_matches_numpy(tmp_path, ext):
    """bf16 -> f16: exact widening then one round to nearest even."""
    out = qkv_convert(fixture("llama-tiny-bf16.h5"), tmp_path / ("out" + ext), "--dtype", "f16")
    _, ref_tensors = read_h5(fixture("llama-tiny-bf16.h5"))
    want = {n: ("f16", bf16_to_f32(a).astype("<f2")) for n, (_, a) in ref_tensors.items()}
    _, tensors = read_any(out)
    assert_same_tensors(tensors, want, dtype="f16")


@pytest.mark.parametrize("name", ["llama-tiny.h5", "gpt2-tiny-f16.h5"])
def test_same_dtype_is_identity(tmp_path, name):
    """--dtype equal to the input's dtype changes no bit."""
    dtype = "f16" if "f16" in name else "f32"
    out = qkv_convert(fixture(name), tmp_path / "out.qkv", "--dtype", dtype)
    _, ref_tensors = read_h5(fixture(name))
    _, tensors = read_qkv_plain(out)
    assert_same_tensors(tensors, ref_tensors)
