"""qkv's GGUF exports of every architecture against llama.cpp's own converter.

Fixtures/reference/archs/<arch>/ holds a tiny random Hugging Face model and `model.gguf`, the GGUF that
llama.cpp's `convert_hf_to_gguf.py` made of it (tools/make_arch_references.py). `qkv convert` of the
folder to GGUF must give the same tensors (names, ggml types, shapes, every value bit for bit: Q/K row
order, Gemma's `1 + w` norms, Phi-3's fused Q|K|V and gate|up, Llama 3's `rope_freqs`, LongRoPE's
`rope_factors_long`/`short`) and the same architecture keys (YaRN's and LongRoPE's included), read here
with gguf-py. A Mistral whose window is shorter than its context is
refused: GGUF's `llama` has no window (llama.cpp's converter drops it silently).
"""

import os
import subprocess

import numpy as np
import pytest

import gguf
from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCHS = os.path.join(REPO, "Fixtures", "reference", "archs")
FOLDERS = sorted(d for d in os.listdir(ARCHS) if os.path.isfile(os.path.join(ARCHS, d, "model.gguf")))

# Keys llama.cpp's converter writes that qkv does not model: the original context length of a Phi-3
# without LongRoPE, which llama.cpp reads only for LongRoPE (and YaRN) and qkv keeps only with it.
NOT_MODELLED = {("phi3", "phi3.rope.scaling.original_context_length")}


def convert(folder, tmp_path):
    out = str(tmp_path / ("%s.gguf" % folder))
    result = subprocess.run([qkv_binary(), "convert", os.path.join(ARCHS, folder), out, "--quiet"],
                            capture_output=True, text=True)
    return result, out


def field_value(field):
    try:
        return field.contents()
    except Exception:   # noqa: BLE001 - gguf-py cannot render every field type
        return None


def test_every_architecture_has_a_folder():
    assert set(FOLDERS) == {"gemma2", "gemma3", "llama3", "mistral", "phi3", "phi3-longrope", "qwen2", "qwen2-yarn", "qwen3",
                            "smollm2"}


@pytest.mark.parametrize("folder", [f for f in FOLDERS if f != "mistral"])
def test_gguf_export_has_llama_cpps_tensors_and_keys(folder, tmp_path):
    result, out = convert(folder, tmp_path)
    assert result.returncode == 0, result.stderr
    theirs = gguf.GGUFReader(os.path.join(ARCHS, folder, "model.gguf"))
    ours = gguf.GGUFReader(out)
    assert ours.fields["general.architecture"].contents() == theirs.fields["general.architecture"].contents()

    mine = {t.name: t for t in ours.tensors}
    assert sorted(mine) == sorted(t.name for t in theirs.tensors)
    for t in theirs.tensors:
        o = mine[t.name]
        assert o.tensor_type == t.tensor_type, t.name
        assert list(o.shape) == list(t.shape), t.name
        assert np.array_equal(np.asarray(o.data).view(np.uint8), np.asarray(t.data).view(np.uint8)), \
            "%s: %s differs from llama.cpp's converter" % (folder, t.name)

    arch = theirs.fields["general.architecture"].contents()
    for key, field in theirs.fields.items():
        if not key.startswith(arch + ".") or (folder, key) in NOT_MODELLED:
            continue
        assert key in ours.fields, "%s: key %s missing" % (folder, key)
        assert field_value(ours.fields[key]) == field_value(field), key


def test_windowed_mistral_is_refused_for_gguf_with_the_reason(tmp_path):
    result, out = convert("mistral", tmp_path)
    assert result.returncode == 2
    assert "has no sliding window" in result.stderr
    assert not os.path.exists(out)


@pytest.mark.parametrize("dtype", ["f16", "bf16"])
@pytest.mark.parametrize("folder", ["llama3", "gemma3", "qwen2"])
def test_half_precision_gguf_keeps_vectors_f32_as_llama_cpp_needs(folder, dtype, tmp_path):
    """llama.cpp aborts on an f16 norm ("binary_op: unsupported types"); its converter keeps every 1-D tensor f32."""
    out = str(tmp_path / "half.gguf")
    result = subprocess.run([qkv_binary(), "convert", os.path.join(ARCHS, folder), out, "--dtype", dtype, "--quiet"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    theirs = {t.name: t for t in gguf.GGUFReader(os.path.join(ARCHS, folder, "model.gguf")).tensors}
    ours = gguf.GGUFReader(out)
    half = gguf.GGMLQuantizationType.F16 if dtype == "f16" else gguf.GGMLQuantizationType.BF16
    assert sorted(t.name for t in ours.tensors) == sorted(theirs)
    for t in ours.tensors:
        vector = len(theirs[t.name].shape) == 1
        assert t.tensor_type == (gguf.GGMLQuantizationType.F32 if vector else half), t.name
        if vector:   # kept as the f32 source has them, as llama.cpp's converter keeps them
            assert np.asarray(t.data).tobytes() == np.asarray(theirs[t.name].data).tobytes(), t.name
