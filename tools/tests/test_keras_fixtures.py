"""Check Fixtures/keras/ (written by tools/fixtures_keras.py).

- Each tf_model.h5 follows the legacy Keras HDF5 layout as Keras 2's save_weights_to_hdf5_group
  writes it: root attributes layer_names, backend, keras_version; one group per layer holding the
  attribute weight_names (whole, or in chunks weight_names0, 1, ... each within the header limit)
  that lists exactly the datasets below it; top_level_model_weights with an empty list; variable
  names "<keras model name>/<main layer>/...:0".
- Turning every variable back into PyTorch's name and layout with Hugging Face's TF -> PyTorch rule,
  implemented here with regular expressions (as transformers does, independently of the generator's
  tables and of the Swift reader), gives the Hugging Face folder's state dict bit for bit, buffers
  aside; expected.json's CRC-32s are those of Fixtures/expected.json.
- The folders carry the Hugging Face folder's other files unchanged.
- The bad corpus: the manifest lists exactly the files and names real Swift error cases; a small
  strict reader written here finds exactly the manifest's problem in each file and none in the good
  files.
- Regenerating into a temporary folder gives byte-identical files.

If these fail after editing tools/fixtures_keras.py, regenerate with
`python3 tools/make_fixtures.py` (or `python3 tools/fixtures_keras.py`) and re-run.
"""

import json
import os
import re
import shutil
import zlib

import h5py
import numpy as np
import pytest
from safetensors.numpy import load_file

import fixtures_keras

FIXTURES = fixtures_keras.DEFAULT_OUT
KERAS = os.path.join(FIXTURES, "keras")
BAD = os.path.join(KERAS, "bad")
REPO_ROOT = os.path.dirname(FIXTURES)
SWIFT_ERRORS = [os.path.join(REPO_ROOT, "Sources", "QKVSchema", "Import", "ImportError.swift"),
                os.path.join(REPO_ROOT, "Sources", "QKVFormat", "HDF5", "HDF5Error.swift")]

with open(os.path.join(KERAS, "expected.json"), encoding="utf-8") as _f:
    EXPECTED = json.load(_f)

MODEL_NAMES = {"TFBertModel": "tf_bert_model", "TFGPT2LMHeadModel": "tfgpt2lm_head_model"}
BUFFERS = {"embeddings.position_ids"}


