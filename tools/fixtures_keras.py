#!/usr/bin/env python3
"""Keras fixtures: Hugging Face TensorFlow checkpoints in the legacy Keras HDF5 format.

`TFBertModel.save_pretrained` / `save_weights("tf_model.h5")` (transformers' TF models on Keras 2,
i.e. tf.keras / tf-keras) write the legacy Keras HDF5 weights file. This script writes that layout
with h5py and numpy only, from the Hugging Face folders of tools/fixtures_hf.py, so that qkv's Keras
reader (Sources/QKVFormat/Import/KerasH5.swift) can be checked against files it shares no code with.

The layout, as Keras 2's `save_weights_to_hdf5_group` writes it (keras/saving/legacy/hdf5_format.py):

    /                         attrs: layer_names  = the model's top-level layers' names (bytes list)
                                     backend      = b"tensorflow"
                                     keras_version = b"2.x.y"
    /<layer>/                 one group per top-level layer (sorted by name), attr weight_names =
                              the layer's variables' names (bytes list), trainable then non-trainable,
                              in tracking order
    /<layer>/<weight name>    one dataset per variable, at the variable's own name, which contains
                              slashes, so h5py makes the groups: /bert/tf_bert_model/bert/embeddings/
                              word_embeddings/weight:0
    /top_level_model_weights/ (Keras >= 2.7) the model's own variables: none for transformers' models,
                              so an empty weight_names (numpy's float64 [] for an empty list)

A list attribute whose numpy form is larger than HDF5_OBJECT_HEADER_LIMIT (64,512 bytes) is stored in
chunks `name0`, `name1`, ... (np.array_split into the fewest equal-as-possible parts that each fit).
h5py 3 stores a Python list of bytes as variable-length strings and a numpy `S` array (a chunk) as
fixed-length strings, so real files have either.

A transformers TF model is a Keras model named after its class (Keras' to_snake_case: TFBertModel ->
tf_bert_model, TFGPT2LMHeadModel -> tfgpt2lm_head_model) holding one main layer (`bert`,
`transformer`), so variables are named `<model>/<main layer>/<path>:0`, lists of layers as `layer_._3`.
Dense kernels are [in, out] (PyTorch's Linear is [out, in]); LayerNormalization has gamma/beta;
Embedding layers have `embeddings`, BERT's word embeddings are a plain `weight`; GPT-2's TFConv1D keeps
PyTorch Conv1D's [in, out] weight and has a [1, out] bias.

Usage (after fixtures_hf.py; make_fixtures.py calls write_all() itself):

    python3 tools/fixtures_keras.py [--out DIR]     # DIR defaults to <repo>/Fixtures

It writes, under DIR/keras/:

    bert-tiny/tf_model.h5          hf/bert-tiny as TFBertModel saves it, with every other file of
                                   hf/bert-tiny (config.json, tokenizer, sentence-transformers files)
    gpt2-tiny/tf_model.h5          hf/gpt2-tiny-lmhead as TFGPT2LMHeadModel saves it (the LM head is
                                   tied to wte, so it has no variable), with that folder's other files
    bert-tiny-chunked/tf_model.h5  bert-tiny with the header limit lowered to 1,024 bytes, so its
                                   weight_names is stored in chunks weight_names0, weight_names1, ...
                                   exactly as Keras splits a list over 64,512 bytes
    expected.json                  per file: source folder, layer names, every variable (TF name, the
                                   PyTorch name, shape, transform) and every canonical tensor's CRC-32
                                   (the values of Fixtures/expected.json for the source fixture)
    bad/*.h5 + manifest.json       bert-tiny's embeddings and first query (a subset: each file is
                                   refused before any tensor is looked for) with one rule broken
                                   each; manifest maps file ->
                                   {"error": "<Type>.<case>", "object": ..., "why": ...}

Differences from a file Keras writes: datasets are created with track_times=False (no timestamps), so
the output is deterministic; nothing else.
"""

import argparse
import json
import os
import shutil
import sys
import zlib

import h5py
import numpy as np

try:
    from safetensors.numpy import load_file
except ImportError:                 # pragma: no cover
    sys.exit("tools/fixtures_keras.py needs the safetensors package: pip install safetensors")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "Fixtures")

KERAS_DIR = "keras"
BAD_DIR = "bad"
MANIFEST = "manifest.json"
WEIGHTS_FILE = "tf_model.h5"

