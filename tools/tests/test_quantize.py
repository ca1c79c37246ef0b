"""`qkv convert --dtype q8_0` against a numpy re-implementation of ggml's `quantize_row_q8_0_ref`
(ggml/src/ggml-quants.c): every quantised block bit-identical, the right tensors quantised (weights of
rank >= 2 whose rows are whole blocks of 32, but not learned position embeddings; a decoder's W_O as rows
[D, H·d]; other matrices f16, as llama.cpp writes them; the rest kept as they were), and a GGUF Q8_0 file's blocks copied, not re-quantised. The .qkv output is read with the independent reader tools/qkv_numpy.py."""

import os
import subprocess

import numpy as np
import pytest
from safetensors.numpy import load_file

from qkv_numpy import read_qkv
from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def quantize_q8_0_ref(x):
    """ggml's reference, vectorised: per block of 32, d = amax / 127 (f32), id = 1/d (0 when d == 0),
    stored d as f16 (round to nearest even), q = roundf(x * id) (ties away from zero). Returns uint8
    blocks [..., n / 32, 34]: the f16 scale's two bytes, then 32 int8."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    blocks = x.reshape(-1, 32)
    amax = np.abs(blocks).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
    scaled = (blocks * inv[:, None]).astype(np.float32)
    q = (np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))).astype(np.int8)   # roundf
    out = np.empty((blocks.shape[0], 34), dtype=np.uint8)
    out[:, :2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.view(np.uint8)
    return out.reshape(x.shape[:-1] + (x.shape[-1] // 32, 34))


def test_reference_rounds_half_away_from_zero():
    x = np.zeros(32, dtype=np.float32)
    x[:5] = [127, -127, 2.5, -2.5, 0.5]
    b = quantize_q8_0_ref(x).reshape(34)
    assert b[:2].view("<f2")[0] == 1
    assert list(b[2:7].view(np.int8)) == [127, -127, 3, -3, 1]


def convert(source, out, *args):
    result = subprocess.run([qkv_binary(), "convert", source, out, "-q", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("fixture", ["Fixtures/hf/llama-tiny", "Fixtures/hf/gpt2-tiny", "Fixtures/reference/decoders/llama-saved"])
def test_convert_q8_0_matches_ggml_reference_bit_for_bit(fixture, tmp_path):
    source = os.path.join(REPO, fixture)
    f32 = str(tmp_path / "f32.qkv")
    q8 = str(tmp_path / "q8.qkv")
    convert(source, f32)
    convert(source, q8, "--dtype", "q8_0")
    _, want = read_qkv(f32)
    metadata, got = read_qkv(q8)
    assert list(got) == list(want)
    assert metadata["config.attn_output_layout"] == "rows"
    quantised = 0
    for name, entry in want.items():
        values = np.asarray(entry["array"])
        if name.endswith("/attn/o/weight"):
            values = values.reshape(-1, values.shape[-1]).T      # [H, d, D] -> rows [D, H·d]
        if values.ndim >= 2 and values.shape[-1] % 32 == 0 and not name.startswith("embed/position"):
            assert got[name]["dtype"] == "q8_0", name
            assert np.array_equal(np.asarray(got[name]["array"]), quantize_q8_0_ref(values)), name
            quantised += 1
        elif values.ndim >= 2 and name.endswith("/weight") and not name.startswith("embed/position"):
            # Rows that are not whole blocks: f16, as llama.cpp and its converter write them.
            assert got[name]["dtype"] == "f16", name
            assert np.asarray(got[name]["array"]).tobytes() == values.astype("<f2").tobytes(), name
        else:
            assert got[name]["dtype"] == entry["dtype"], name
            assert np.asarray(got[name]["array"]).tobytes() == np.asarray(entry["array"]).tobytes(), name
    assert quantised > 0


def test_convert_f16_source_quantises_the_widened_values(tmp_path):
    source = os.path.join(REPO, "Fixtures/hf/llama-tiny")
    f16 = str(tmp_path / "f16.qkv")
    q8 = str(tmp_path / "q8.qkv")
    convert(source, f16, "--dtype", "f16")
    convert(f16, q8, "--dtype", "q8_0")
    _, half = read_qkv(f16)
    _, got = read_qkv(q8)
    name = "layers/0/attn/q/weight"
    assert np.array_equal(np.asarray(got[name]["array"]), quantize_q8_0_ref(np.asarray(half[name]["array"]).astype(np.float32)))


def test_gguf_q8_0_blocks_are_copied_not_requantised(tmp_path):
    import gguf

    source = os.path.join(REPO, "Fixtures/gguf/llama-tiny-q8_0.gguf")
    q8 = str(tmp_path / "q8.qkv")
    convert(source, q8, "--dtype", "q8_0")
    _, got = read_qkv(q8)
    reader = gguf.GGUFReader(source)
    raw = {t.name: np.asarray(t.data).tobytes() for t in reader.tensors if t.tensor_type == gguf.GGMLQuantizationType.Q8_0}
    # attn_q/k are permuted by llama.cpp's converter (rows move, blocks stay whole): compare the unpermuted.
    for gguf_name, ours in [("token_embd.weight", "embed/token/weight"), ("blk.0.ffn_up.weight", "layers/0/mlp/up/weight"),
                            ("blk.0.ffn_gate.weight", "layers/0/mlp/gate/weight"), ("blk.1.attn_v.weight", "layers/1/attn/v/weight")]:
        assert gguf_name in raw, gguf_name
        assert got[ours]["dtype"] == "q8_0"
        assert np.asarray(got[ours]["array"]).tobytes() == raw[gguf_name], ours


def dequantize_q8_0(blocks):
    """uint8 blocks [..., n / 32, 34] -> f32 [..., n]: the f16 scale times each int8, exactly."""
    b = np.asarray(blocks, dtype=np.uint8)
    scale = b[..., :2].copy().view("<f2").astype(np.float32)
    values = b[..., 2:].copy().view(np.int8).astype(np.float32)
    return (scale * values).reshape(b.shape[:-2] + (b.shape[-2] * 32,))


def test_q8_0_qkv_to_gguf_keeps_every_block_the_output_projection_included(tmp_path):
    """A decoder's q8_0 output projection is stored as rows, blocks along H·d as in GGUF: the GGUF export
    keeps its blocks byte for byte, as every other quantized matrix's. Read back with the gguf package."""
    import gguf

    q8 = str(tmp_path / "q8.qkv")
    out = str(tmp_path / "q8.gguf")
    convert(os.path.join(REPO, "Fixtures/hf/llama-tiny"), q8, "--dtype", "q8_0")
    convert(os.path.join(REPO, "Fixtures/hf/llama-tiny"), str(tmp_path / "f32.qkv"))
    convert(q8, out)
    _, ours = read_qkv(q8)
    _, f32 = read_qkv(str(tmp_path / "f32.qkv"))
    tensors = {t.name: t for t in gguf.GGUFReader(out).tensors}
    layers = sum(1 for name in tensors if name.endswith(".attn_output.weight"))
    assert layers >= 2
    for i in range(layers):
        for gguf_name, canonical in [("attn_output", "attn/o"), ("ffn_up", "mlp/up")]:
            tensor = tensors["blk.%d.%s.weight" % (i, gguf_name)]
            assert tensor.tensor_type == gguf.GGMLQuantizationType.Q8_0
            mine = ours["layers/%d/%s/weight" % (i, canonical)]
            assert mine["dtype"] == "q8_0"
            assert np.asarray(tensor.data).tobytes() == np.asarray(mine["array"]).tobytes()
        # W_O's blocks hold the source's [H, d, D] transposed to [D, H·d], to q8_0's precision.
        source = np.asarray(f32["layers/%d/attn/o/weight" % i]["array"])
        source = source.reshape(-1, source.shape[-1]).T
        wo = dequantize_q8_0(np.asarray(ours["layers/%d/attn/o/weight" % i]["array"]))
        assert wo.shape == source.shape
        assert np.abs(wo - source).max() <= np.abs(source).max() / 127


def test_encoder_q8_0_output_projection_goes_to_gguf_as_exact_f32(tmp_path):
    """An encoder's W_O stays per-head [H, d, D] (blocks along D), which GGUF's transposed layout cannot
    hold as blocks: it goes as f32, the exact dequantization transposed."""
    import gguf

    q8 = str(tmp_path / "q8.qkv")
    out = str(tmp_path / "q8.gguf")
    convert(os.path.join(REPO, "Fixtures/bert-tiny.h5"), q8, "--dtype", "q8_0")
    convert(q8, out)
    _, ours = read_qkv(q8)
    tensors = {t.name: t for t in gguf.GGUFReader(out).tensors}
    wo = tensors["blk.0.attn_output.weight"]
    assert wo.tensor_type == gguf.GGMLQuantizationType.F32
    canonical = ours["layers/0/attn/o/weight"]
    assert canonical["dtype"] == "q8_0"
    want = dequantize_q8_0(canonical["array"])          # [H, d, D]
    want = want.reshape(-1, want.shape[-1]).T            # GGUF's row-major [D, H·d]
    assert np.array_equal(np.asarray(wo.data).reshape(want.shape), want)
