"""Block-quantized dtypes (Specs/quantization.md) through the built `qkv` binary, against gguf-py:

* for every block type, a one-layer LLaMA GGUF whose matrices are all of that type (written here with
  gguf-py by tools/fixtures_quant.py): `qkv convert --dtype f32` gives gguf-py's `dequantize` bit for bit
  for every tensor (Q/K rows un-permuted, as llama.cpp's RoPE order is undone on import);
  GGUF -> .qkv -> GGUF and GGUF -> HDF5 -> GGUF are byte-identical; the .qkv (read by the spec-only
  reader) and HDF5 (read by h5py) hold the GGUF's blocks byte for byte;
* `validate --deep` reports a NaN scale, naming the tensor;
* the real Gemma 3 270M Q4_K_M: every tensor `qkv inspect --values` writes equals gguf-py's dequantize.
"""

import filecmp
import os
import subprocess

import h5py
import numpy as np
import pytest
import gguf
from safetensors.numpy import load_file

import fixtures_quant as fq
import fixtures_gguf as fg
from qkv_numpy import read_qkv
from test_interop import qkv_binary

MODELS = os.environ.get("QKV_MODELS", os.path.expanduser("~/.cache/qkv-models"))
GEMMA = os.path.join(MODELS, "gemma3", "gemma-3-270m-q4_k_m.gguf")


def run(*args, check=True):
    result = subprocess.run([qkv_binary(), *map(str, args)], capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        pytest.fail("qkv %s exited with %d\n%s%s" % (" ".join(map(str, args)), result.returncode, result.stdout, result.stderr))
    return result


def single_type_llama(path, qtype, output=None):
    """Every matrix in qtype; W_O in `output` when given (F16 for the byte-identical round trips: a
    block-quantized W_O is dequantized on import, so it comes back as F32)."""
    types = {name: qtype for name in fq.LLAMA_TYPES}
    if output is not None:
        types["attn_output.weight"] = output
    fq.write_llama(str(path), types)


def gguf_tensors(path):
    reader = gguf.GGUFReader(str(path))
    return {t.name: t for t in reader.tensors}


@pytest.mark.parametrize("name,qtype", fq.TYPES, ids=[n for n, _ in fq.TYPES])
def test_every_block_type_dequantizes_like_gguf_py_and_round_trips_byte_identical(tmp_path, name, qtype):
    src = tmp_path / ("llama-%s.gguf" % name)
    single_type_llama(src, qtype)
    tensors = gguf_tensors(src)
    c = fq.llama_quant_model()["config"]
    H, K = c["head_count"], c["kv_head_count"]

    # --dtype f32: every tensor is gguf-py's dequantization (HF layout: Q/K un-permuted).
    run("convert", src, tmp_path / "f32.safetensors", "--dtype", "f32", "--quiet")
    hf = load_file(str(tmp_path / "f32.safetensors"))
    names = {"model.embed_tokens.weight": ("token_embd.weight", None), "lm_head.weight": ("output.weight", None),
             "model.layers.0.self_attn.q_proj.weight": ("blk.0.attn_q.weight", H),
             "model.layers.0.self_attn.k_proj.weight": ("blk.0.attn_k.weight", K),
             "model.layers.0.self_attn.v_proj.weight": ("blk.0.attn_v.weight", None),
             "model.layers.0.self_attn.o_proj.weight": ("blk.0.attn_output.weight", None),
             "model.layers.0.mlp.gate_proj.weight": ("blk.0.ffn_gate.weight", None),
             "model.layers.0.mlp.up_proj.weight": ("blk.0.ffn_up.weight", None),
             "model.layers.0.mlp.down_proj.weight": ("blk.0.ffn_down.weight", None)}
    for hf_name, (gguf_name, heads) in names.items():
        t = tensors[gguf_name]
        assert t.tensor_type == qtype
        want = gguf.quants.dequantize(t.data, qtype)
        got = hf[hf_name]
        if heads is not None:
            got = fg.llama_permute(got, heads)   # HF rows -> llama.cpp's RoPE order, a pure row move
        assert got.dtype == np.float32 and got.shape == want.shape, hf_name
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), "%s (%s) differs from gguf-py" % (hf_name, name)

    # A block-quantized W_O stays as GGUF stores it (the rows layout, [D, H·d]): blocks kept, and the
    # file comes back byte for byte.
    run("convert", src, tmp_path / "o.qkv", "--quiet")
    metadata, stored = read_qkv(str(tmp_path / "o.qkv"))
    assert stored["layers/0/attn/o/weight"]["dtype"] == name
    assert metadata["config.attn_output_layout"] == "rows"
    run("convert", tmp_path / "o.qkv", tmp_path / "o.gguf", "--quiet")
    with open(src, "rb") as a, open(tmp_path / "o.gguf", "rb") as b:
        assert a.read() == b.read(), "GGUF with a %s W_O -> .qkv -> GGUF changed the file" % name

    # GGUF (W_O F16) -> .qkv -> GGUF, byte for byte; the .qkv holds the GGUF's blocks.
    src = tmp_path / ("llama-%s-o16.gguf" % name)
    single_type_llama(src, qtype, output=gguf.GGMLQuantizationType.F16)
    tensors = gguf_tensors(src)
    run("convert", src, tmp_path / "m.qkv", "--quiet")
    run("convert", tmp_path / "m.qkv", tmp_path / "back.gguf", "--quiet")
    assert filecmp.cmp(src, tmp_path / "back.gguf", shallow=False), "GGUF -> .qkv -> GGUF is not byte-identical (%s)" % name
    qkv = read_qkv(str(tmp_path / "m.qkv"))[1]
    v = qkv["layers/0/attn/v/weight"]
    assert v["dtype"] == name
    assert np.array_equal(np.asarray(v["array"]).reshape(-1), tensors["blk.0.attn_v.weight"].data.reshape(-1))
    run("validate", tmp_path / "m.qkv", "--deep", "--quiet")

    # GGUF -> HDF5 -> GGUF, byte for byte; h5py sees rows of the GGUF's block bytes.
    run("convert", src, tmp_path / "m.h5", "--quiet")
    run("convert", tmp_path / "m.h5", tmp_path / "back-h5.gguf", "--quiet")
    assert filecmp.cmp(src, tmp_path / "back-h5.gguf", shallow=False), "GGUF -> HDF5 -> GGUF is not byte-identical (%s)" % name
    with h5py.File(tmp_path / "m.h5", "r") as f:
        up = f["layers/0/mlp/up/weight"]
        assert up.attrs["dtype"] == name and up.dtype == np.uint8
        raw = tensors["blk.0.ffn_up.weight"].data
        assert np.array_equal(up[()], raw.reshape(up.shape))
        assert np.array_equal(gguf.quants.dequantize(up[()], qtype).view(np.uint32),
                              gguf.quants.dequantize(raw, qtype).view(np.uint32))


