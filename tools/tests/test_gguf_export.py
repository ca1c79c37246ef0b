"""`qkv convert X.h5 OUT.gguf` writes llama.cpp's layout: names from gguf-py's own tensor tables, and
values equal to the canonical fixture transformed by numpy the way llama.cpp's converter transforms
Hugging Face weights (read back with gguf-py)."""

import os

import h5py
import numpy as np
import pytest
from gguf import GGUFReader
from gguf.constants import MODEL_ARCH, MODEL_TENSORS, TENSOR_NAMES

import make_fixtures as mf
from test_interop import qkv_convert

FIXTURES = mf.DEFAULT_OUT


def export(tmp_path, fixture):
    out = qkv_convert(os.path.join(FIXTURES, fixture), tmp_path / "m.gguf", "-q")
    reader = GGUFReader(str(out))
    tensors = {t.name: np.asarray(t.data) for t in reader.tensors}
    arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
    return arch, tensors, h5py.File(os.path.join(FIXTURES, fixture), "r")


def allowed_names(arch, layers):
    table = {"llama": MODEL_ARCH.LLAMA, "bert": MODEL_ARCH.BERT, "gpt2": MODEL_ARCH.GPT2}[arch]
    return {TENSOR_NAMES[t].format(bid=i) for t in MODEL_TENSORS[table] for i in range(layers)}


@pytest.mark.parametrize("fixture,arch", [("gpt2-tiny.h5", "gpt2"), ("bert-tiny.h5", "bert"), ("llama-tiny.h5", "llama")])
def test_gguf_export_uses_llama_cpp_names(tmp_path, fixture, arch):
    got, tensors, f = export(tmp_path, fixture)
    assert got == arch
    names = {n.rsplit(".", 1)[0] for n in tensors}
    assert names <= allowed_names(arch, f["config"].attrs["layer_count"]), names - allowed_names(arch, 2)


def test_gpt2_gguf_fuses_qkv_rows_and_transposes_o(tmp_path):
    _, t, f = export(tmp_path, "gpt2-tiny.h5")
    D = f["config"].attrs["model_dim"]
    for layer in range(f["config"].attrs["layer_count"]):
        p = "layers/%d/" % layer
        q, k, v = (f[p + "attn/%s/weight" % x][:].reshape(-1, D) for x in "qkv")
        assert np.array_equal(t["blk.%d.attn_qkv.weight" % layer], np.concatenate([q, k, v]))
        bias = np.concatenate([f[p + "attn/%s/bias" % x][:].reshape(-1) for x in "qkv"])
        assert np.array_equal(t["blk.%d.attn_qkv.bias" % layer], bias)
        assert np.array_equal(t["blk.%d.attn_output.weight" % layer], f[p + "attn/o/weight"][:].reshape(-1, D).T)
        assert np.array_equal(t["blk.%d.ffn_up.weight" % layer], f[p + "mlp/up/weight"][:])
        assert np.array_equal(t["blk.%d.ffn_down.weight" % layer], f[p + "mlp/down/weight"][:])
    assert np.array_equal(t["output.weight"], f["embed/token/weight"][:]), "tied head as a copy, as llama.cpp writes it"


def test_bert_gguf_keeps_linear_weights_and_transposes_o(tmp_path):
    _, t, f = export(tmp_path, "bert-tiny.h5")
    D = f["config"].attrs["model_dim"]
    assert np.array_equal(t["blk.1.attn_k.weight"], f["layers/1/attn/k/weight"][:].reshape(-1, D))
    assert np.array_equal(t["blk.1.attn_k.bias"], f["layers/1/attn/k/bias"][:].reshape(-1))
    assert np.array_equal(t["blk.1.attn_output.weight"], f["layers/1/attn/o/weight"][:].reshape(-1, D).T)
    assert np.array_equal(t["token_types.weight"], f["embed/token_type/weight"][:])
    assert "pooler" not in " ".join(t)


def test_llama_gguf_equals_gguf_py_reference(tmp_path):
    _, t, _ = export(tmp_path, "llama-tiny.h5")
    reference = {x.name: np.asarray(x.data) for x in GGUFReader(os.path.join(FIXTURES, "gguf", "llama-tiny.gguf")).tensors}
    assert set(t) == set(reference)
    for name in reference:
        assert t[name].tobytes() == reference[name].tobytes(), name