# keras/saving/legacy/hdf5_format.py (Keras 2) and keras/src/legacy/saving/legacy_h5_format.py (Keras 3).
HDF5_OBJECT_HEADER_LIMIT = 64512
# The chunked fixture's limit: small enough that bert-tiny's weight_names needs several chunks.
CHUNKED_FIXTURE_LIMIT = 1024
BACKEND = "tensorflow"
KERAS_VERSION = "2.15.0"            # tf-keras 2.15: the Keras 2 that transformers' last TF models ran on
TOP_LEVEL_GROUP = "top_level_model_weights"

# (folder written, HF folder read, canonical fixture, Keras model class, main layer name)
MODELS = [
    ("bert-tiny", "bert-tiny", "bert-tiny.h5", "TFBertModel", "bert"),
    ("gpt2-tiny", "gpt2-tiny-lmhead", "gpt2-tiny.h5", "TFGPT2LMHeadModel", "transformer"),
]


def keras_snake_case(name):
    """Keras 2's generic_utils.to_snake_case: the default name of a model of class `name`."""
    import re
    intermediate = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    insecure = re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()
    return insecure if insecure[0] != "_" else "private" + insecure


def crc32(array):
    return zlib.crc32(np.ascontiguousarray(array).tobytes())


# ---------------------------------------------------------------------------
# PyTorch state dict -> the TF model's variables, in Keras' order
# ---------------------------------------------------------------------------
#
# Each function lists the main layer's variables as (tf_path, pytorch_name, kind) in the order
# `layer.trainable_weights` gives them: a layer's own variables first (in creation order), then its
# sublayers' in the order they were assigned in __init__. tf_path is below "<model>/<main layer>/";
# kind is "copy", "kernel" (Dense: the PyTorch weight transposed) or "conv1d_bias" ([n] -> [1, n]).


def bert_variables(config):
    """transformers' modeling_tf_bert.py: TFBertMainLayer(embeddings, encoder, pooler)."""
    out = []

    def dense(tf, pt):
        out.append((tf + "/kernel", pt + ".weight", "kernel"))
        out.append((tf + "/bias", pt + ".bias", "copy"))

    def layer_norm(tf, pt):
        out.append((tf + "/gamma", pt + ".weight", "copy"))
        out.append((tf + "/beta", pt + ".bias", "copy"))

    # TFBertEmbeddings.build: its own three variables, then the LayerNorm sublayer.
    out.append(("embeddings/word_embeddings/weight", "embeddings.word_embeddings.weight", "copy"))
    out.append(("embeddings/token_type_embeddings/embeddings", "embeddings.token_type_embeddings.weight", "copy"))
    out.append(("embeddings/position_embeddings/embeddings", "embeddings.position_embeddings.weight", "copy"))
    layer_norm("embeddings/LayerNorm", "embeddings.LayerNorm")
    for i in range(config["num_hidden_layers"]):
        tf, pt = "encoder/layer_._%d/" % i, "encoder.layer.%d." % i
        for name in ("query", "key", "value"):
            dense(tf + "attention/self/" + name, pt + "attention.self." + name)
        dense(tf + "attention/output/dense", pt + "attention.output.dense")
        layer_norm(tf + "attention/output/LayerNorm", pt + "attention.output.LayerNorm")
        dense(tf + "intermediate/dense", pt + "intermediate.dense")
        dense(tf + "output/dense", pt + "output.dense")
        layer_norm(tf + "output/LayerNorm", pt + "output.LayerNorm")
    dense("pooler/dense", "pooler.dense")
    return out


def gpt2_variables(config):
    """transformers' modeling_tf_gpt2.py: TFGPT2MainLayer(wte, wpe, h_._i, ln_f); TFConv1D has
    weight [in, out] (no transpose) and bias [1, out]. PyTorch names as GPT2LMHeadModel saves them."""
    out = []

    def conv1d(tf, pt):
        out.append((tf + "/weight", pt + ".weight", "copy"))
        out.append((tf + "/bias", pt + ".bias", "conv1d_bias"))

    def layer_norm(tf, pt):
        out.append((tf + "/gamma", pt + ".weight", "copy"))
        out.append((tf + "/beta", pt + ".bias", "copy"))

    out.append(("wte/embeddings", "transformer.wte.weight", "copy"))
    out.append(("wpe/embeddings", "transformer.wpe.weight", "copy"))
    for i in range(config["n_layer"]):
        tf, pt = "h_._%d/" % i, "transformer.h.%d." % i
        layer_norm(tf + "ln_1", pt + "ln_1")
        conv1d(tf + "attn/c_attn", pt + "attn.c_attn")
        conv1d(tf + "attn/c_proj", pt + "attn.c_proj")
        layer_norm(tf + "ln_2", pt + "ln_2")
        conv1d(tf + "mlp/c_fc", pt + "mlp.c_fc")
        conv1d(tf + "mlp/c_proj", pt + "mlp.c_proj")
    layer_norm("ln_f", "transformer.ln_f")
    return out