def test_mixed_fixture_round_trips_and_runs(tmp_path):
    src = os.path.join(os.path.dirname(fq.__file__), "..", "Fixtures", "quant", "llama-quant.gguf")
    run("convert", src, tmp_path / "m.qkv", "--quiet")
    run("convert", tmp_path / "m.qkv", tmp_path / "back.gguf", "--quiet")
    assert filecmp.cmp(src, tmp_path / "back.gguf", shallow=False)
    # Generation runs from the blocks in place, and the .qkv gives the same tokens as the GGUF.
    a = run("generate", src, "hello", "--max-tokens", "8", "--ids", "--ignore-eos").stdout
    b = run("generate", tmp_path / "m.qkv", "hello", "--max-tokens", "8", "--ids", "--ignore-eos").stdout
    assert a == b and a.strip()
    # inspect --heads: each head's Frobenius norm over gguf-py's dequantization (rows permuted within a
    # head by llama.cpp do not change it).
    import json
    heads = json.loads(run("inspect", src, "--heads", "--json").stdout)["heads"]
    tensors = gguf_tensors(src)
    c = fq.llama_quant_model()["config"]
    d = c["head_dim"]
    q = gguf.quants.dequantize(tensors["blk.0.attn_q.weight"].data, tensors["blk.0.attn_q.weight"].tensor_type).astype(np.float64)
    v = gguf.quants.dequantize(tensors["blk.0.attn_v.weight"].data, tensors["blk.0.attn_v.weight"].tensor_type).astype(np.float64)
    for h in heads:
        want_q = np.sqrt((q[h["head"] * d:(h["head"] + 1) * d] ** 2).sum())
        want_v = np.sqrt((v[h["kvHead"] * d:(h["kvHead"] + 1) * d] ** 2).sum())
        assert abs(h["query"] - want_q) <= 1e-9 * want_q and abs(h["value"] - want_v) <= 1e-9 * want_v, h


