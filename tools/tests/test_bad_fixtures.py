"""Check Fixtures/bad-hdf5/ (written by tools/make_fixtures.py): each file is
the valid base model (make_fixtures.bad_base_model()) with exactly the one
change its manifest entry states, checked with h5py alone; and the qkv
binary rejects each one.

The h5py checks describe every link, group, attribute and dataset of a file,
diff that against a freshly written base file, and require the diff to be
exactly the stated change. truncated.h5, which h5py cannot open, is checked
from its bytes.

If these fail after editing tools/make_fixtures.py, regenerate with
`python3 tools/make_fixtures.py` and re-run.
"""

import json
import os
import re
import struct
import subprocess

import h5py
import numpy as np
import pytest

import make_fixtures as mf
from h5ref import attr_hdf5_type

BAD = os.path.join(mf.DEFAULT_OUT, mf.BAD_DIR)
REPO_ROOT = os.path.dirname(mf.DEFAULT_OUT)
CASES = [case[0] for case in mf.BAD_CASES]
ABSENT = None


def bad(name):
    path = os.path.join(BAD, name)
    if not os.path.exists(path):
        pytest.fail("%s is missing: run `python3 tools/make_fixtures.py`" % path, pytrace=False)
    return path


@pytest.fixture(scope="module")
def manifest():
    with open(bad(mf.BAD_MANIFEST), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def base_path(tmp_path_factory):
    """The valid base model, written the way every bad file starts."""
    path = str(tmp_path_factory.mktemp("bad-base") / "base.h5")
    model = mf.bad_base_model()
    mf.write_h5(path, model, mf.make_weights(model), "f32")
    return path


# ---------------------------------------------------------------------------
# Describing a file with h5py, and diffing two descriptions
# ---------------------------------------------------------------------------

class Attr:
    """An attribute: its exact HDF5 type, shape and value."""

    def __init__(self, obj, name):
        self.type = attr_hdf5_type(obj, name)
        value = obj.attrs[name]
        self.shape = np.shape(value)
        if isinstance(value, bytes):
            value = value.decode()
        self.value = value.tolist() if isinstance(value, np.ndarray) else value

    def __eq__(self, other):
        return isinstance(other, Attr) and (self.type, self.shape, self.value) == \
            (other.type, other.shape, other.value)

    def __repr__(self):
        return "Attr(%r, shape %r, %r)" % (self.type, self.shape, self.value)


class Data:
    """A dataset: numpy dtype, shape, storage, raw bytes, and which other
    paths name the same object (hard links)."""

    def __init__(self, ds):
        self.dtype = ds.dtype
        self.shape = ds.shape
        self.contiguous = ds.chunks is None and ds.compression is None
        self.array = ds[()]
        # Raw bytes to compare (so NaN and -0.0 count); vlen strings by value.
        self.content = self.array.tolist() if self.dtype.kind == "O" else self.array.tobytes()
        self.refcount = h5py.h5o.get_info(ds.id).rc
        self.aliases = ()

    def __eq__(self, other):
        return isinstance(other, Data) and (self.dtype, self.shape, self.contiguous,
                                            self.refcount, self.aliases) == \
            (other.dtype, other.shape, other.contiguous, other.refcount, other.aliases) and \
            self.content == other.content

    def __repr__(self):
        return "Data(%s, %r, refcount %d, aliases %r)" % (self.dtype, self.shape, self.refcount,
                                                          self.aliases)


def describe(path):
    """{key: description} of everything in a file. Keys:
    ("attr", group_path, name), ("group", path), ("dataset", path),
    ("soft", path) -> target, ("external", path) -> (file, object)."""
    out = {}
    objects = {}

    def attrs(obj, path):
        for name in obj.attrs:
            out[("attr", path, name)] = Attr(obj, name)

    def walk(group, path):
        for name in group:
            child = path.rstrip("/") + "/" + name
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.SoftLink):
                out[("soft", child)] = link.path
            elif isinstance(link, h5py.ExternalLink):
                out[("external", child)] = (link.filename, link.path)
            else:
                obj = group[name]
                objects.setdefault(obj.id, []).append(child)
                attrs(obj, child)
                if isinstance(obj, h5py.Group):
                    out[("group", child)] = True
                    walk(obj, child)
                else:
                    out[("dataset", child)] = Data(obj)

    with h5py.File(path, "r") as f:
        attrs(f, "/")
        walk(f, "/")
    for paths in objects.values():
        for p in paths:
            if ("dataset", p) in out and len(paths) > 1:
                out[("dataset", p)].aliases = tuple(sorted(paths))
    return out