VARIABLES = {"TFBertModel": bert_variables, "TFGPT2LMHeadModel": gpt2_variables}
# PyTorch tensors that are buffers, not parameters: a TF model has no variable for them.
PT_BUFFERS = {"embeddings.position_ids"}


def tf_value(array, kind):
    if kind == "kernel":
        return np.ascontiguousarray(array.T)
    if kind == "conv1d_bias":
        return np.ascontiguousarray(array.reshape(1, -1))
    return np.ascontiguousarray(array)


def tf_weights(model_class, main_layer, config, state_dict):
    """[(weight name as Keras records it, value, pytorch name, kind)] for the main layer."""
    prefix = "%s/%s/" % (keras_snake_case(model_class), main_layer)
    weights = []
    for path, pt, kind in VARIABLES[model_class](config):
        weights.append((prefix + path + ":0", tf_value(state_dict[pt], kind), pt, kind))
    unused = set(state_dict) - {pt for _, _, pt, _ in weights} - PT_BUFFERS
    assert not unused, "PyTorch tensors without a TF variable: %s" % sorted(unused)
    return weights


# ---------------------------------------------------------------------------
# Writing the legacy Keras HDF5 layout
# ---------------------------------------------------------------------------


def save_attributes(group, name, data, limit=HDF5_OBJECT_HEADER_LIMIT):
    """Keras' save_attributes_to_hdf5_group: `data` (a list of bytes) as one attribute, or, when its
    numpy form is over `limit` bytes, as chunks name0, name1, ... of np.array_split."""
    assert all(len(x) <= limit for x in data), "an entry larger than the header limit cannot be saved"
    array = np.asarray(data)
    chunks = 1
    parts = np.array_split(array, chunks)
    while any(part.nbytes > limit for part in parts):
        chunks += 1
        parts = np.array_split(array, chunks)
    if chunks > 1:
        for i, part in enumerate(parts):
            group.attrs["%s%d" % (name, i)] = part      # numpy S array: fixed-length strings
    else:
        group.attrs[name] = data                        # list of bytes: h5py 3 writes vlen strings


def write_layer(group, weights, limit):
    """Keras' save_subset_weights_to_hdf5_group: weight_names, then one dataset per weight."""
    names = [w[0].encode("utf8") for w in weights]
    save_attributes(group, "weight_names", names, limit)
    for name, value in zip(names, (w[1] for w in weights)):
        dataset = group.create_dataset(name, value.shape, dtype=value.dtype, track_times=False)
        if value.shape:
            dataset[:] = value
        else:
            dataset[()] = value


def write_keras_h5(path, layers, limit=HDF5_OBJECT_HEADER_LIMIT):
    """Keras' save_weights_to_hdf5_group for a model whose `layers` is [(name, [(weight name, value)])]."""
    with h5py.File(path, "w") as f:
        save_attributes(f, "layer_names", [name.encode("utf8") for name, _ in layers], limit)
        f.attrs["backend"] = BACKEND.encode("utf8")
        f.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
        for name, weights in sorted(layers, key=lambda layer: layer[0]):
            write_layer(f.create_group(name), weights, limit)
        # The model's own variables (model._trainable_weights + _non_trainable_weights): none.
        write_layer(f.create_group(TOP_LEVEL_GROUP), [], limit)


# ---------------------------------------------------------------------------
# The fixtures
# ---------------------------------------------------------------------------


def copy_folder_files(source, target):
    """Every file of an HF folder except its weights (config, tokenizer, sentence-transformers)."""
    for root, _, files in sorted(os.walk(source)):
        for name in sorted(files):
            if name.endswith(".safetensors") or name.endswith(".safetensors.index.json"):
                continue
            src = os.path.join(root, name)
            dst = os.path.join(target, os.path.relpath(src, source))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(src, dst)