def test_validate_deep_reports_a_nan_scale_naming_the_tensor(tmp_path):
    src = tmp_path / "nan.gguf"
    single_type_llama(src, gguf.GGMLQuantizationType.Q4_K)
    run("convert", src, tmp_path / "m.qkv", "--quiet")
    # Plant a NaN f16 d in the second block of W_Q in the .qkv (its CRC no longer matches either).
    metadata, tensors = read_qkv(str(tmp_path / "m.qkv"))
    q = tensors["layers/0/attn/q/weight"]
    data = bytearray((tmp_path / "m.qkv").read_bytes())
    data[q["offset"] + 144: q["offset"] + 146] = np.array([0x7E00], dtype="<u2").tobytes()
    (tmp_path / "m.qkv").write_bytes(bytes(data))
    result = run("validate", tmp_path / "m.qkv", "--deep", check=False)
    assert result.returncode == 1
    assert "layers/0/attn/q/weight' (q4_k) has a NaN scale in the block of elements 256..<512" in result.stdout, result.stdout


def test_real_gemma_every_tensor_equals_gguf_py(tmp_path):
    """Every tensor of the real file dequantized by `convert --dtype f32` (one process for all 236) is
    gguf-py's dequantization bit for bit, under its own name and shape; `inspect --values` gives the
    same for the first tensor of each type."""
    assert os.path.isfile(GEMMA), "%s is missing: run tools/fetch-models.sh" % GEMMA
    reader = gguf.GGUFReader(GEMMA)
    run("convert", GEMMA, tmp_path / "f32.gguf", "--dtype", "f32", "--quiet")
    widened = {t.name: t for t in gguf.GGUFReader(str(tmp_path / "f32.gguf")).tensors}
    assert sorted(widened) == sorted(t.name for t in reader.tensors)
    types = set()
    for t in reader.tensors:
        want = gguf.quants.dequantize(t.data, t.tensor_type)
        shape = tuple(int(d) for d in reversed(t.shape))
        got = widened[t.name]
        assert got.tensor_type == gguf.GGMLQuantizationType.F32, t.name
        assert tuple(int(d) for d in reversed(got.shape)) == shape, t.name
        assert np.array_equal(np.asarray(got.data).reshape(-1).view(np.uint32), want.reshape(-1).view(np.uint32)), \
            "%s (%s) differs from gguf-py" % (t.name, t.tensor_type.name)
        if t.tensor_type.name not in types:
            out = tmp_path / "t.npy"
            run("inspect", GEMMA, "--values", t.name, "--npy", out)
            values = np.load(out)
            assert values.shape == shape, t.name
            assert np.array_equal(values.view(np.uint32), want.reshape(shape).view(np.uint32)), \
                "inspect --values: %s (%s) differs from gguf-py" % (t.name, t.tensor_type.name)
        types.add(t.tensor_type.name)
    assert {"Q4_K", "Q6_K", "Q5_0", "Q8_0", "F32"} <= types


@pytest.mark.parametrize("name,qtype", [("q4_0", gguf.GGMLQuantizationType.Q4_0), ("q4_1", gguf.GGMLQuantizationType.Q4_1),
                                        ("q5_0", gguf.GGMLQuantizationType.Q5_0), ("q5_1", gguf.GGMLQuantizationType.Q5_1)])