def diff(base_path, path):
    """{key: (in base or ABSENT, in file or ABSENT)} of what differs."""
    a, b = describe(base_path), describe(path)
    return {k: (a.get(k, ABSENT), b.get(k, ABSENT))
            for k in sorted(set(a) | set(b), key=repr) if a.get(k, ABSENT) != b.get(k, ABSENT)}


def only(d, *keys):
    assert sorted(d, key=repr) == sorted(keys, key=repr), "changes: %r" % (d,)
    return [d[k] for k in keys]


def new_tensor(d, name):
    """A tensor replaced by the bad file: same path, different dataset."""
    (old, new), = only(d, ("dataset", "/" + name))
    assert old is not ABSENT and new is not ABSENT
    return old, new


# ---------------------------------------------------------------------------
# What each file changes: one check per manifest entry
# ---------------------------------------------------------------------------

def check_notqkv(d):
    (old, new), = only(d, ("attr", "/", "qkv_format"))
    assert old.value == "qkv-hdf5" and new is ABSENT


def check_wrong_format_name(d):
    (old, new), = only(d, ("attr", "/", "qkv_format"))
    assert old.value == "qkv-hdf5" and new.value == "something-else" and new.type == old.type


def check_version_2(d):
    (old, new), = only(d, ("attr", "/", "qkv_format_version"))
    assert old.value == 1 and new.value == 2 and new.type == old.type == ("int", 8, True, True)


def check_bf16_without_dtype(d):
    name = "/layers/0/attn_norm/weight"
    (old, new), (old_attr, new_attr) = only(d, ("dataset", name), ("attr", name, "dtype"))
    assert old.dtype == np.dtype("<f4") and new.dtype == np.dtype("<u2")
    assert np.array_equal(new.array, mf.f32_to_bf16_bits(old.array))
    assert old_attr.value == "f32" and new_attr is ABSENT


def check_dtype_attribute_mismatch(d):
    name = "/layers/1/mlp_norm/weight"
    (old, new), = only(d, ("attr", name, "dtype"))
    assert old.value == "f32" and new.value == "f16" and new.type == old.type


def check_compound_tensor(d):
    name = "/final_norm/weight"
    (old, new), (old_attr, new_attr) = only(d, ("dataset", name), ("attr", name, "dtype"))
    assert new.dtype.names == ("re", "im") and new.shape == old.shape
    assert np.array_equal(new.array["re"], old.array) and not new.array["im"].any()
    assert old_attr.value == "f32" and new_attr is ABSENT


def check_uint32_tensor(d):
    name = "/layers/0/mlp/down/weight"
    (old, new), (old_attr, new_attr) = only(d, ("dataset", name), ("attr", name, "dtype"))
    assert new.dtype == np.dtype("<u4") and new.array.tobytes() == old.array.tobytes()
    assert old_attr.value == "f32" and new_attr is ABSENT


def check_link(d, kind, target):
    name = "/lm_head/weight"
    (old_data, new_data), (old_attr, new_attr), (old_link, new_link) = only(
        d, ("dataset", name), ("attr", name, "dtype"), (kind, name))
    assert old_data is not ABSENT and new_data is ABSENT and old_attr.value == "f32"
    assert new_attr is ABSENT and old_link is ABSENT and new_link == target


def check_soft_link(d):
    check_link(d, "soft", "/embed/token/weight")


def check_external_link(d):
    check_link(d, "external", ("lm-head.h5", "/lm_head/weight"))


def check_hardlink_alias(d):
    (old_head, new_head), (old_embed, new_embed) = only(
        d, ("dataset", "/lm_head/weight"), ("dataset", "/embed/token/weight"))
    aliases = ("/embed/token/weight", "/lm_head/weight")
    assert new_head.aliases == new_embed.aliases == aliases and new_head.refcount == 2
    assert old_head.refcount == old_embed.refcount == 1
    assert new_head.array.tobytes() == old_embed.array.tobytes() == new_embed.array.tobytes()


def check_group_in_config(d):
    (old, new), = only(d, ("group", "/config/nested"))
    assert old is ABSENT and new is True


def check_metadata_array_attribute(d):
    (old, new), = only(d, ("attr", "/config", "head_count"))
    assert old.shape == () and old.value == 4
    assert new.shape == (1,) and new.value == [4] and new.type == old.type