def load_model(out_dir, hf_folder):
    folder = os.path.join(out_dir, "hf", hf_folder)
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    return folder, config, load_file(os.path.join(folder, "model.safetensors"))


def canonical_crcs(out_dir, hf_folder, fixture):
    """Each canonical tensor's CRC-32: from hf/expected.json, checked against Fixtures/expected.json."""
    with open(os.path.join(out_dir, "expected.json"), encoding="utf-8") as f:
        canonical = json.load(f)[fixture]["tensors"]
    with open(os.path.join(out_dir, "hf", "expected.json"), encoding="utf-8") as f:
        hf = json.load(f)[hf_folder]["tensors"]
    assert set(hf) == set(canonical), (hf_folder, sorted(set(hf) ^ set(canonical)))
    out = {}
    for name in sorted(canonical):
        assert hf[name]["crc32"] == canonical[name]["crc32"], (hf_folder, name)
        out[name] = {"dtype": canonical[name]["dtype"], "shape": canonical[name]["shape"],
                     "crc32": canonical[name]["crc32"]}
    return out


def write_model(out_dir, folder_name, hf_folder, fixture, model_class, main_layer, limit):
    source, config, state_dict = load_model(out_dir, hf_folder)
    target = os.path.join(out_dir, KERAS_DIR, folder_name)
    if os.path.isdir(target):
        shutil.rmtree(target)
    os.makedirs(target)
    copy_folder_files(source, target)
    weights = tf_weights(model_class, main_layer, config, state_dict)
    path = os.path.join(target, WEIGHTS_FILE)
    write_keras_h5(path, [(main_layer, [(w[0], w[1]) for w in weights])], limit)
    record = {
        "source_folder": "hf/" + hf_folder,
        "source_fixture": fixture,
        "model_class": model_class,
        "layer_names": [main_layer],
        "header_limit": limit,
        "weights": [{"tf": w[0], "pytorch": w[2], "shape": list(w[1].shape),
                     "transform": {"kernel": "transpose", "conv1d_bias": "squeeze(0)", "copy": "copy"}[w[3]]}
                    for w in weights],
        "tensors": canonical_crcs(out_dir, hf_folder, fixture),
    }
    return path, record


# ---------------------------------------------------------------------------
# Bad files: bert-tiny with one rule broken each
# ---------------------------------------------------------------------------


BAD_CASES = []


def bad_case(filename, error, obj, why):
    def register(fn):
        BAD_CASES.append((filename, error, obj, why, fn))
        return fn
    return register


def _bert_layers(out_dir):
    """A few of bert-tiny's variables (the embeddings and layer 0's query): every bad case is refused
    before the architecture map looks for the rest, and small files keep the corpus small."""
    _, config, state_dict = load_model(out_dir, "bert-tiny")
    weights = tf_weights("TFBertModel", "bert", config, state_dict)
    return [(w[0], w[1]) for w in weights if "/embeddings/" in w[0] or "/layer_._0/attention/self/query/" in w[0]]


QUERY_KERNEL = "tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0"


@bad_case("unmapped-conv-kernel.h5", "ImportError.unmappedTensors",
          "/bert/tf_bert_model/bert/embeddings/conv/kernel:0",
          "a rank-3 (Conv1D) kernel: Hugging Face transposes it to [out, in, width]; qkv has no such transform")
def _unmapped(path, weights):
    conv = np.arange(3 * 32 * 32, dtype="<f4").reshape(3, 32, 32) / 1024
    write_keras_h5(path, [("bert", weights + [("tf_bert_model/bert/embeddings/conv/kernel:0", conv)])])


@bad_case("missing-weight-names.h5", "HDF5Error.badGroupStructure", "/bert",
          "the layer group has no weight_names attribute (nor weight_names0, ...)")
def _missing_weight_names(path, weights):
    write_keras_h5(path, [("bert", weights)])
    with h5py.File(path, "r+") as f:
        del f["bert"].attrs["weight_names"]


@bad_case("listed-but-absent.h5", "ImportError.missingSourceTensor", "/bert/" + QUERY_KERNEL,
          "weight_names lists a dataset the file does not have")
def _listed_but_absent(path, weights):
    write_keras_h5(path, [("bert", weights)])
    with h5py.File(path, "r+") as f:
        del f["bert"][QUERY_KERNEL]