def test_convert_dtype_quantizes_bit_identical_to_gguf_py(tmp_path, name, qtype):
    """`qkv convert --dtype q4_0|q4_1|q5_0|q5_1`: every matrix whose rows are whole blocks is gguf-py's
    `quantize` of the f32 values, byte for byte; other matrices are f16 (as llama.cpp writes them), the
    rest keep their dtype. W_O is quantized as rows
    [D, H·d] (its blocks run along H·d, as in GGUF), and the file says so."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    source = os.path.join(repo, "Fixtures", "hf", "llama-tiny")
    run("convert", source, tmp_path / "f32.qkv", "--quiet")
    run("convert", source, tmp_path / "q.qkv", "--dtype", name, "--quiet")
    _, want = read_qkv(str(tmp_path / "f32.qkv"))
    metadata, got = read_qkv(str(tmp_path / "q.qkv"))
    assert metadata["config.attn_output_layout"] == "rows"
    quantized = 0
    for tensor, entry in want.items():
        values = np.asarray(entry["array"])
        if tensor.endswith("/attn/o/weight"):
            values = values.reshape(-1, values.shape[-1]).T      # [H, d, D] -> [D, H·d]
        if values.ndim >= 2 and values.shape[-1] % 32 == 0:
            assert got[tensor]["dtype"] == name, tensor
            reference = gguf.quants.quantize(values.astype(np.float32), qtype)
            assert np.asarray(got[tensor]["array"]).tobytes() == reference.tobytes(), tensor
            quantized += 1
        elif values.ndim >= 2 and tensor.endswith("/weight"):
            # Rows that are not whole blocks: f16, as llama.cpp and its converter write them.
            assert got[tensor]["dtype"] == "f16", tensor
        else:
            assert got[tensor]["dtype"] == entry["dtype"], tensor
    assert quantized > 0
    # Special values: zeros, ties at the rounding points, a block of one repeated value, huge and tiny.
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 64)).astype(np.float32)
    x[0] = 0
    x[1, :32] = 3.0
    x[2] *= 1e30
    x[3] *= 1e-30
    x[4, :32] = np.arange(32) - 16
    x[5, 7] = -x[5].__abs__().max() * 2
    src = tmp_path / "special.gguf"
    fq.write_llama(str(src), {n: gguf.GGMLQuantizationType.Q8_0 for n in fq.LLAMA_TYPES})
    # The values go in through an f32 HDF5 state dict made by qkv itself from the GGUF: replace attn_v.
    run("convert", src, tmp_path / "special.h5", "--dtype", "f32", "--quiet")
    import h5py
    with h5py.File(tmp_path / "special.h5", "r+") as f:
        v = f["layers/0/attn/v/weight"]
        flat = v[()].reshape(-1, 64)
        flat[:6] = x
        v[...] = flat.reshape(v.shape)
        planted = v[()]
    run("convert", tmp_path / "special.h5", tmp_path / "special.qkv", "--dtype", name, "--quiet")
    _, got = read_qkv(str(tmp_path / "special.qkv"))
    with np.errstate(over="ignore"):   # 1e30 · x overflows f16's d to infinity, in gguf-py as in qkv
        reference = gguf.quants.quantize(planted, qtype)
    assert np.asarray(got["layers/0/attn/v/weight"]["array"]).tobytes() == reference.tobytes()


def test_a_ggml_type_without_a_qkv_dtype_is_refused_naming_tensor_and_type(tmp_path):
    """Q8_K (ggml's scratch type for activations) has no qkv dtype: convert fails, naming both."""
    src = tmp_path / "q8k.gguf"
    model = fq.llama_quant_model()
    writer = gguf.GGUFWriter(str(src), "llama")
    fg.add_metadata(writer, fg.llama_metadata(model, 15, True))
    for name, data, qtype in fq.llama_quant_tensors(model, {n: gguf.GGMLQuantizationType.Q4_K for n in fq.LLAMA_TYPES}):
        if name == "blk.0.ffn_up.weight":
            rng = np.random.default_rng(1)
            data, qtype = rng.integers(0, 256, size=(data.shape[0], 292), dtype=np.uint8), gguf.GGMLQuantizationType.Q8_K
        writer.add_tensor(name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    result = run("convert", src, tmp_path / "m.qkv", check=False)
    assert result.returncode == 1, result.stderr
    assert "blk.0.ffn_up.weight" in result.stderr and "Q8_K" in result.stderr, result.stderr
    assert not (tmp_path / "m.qkv").exists()


def test_hdf5_block_rows_that_are_not_whole_blocks_are_refused(tmp_path):
    src = tmp_path / "m.gguf"
    single_type_llama(src, gguf.GGMLQuantizationType.Q6_K, output=gguf.GGMLQuantizationType.F16)
    run("convert", src, tmp_path / "m.h5", "--quiet")
    with h5py.File(tmp_path / "m.h5", "r+") as f:
        rows = f["layers/0/mlp/up/weight"][()]
        del f["layers/0/mlp/up/weight"]
        d = f.create_dataset("layers/0/mlp/up/weight", data=rows[:, :-1])
        d.attrs["dtype"] = "q6_k"
    result = run("validate", tmp_path / "m.h5", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert "layers/0/mlp/up/weight" in out and "q6_k" in out and "209 bytes" in out and "210-byte blocks" in out, out