def check_metadata_2d_dataset(d):
    old, new = new_tensor(d, "tokenizer/scores")
    assert old.shape == (24,) and new.shape == (24, 1) and new.dtype == old.dtype
    assert new.array.tobytes() == old.array.tobytes()


def check_bool_is_2(d):
    (old, new), = only(d, ("attr", "/config", "gated_mlp"))
    assert old.type == ("bool",) and bool(old.value) is True
    assert new.type == ("int", 8, True, True) and new.value == 2


def check_stray_tensor(d):
    name = "/" + mf.BAD_STRAY_TENSOR
    (old, new), (old_attr, new_attr), (old_group, new_group) = only(
        d, ("dataset", name), ("attr", name, "dtype"), ("group", "/layers/0/attn/extra"))
    assert old is ABSENT and new.shape == (8, 32) and new.dtype == np.dtype("<f4")
    assert old_attr is ABSENT and new_attr.value == "f32"
    assert old_group is ABSENT and new_group is True


def check_missing_tensor(d):
    name = "/" + mf.BAD_MISSING_TENSOR
    (old, new), (old_attr, new_attr), (old_group, new_group) = only(
        d, ("dataset", name), ("attr", name, "dtype"), ("group", "/layers/1/mlp/down"))
    assert old is not ABSENT and new is ABSENT and new_attr is ABSENT and new_group is ABSENT


def check_shape_mismatch(d):
    old, new = new_tensor(d, "layers/0/attn/k/weight")
    assert old.shape == (2, 8, 32) and new.shape == (4, 8, 32)
    assert np.array_equal(new.array[:2], old.array)


def check_i32_model_tensor(d):
    name = "/final_norm/weight"
    (old, new), (old_attr, new_attr) = only(d, ("dataset", name), ("attr", name, "dtype"))
    assert new.dtype == np.dtype("<i4") and new.shape == old.shape and np.all(new.array == 1)
    assert old_attr.value == "f32" and new_attr.value == "i32"


def check_nan_tensor(d):
    old, new = new_tensor(d, mf.BAD_NAN_TENSOR)
    assert new.dtype == old.dtype and new.shape == old.shape
    changed = np.argwhere(old.array.view("<u4") != new.array.view("<u4")).tolist()
    assert changed == [list(mf.BAD_NAN_INDEX)] and np.isnan(new.array[mf.BAD_NAN_INDEX])


def check_missing_config_key(d):
    (old, new), = only(d, ("attr", "/config", "head_dim"))
    assert old.value == 8 and new is ABSENT


def check_kv_heads_not_dividing(d):
    keys = [("attr", "/config", "kv_head_count")] + [
        ("dataset", "/layers/%d/attn/%s/weight" % (i, kv)) for i in (0, 1) for kv in "kv"]
    changes = only(d, *keys)
    (old, new) = changes[0]
    assert old.value == 2 and new.value == 3 and new.type == old.type
    for old, new in changes[1:]:
        assert old.shape == (2, 8, 32) and new.shape == (3, 8, 32)
        assert np.array_equal(new.array[:2], old.array)


def check_unknown_config_key(d):
    (old, new), = only(d, ("attr", "/config", "frobnicate"))
    assert old is ABSENT and new.value == 1


def check_scores_length(d):
    old, new = new_tensor(d, "tokenizer/scores")
    assert old.shape == (24,) and new.shape == (23,)
    assert np.array_equal(new.array, old.array[:-1])


def check_special_token_out_of_range(d):
    (old, new), = only(d, ("attr", "/config", "bos_token_id"))
    assert old.value == 1 and new.value == 24 and new.type == old.type


def check_tokenizer_unbuildable(d):
    (old, new), = only(d, ("attr", "/tokenizer", "normalization"))
    assert old is ABSENT and new.value == "nfkc"