def decode(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def read_list(obj, name):
    """Keras' load_attributes_from_hdf5_group; None when neither the list nor a chunk is there."""
    if name in obj.attrs:
        return [decode(x) for x in obj.attrs[name]]
    out, chunk = [], 0
    while "%s%d" % (name, chunk) in obj.attrs:
        out += [decode(x) for x in obj.attrs["%s%d" % (name, chunk)]]
        chunk += 1
    return out if chunk else None


def datasets_below(group):
    found = {}
    group.visititems(lambda name, obj: found.__setitem__(name, obj) if isinstance(obj, h5py.Dataset) else None)
    return found


def pt_name(tf_name):
    """transformers' convert_tf_weight_name_to_pt_weight_name, for Dense/LayerNorm/Embedding variables:
    (pytorch name, transpose?) or None when the name has no plain PyTorch form."""
    name = tf_name.replace(":0", "")
    name = re.sub(r"/[^/]*___([^/]*)/", r"/\1/", name)
    name = name.replace("_._", "/")
    name = re.sub(r"//+", "/", name)
    levels = name.split("/")
    if len(levels) > 1:
        levels = levels[1:]
    if any(not level or ":" in level for level in levels) or {"emb_projs", "out_projs"} & set(levels):
        return None
    if levels[-1] in ("pointwise_kernel", "depthwise_kernel"):
        return None
    transpose = levels[-1] == "kernel"
    if levels[-1] in ("kernel", "embeddings", "gamma"):
        levels[-1] = "weight"
    elif levels[-1] == "beta":
        levels[-1] = "bias"
    return ".".join(levels), transpose


def to_pytorch(tf_name, value, pytorch_names):
    """A variable as Hugging Face loads it into PyTorch: renamed, the main layer's prefix removed when
    the PyTorch model has none (start_prefix_to_remove), kernels transposed, shapes squeezed."""
    name, transpose = pt_name(tf_name)
    prefix = name.split(".")[0] + "."
    if not any(n.startswith(prefix) for n in pytorch_names):
        name = name[len(prefix):]
    if transpose:
        value = value.T
    if value.ndim == 2 and value.shape[0] == 1 and name.endswith(".bias"):
        value = value.reshape(-1)
    return name, np.ascontiguousarray(value)


def problem(path):
    """A strict reader of the layout: the first (error, object) it finds, or None."""
    with h5py.File(path, "r") as f:
        layers = read_list(f, "layer_names")
        if layers is None:
            return "ImportError.notACheckpoint", "/"
        groups = layers + ([fixtures_keras.TOP_LEVEL_GROUP] if fixtures_keras.TOP_LEVEL_GROUP in f else [])
        seen, unmapped = {}, []
        for layer in groups:
            if layer not in f:
                return "HDF5Error.badGroupStructure", "/" + layer
            if not isinstance(f[layer], h5py.Group):
                return "HDF5Error.badGroupStructure", "/" + layer
            weights = read_list(f[layer], "weight_names")
            if weights is None:
                return "HDF5Error.badGroupStructure", "/" + layer
            stored = datasets_below(f[layer])
            for weight in weights:
                obj = "/%s/%s" % (layer, weight)
                if weight not in stored:
                    return "ImportError.missingSourceTensor", obj
                mapped = pt_name(weight)
                stored_dataset = stored.pop(weight)
                if mapped is None or (mapped[1] and stored_dataset.ndim != 2):
                    unmapped.append(obj)
                    continue
                if mapped[0] in seen:
                    return "HDF5Error.badGroupStructure", obj
                seen[mapped[0]] = obj
            if stored:
                return "HDF5Error.badGroupStructure", "/%s/%s" % (layer, sorted(stored)[0])
        for name in f:
            if name not in groups:
                return "HDF5Error.badGroupStructure", "/" + name
        if unmapped:
            return "ImportError.unmappedTensors", unmapped[0]
    return None


@pytest.mark.parametrize("file", sorted(EXPECTED))
def test_layout_is_keras_legacy_hdf5(file):
    record = EXPECTED[file]
    model = MODEL_NAMES[record["model_class"]]
    with h5py.File(os.path.join(KERAS, file), "r") as f:
        assert read_list(f, "layer_names") == record["layer_names"]
        assert decode(f.attrs["backend"]) == "tensorflow"
        assert decode(f.attrs["keras_version"]).startswith("2.")
        assert set(f) == set(record["layer_names"]) | {"top_level_model_weights"}
        top = f["top_level_model_weights"]
        assert top.attrs["weight_names"].shape == (0,) and len(top) == 0
        for layer in record["layer_names"]:
            group = f[layer]
            names = read_list(group, "weight_names")
            assert names == [w["tf"] for w in record["weights"]]
            assert set(datasets_below(group)) == set(names)
            for name in names:
                levels = name.split("/")
                assert levels[0] == model and levels[1] == layer and name.endswith(":0"), name
                assert group[name].dtype == np.float32 and group[name].shape == tuple(
                    next(w["shape"] for w in record["weights"] if w["tf"] == name))
            limit = record["header_limit"]
            if "weight_names" in group.attrs:
                # h5py 3 stores Keras' list of bytes as variable-length strings.
                assert h5py.check_string_dtype(group.attrs.get_id("weight_names").dtype).length is None
                assert np.asarray([n.encode() for n in names]).nbytes <= limit
            else:
                chunks = sorted(k for k in group.attrs if k.startswith("weight_names"))
                assert len(chunks) > 1 and chunks == ["weight_names%d" % i for i in range(len(chunks))]
                for chunk in chunks:
                    array = group.attrs[chunk]
                    assert array.dtype.kind == "S" and array.nbytes <= limit
                # np.array_split's sizes: the fewest parts that fit, as equal as possible.
                sizes = [len(group.attrs[c]) for c in chunks]
                assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


def test_chunked_fixture_lists_the_same_weights():
    def names(file):
        with h5py.File(os.path.join(KERAS, file), "r") as f:
            return read_list(f["bert"], "weight_names")
    assert names("bert-tiny-chunked/tf_model.h5") == names("bert-tiny/tf_model.h5")
    assert EXPECTED["bert-tiny-chunked/tf_model.h5"]["header_limit"] < fixtures_keras.HDF5_OBJECT_HEADER_LIMIT


@pytest.mark.parametrize("file", sorted(EXPECTED))
def test_tf_to_pytorch_gives_the_hf_state_dict_bit_for_bit(file):
    record = EXPECTED[file]
    folder = os.path.join(FIXTURES, record["source_folder"])
    state = load_file(os.path.join(folder, "model.safetensors"))
    got = {}
    with h5py.File(os.path.join(KERAS, file), "r") as f:
        for layer in read_list(f, "layer_names"):
            for weight in read_list(f[layer], "weight_names"):
                name, value = to_pytorch(weight, f[layer][weight][()], state)
                assert name not in got, name
                got[name] = value
    assert set(got) == set(state) - BUFFERS
    for name, value in got.items():
        want = state[name]
        assert value.dtype == want.dtype and value.shape == want.shape, name
        assert value.tobytes() == np.ascontiguousarray(want).tobytes(), name
    assert [w["pytorch"] for w in record["weights"]] == [n for n in got]


@pytest.mark.parametrize("file", sorted(EXPECTED))
def test_expected_crcs_are_the_canonical_fixtures(file):
    record = EXPECTED[file]
    with open(os.path.join(FIXTURES, "expected.json"), encoding="utf-8") as f:
        canonical = json.load(f)[record["source_fixture"]]["tensors"]
    assert set(record["tensors"]) == set(canonical)
    for name, entry in record["tensors"].items():
        assert entry["crc32"] == canonical[name]["crc32"] and entry["shape"] == canonical[name]["shape"], name
    # And the CRC-32 of the canonical fixture's own bytes, read with h5py.
    with h5py.File(os.path.join(FIXTURES, record["source_fixture"]), "r") as f:
        for name, entry in record["tensors"].items():
            assert zlib.crc32(np.ascontiguousarray(f[name][()]).tobytes()) == entry["crc32"], name


@pytest.mark.parametrize("file", sorted(EXPECTED))
def test_folder_files_are_the_hf_folders(file):
    folder = os.path.join(KERAS, os.path.dirname(file))
    source = os.path.join(FIXTURES, EXPECTED[file]["source_folder"])
    def files(root, skip):
        out = set()
        for dirpath, _, names in os.walk(root):
            out |= {os.path.relpath(os.path.join(dirpath, n), root) for n in names if not skip(n)}
        return out
    ours = files(folder, lambda n: n == "tf_model.h5")
    theirs = files(source, lambda n: n.endswith(".safetensors"))
    assert ours == theirs and "config.json" in ours
    for name in ours:
        with open(os.path.join(folder, name), "rb") as a, open(os.path.join(source, name), "rb") as b:
            assert a.read() == b.read(), name


def test_good_files_have_no_problem():
    for file in EXPECTED:
        assert problem(os.path.join(KERAS, file)) is None, file


def test_bad_files_have_exactly_their_manifest_problem():
    with open(os.path.join(BAD, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    assert set(manifest) == {n for n in os.listdir(BAD) if n.endswith(".h5")}
    cases = set()
    for path in SWIFT_ERRORS:
        enum = os.path.basename(path)[:-len(".swift")]
        with open(path, encoding="utf-8") as f:
            cases |= {"%s.%s" % (enum, c) for c in re.findall(r"^\s*case (\w+)\(", f.read(), re.M)}
    for name, entry in sorted(manifest.items()):
        assert entry["error"] in cases, (name, entry["error"])
        assert problem(os.path.join(BAD, name)) == (entry["error"], entry["object"]), name


def test_regenerating_gives_identical_files(tmp_path):
    out = str(tmp_path)
    shutil.copyfile(os.path.join(FIXTURES, "expected.json"), os.path.join(out, "expected.json"))
    shutil.copytree(os.path.join(FIXTURES, "hf"), os.path.join(out, "hf"))
    fixtures_keras.write_all(out, quiet=True)
    for dirpath, _, names in os.walk(os.path.join(out, "keras")):
        for name in names:
            fresh = os.path.join(dirpath, name)
            committed = os.path.join(KERAS, os.path.relpath(fresh, os.path.join(out, "keras")))
            with open(fresh, "rb") as a, open(committed, "rb") as b:
                assert a.read() == b.read(), committed