@bad_case("stray-dataset.h5", "HDF5Error.badGroupStructure", "/bert/tf_bert_model/bert/embeddings/extra:0",
          "a dataset in the layer group that weight_names does not list (Keras would ignore it)")
def _stray(path, weights):
    write_keras_h5(path, [("bert", weights)])
    with h5py.File(path, "r+") as f:
        f["bert"].create_dataset("tf_bert_model/bert/embeddings/extra:0", data=np.zeros(4, "<f4"), track_times=False)


@bad_case("layer-absent.h5", "HDF5Error.badGroupStructure", "/classifier",
          "layer_names lists a layer that has no group")
def _layer_absent(path, weights):
    write_keras_h5(path, [("bert", weights)])
    with h5py.File(path, "r+") as f:
        f.attrs["layer_names"] = [b"bert", b"classifier"]


@bad_case("stray-group.h5", "HDF5Error.badGroupStructure", "/optimizer_weights",
          "a root group that layer_names does not list (Keras would ignore it)")
def _stray_group(path, weights):
    write_keras_h5(path, [("bert", weights)])
    with h5py.File(path, "r+") as f:
        write_layer(f.create_group("optimizer_weights"), [("adam/iter:0", np.zeros((), "<i8"))], HDF5_OBJECT_HEADER_LIMIT)


@bad_case("duplicate-pytorch-name.h5", "HDF5Error.badGroupStructure",
          "/bert/tf_bert_model/bert/embeddings/word_embeddings/weight:0",
          "word_embeddings/embeddings:0 and word_embeddings/weight:0 both become embeddings.word_embeddings.weight")
def _duplicate(path, weights):
    value = dict(weights)["tf_bert_model/bert/embeddings/word_embeddings/weight:0"]
    extra = ("tf_bert_model/bert/embeddings/word_embeddings/embeddings:0", value)
    write_keras_h5(path, [("bert", [extra] + weights)])


@bad_case("sharded-layout.h5", "HDF5Error.badGroupStructure", "/bert/embeddings/LayerNorm/beta:0",
          "transformers' sharded TF layout (tf_model-0000N-of-0000M.h5): layer_names lists datasets, not layer groups")
def _sharded(path, weights):
    # What TFPreTrainedModel.save_pretrained writes per shard when a model is split: the variables'
    # names without the model level, as root datasets, and those names in layer_names.
    names = []
    with h5py.File(path, "w") as f:
        for name, value in sorted(weights):
            short = "/".join(name.split("/")[1:])
            f.create_dataset(short, data=value, track_times=False)
            names.append(short.encode("utf8"))
        save_attributes(f, "layer_names", names)


def write_bad(out_dir):
    folder = os.path.join(out_dir, KERAS_DIR, BAD_DIR)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    weights = _bert_layers(out_dir)
    manifest, written = {}, []
    for filename, error, obj, why, writer in BAD_CASES:
        path = os.path.join(folder, filename)
        writer(path, list(weights))
        manifest[filename] = {"error": error, "object": obj, "why": why}
        written.append(path)
    path = os.path.join(folder, MANIFEST)
    write_json(path, manifest)
    return written + [path]


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as out:
        json.dump(value, out, indent=1, ensure_ascii=False)
        out.write("\n")


def write_all(out_dir=DEFAULT_OUT, quiet=False):
    """Write <out_dir>/keras/ from <out_dir>/hf/ (fixtures_hf.py) and <out_dir>/expected.json."""
    os.makedirs(os.path.join(out_dir, KERAS_DIR), exist_ok=True)
    expected, written = {}, []
    models = [(m[0], m[1], m[2], m[3], m[4], HDF5_OBJECT_HEADER_LIMIT) for m in MODELS]
    models.append(("bert-tiny-chunked",) + MODELS[0][1:] + (CHUNKED_FIXTURE_LIMIT,))
    for folder, hf_folder, fixture, model_class, main_layer, limit in models:
        path, record = write_model(out_dir, folder, hf_folder, fixture, model_class, main_layer, limit)
        expected[folder + "/" + WEIGHTS_FILE] = record
        written.append(path)
    path = os.path.join(out_dir, KERAS_DIR, "expected.json")
    write_json(path, expected)
    written.append(path)
    written += write_bad(out_dir)
    if not quiet:
        for path in written:
            print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="fixtures directory (default: %(default)s)")
    args = parser.parse_args(argv)
    write_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