CHECKS = {
    "notqkv.h5": check_notqkv,
    "wrong-format-name.h5": check_wrong_format_name,
    "version-2.h5": check_version_2,
    "bf16-without-dtype.h5": check_bf16_without_dtype,
    "dtype-attribute-mismatch.h5": check_dtype_attribute_mismatch,
    "compound-tensor.h5": check_compound_tensor,
    "uint32-tensor.h5": check_uint32_tensor,
    "soft-link.h5": check_soft_link,
    "external-link.h5": check_external_link,
    "hardlink-alias.h5": check_hardlink_alias,
    "group-in-config.h5": check_group_in_config,
    "metadata-array-attribute.h5": check_metadata_array_attribute,
    "metadata-2d-dataset.h5": check_metadata_2d_dataset,
    "bool-is-2.h5": check_bool_is_2,
    "stray-tensor.h5": check_stray_tensor,
    "missing-tensor.h5": check_missing_tensor,
    "shape-mismatch.h5": check_shape_mismatch,
    "i32-model-tensor.h5": check_i32_model_tensor,
    "nan-tensor.h5": check_nan_tensor,
    "missing-config-key.h5": check_missing_config_key,
    "kv-heads-not-dividing.h5": check_kv_heads_not_dividing,
    "unknown-config-key.h5": check_unknown_config_key,
    "scores-length.h5": check_scores_length,
    "special-token-out-of-range.h5": check_special_token_out_of_range,
    "tokenizer-unbuildable.h5": check_tokenizer_unbuildable,
}
UNOPENABLE = ["truncated.h5"]


# ---------------------------------------------------------------------------
# The manifest and the folder
# ---------------------------------------------------------------------------

def test_manifest_lists_exactly_the_folder(manifest):
    files = sorted(n for n in os.listdir(BAD) if n != mf.BAD_MANIFEST)
    assert sorted(manifest) == files
    assert manifest == mf.bad_manifest(), "manifest.json is stale: run tools/make_fixtures.py"
    assert sorted(list(CHECKS) + UNOPENABLE) == sorted(CASES)     # every file is checked


def test_manifest_entries(manifest):
    for name, entry in manifest.items():
        assert name.endswith(".h5")
        assert set(entry) <= {"error", "why", "deep"} and {"error", "why"} <= set(entry), name
        assert re.fullmatch(r"(HDF5Error|ModelError|TokenizerError)\.[a-z][A-Za-z0-9]*", entry["error"]), name
        assert entry["why"] and "\n" not in entry["why"], name
        assert entry.get("deep", True) is True, name
    assert [n for n, e in manifest.items() if e.get("deep")] == ["nan-tensor.h5"]


@pytest.mark.parametrize("name", CASES)
def test_size(name):
    # 40 KB is out of reach: the attention weights alone (H=4, K=2, d=8, D=32,
    # 2 layers, f32) are 24 KiB, and libhdf5's object headers about 20 KiB.
    assert os.path.getsize(bad(name)) < 64 * 1024


def test_base_is_valid(base_path):
    """The base, written by the same code, follows the schema's tensor table."""
    with h5py.File(base_path, "r") as f:
        config = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f["config"].attrs.items()}
        config = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in config.items()}
        want = mf.expected_tensors(config)
        got = []
        f.visititems(lambda n, o: got.append(n) if isinstance(o, h5py.Dataset)
                     and n.split("/")[0] not in ("config", "tokenizer", "provenance", "user") else None)
        assert sorted(got) == sorted(n for n, _, _ in want)
        for n, shape, _ in want:
            assert f[n].shape == shape and np.all(np.isfinite(f[n][()]))
        assert len(f["tokenizer/tokens"]) == 24 and config["vocab_size"] == 28


# ---------------------------------------------------------------------------
# Each file differs from the base exactly as stated
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CHECKS))
def test_differs_from_base_as_stated(name, base_path):
    CHECKS[name](diff(base_path, bad(name)))


def test_truncated_is_the_first_half(base_path):
    with open(bad("truncated.h5"), "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89HDF\r\n\x1a\n"
    # Superblock v2/v3: signature, version, offset/length sizes, flags, then
    # base, extension and end-of-file addresses (8 bytes each).
    assert data[8] in (2, 3) and data[9] == 8
    stored_eof = struct.unpack_from("<Q", data, 28)[0]
    assert len(data) == stored_eof // 2
    with open(base_path, "rb") as f:
        base = f.read()
    assert stored_eof == len(base)          # the base's size, whatever the library version
    with pytest.raises(OSError):
        h5py.File(bad("truncated.h5"), "r")


def test_generator_is_deterministic(tmp_path):
    """Two runs give byte-identical files, with the same content as the
    committed ones (bytes may differ with another h5py/libhdf5)."""
    mf.write_bad_fixtures(str(tmp_path / "a"))
    mf.write_bad_fixtures(str(tmp_path / "b"))
    for name in CASES + [mf.BAD_MANIFEST]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for name in CHECKS:
        assert describe(str(tmp_path / "a" / name)) == describe(bad(name)), \
            "%s is stale: run tools/make_fixtures.py" % name


# ---------------------------------------------------------------------------
# The qkv binary rejects each file, for the stated reason
# ---------------------------------------------------------------------------

# A phrase of the binary's message for each error case (the messages of
# HDF5Error and ModelError), so that a file rejected for another reason fails.
MESSAGES = {
    "HDF5Error.libraryCall": r"libhdf5 \w+ failed",
    "HDF5Error.notQKVLayout": r"not in the qkv layout",
    "HDF5Error.unsupportedVersion": r"layout version \d+ is not supported",
    "HDF5Error.unsupportedType": r"has HDF5 type .* which the qkv layout does not use",
    "HDF5Error.badMetadataShape": r"has rank \d+",
    "HDF5Error.invalidBool": r"is \d+, expected 0 or 1",
    "HDF5Error.dtypeAttributeMismatch": r"has dtype attribute .* but is stored as",
    "HDF5Error.unsupportedLink": r"uses only hard links",
    "HDF5Error.badGroupStructure": r"'[^']+': ",
    "ModelError.missingKey": r"is required but missing",
    "ModelError.unknownKey": r"is not defined by the schema",
    "ModelError.invalidValue": r"is invalid",
    "ModelError.missingTensor": r"is required by the config but missing",
    "ModelError.unexpectedTensor": r"stray tensor",
    "ModelError.shapeMismatch": r"has shape \[4, 8, 32\], expected \[2, 8, 32\]",
    "ModelError.dtypeNotAllowed": r"has dtype i32",
    "ModelError.tokenizerArrayLength": r"has 23 entries, expected 24",
    "ModelError.tokenIdOutOfRange": r"is not a token id",
    "ModelError.nonFiniteValue": r"holds nan",
    "TokenizerError.invalidOption": r"tokenizer option '[\w.]+' = .* is invalid",
}

# What each message must name: the object or key at fault.
NAMES = {
    "notqkv.h5": "qkv_format", "wrong-format-name.h5": "something-else",
    "version-2.h5": "version 2", "bf16-without-dtype.h5": "layers/0/attn_norm/weight",
    "dtype-attribute-mismatch.h5": "layers/1/mlp_norm/weight",
    "compound-tensor.h5": "final_norm/weight", "uint32-tensor.h5": "layers/0/mlp/down/weight",
    "soft-link.h5": "lm_head/weight", "external-link.h5": "lm_head/weight",
    "hardlink-alias.h5": "weight", "group-in-config.h5": "config/nested",
    "metadata-array-attribute.h5": "head_count", "metadata-2d-dataset.h5": "tokenizer/scores",
    "bool-is-2.h5": "gated_mlp", "truncated.h5": "truncated.h5",
    "stray-tensor.h5": mf.BAD_STRAY_TENSOR, "missing-tensor.h5": mf.BAD_MISSING_TENSOR,
    "shape-mismatch.h5": "layers/0/attn/k/weight", "i32-model-tensor.h5": "final_norm/weight",
    "nan-tensor.h5": mf.BAD_NAN_TENSOR, "missing-config-key.h5": "head_dim",
    "kv-heads-not-dividing.h5": "kv_head_count", "unknown-config-key.h5": "frobnicate",
    "scores-length.h5": "scores", "special-token-out-of-range.h5": "bos_token_id",
    "tokenizer-unbuildable.h5": "tokenizer.normalization",
}


def qkv_binary():
    path = os.environ.get("QKV_BIN") or os.path.join(REPO_ROOT, ".build", "debug", "qkv")
    path = os.path.abspath(path)
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail("qkv binary missing: %s is not an executable file. Build it with "
                    "`swift build` in %s, or point QKV_BIN at it." % (path, REPO_ROOT),
                    pytrace=False)
    return path


def qkv_validate(path, deep):
    command = [qkv_binary(), "validate", str(path)] + (["--deep"] if deep else [])
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_binary_accepts_the_base(base_path):
    result = qkv_validate(base_path, deep=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", CASES)
def test_binary_rejects(name, manifest):
    entry = manifest[name]
    result = qkv_validate(bad(name), deep=entry.get("deep", False))
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    problems = [line[4:] for line in result.stdout.splitlines() if line.startswith("  - ")]
    assert len(problems) == 1, output        # one rule broken, one problem
    assert re.search(MESSAGES[entry["error"]], problems[0]), (entry["error"], problems[0])
    assert NAMES[name] in problems[0], problems[0]


def test_nan_is_found_only_by_deep():
    result = qkv_validate(bad("nan-tensor.h5"), deep=False)
    assert result.returncode == 0, result.stdout + result.stderr
