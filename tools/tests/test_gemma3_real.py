"""The real Gemma 3 270M Q4_K_M GGUF (tools/fetch-models.sh) through qkv, checked with gguf-py and numpy.

- GGUF -> .qkv -> GGUF and GGUF -> HDF5 -> GGUF give back the file byte for byte: every Q4_K, Q5_0,
  Q6_K and Q8_0 block kept, W_O included (stored as rows, `config.attn_output_layout = rows`, since its
  blocks run along H·d), every key in its order and type.
- `inspect --heads --json`: each head's |W_Q|, |W_K|, |W_V| and |W_O| equal the Frobenius norms of the
  same slices of gguf-py's dequantization (W_O: head h is columns h·d ..< (h+1)·d of `attn_output`).
- `validate` calls it valid, and `inspect` shows the architecture and its steps.
- `--dtype q4_k_m` of its dequantized weights gives every tensor the type the published file has.
"""

import json
import os
import subprocess

import numpy as np
import pytest

import gguf
from test_interop import qkv_binary

MODELS = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
GEMMA = os.path.join(MODELS, "gemma3", "gemma-3-270m-q4_k_m.gguf")


@pytest.fixture(scope="module")
def reader():
    assert os.path.isfile(GEMMA), "%s is missing: run tools/fetch-models.sh" % GEMMA
    return gguf.GGUFReader(GEMMA)


def run(*args):
    return subprocess.run([qkv_binary(), *args], capture_output=True, text=True)


@pytest.mark.parametrize("middle", ["qkv", "h5"])
def test_round_trip_is_byte_identical(middle, tmp_path, reader):
    inner, back = str(tmp_path / ("gemma3." + middle)), str(tmp_path / "gemma3.gguf")
    for source, target in [(GEMMA, inner), (inner, back)]:
        result = run("convert", source, target, "--quiet")
        assert result.returncode == 0, result.stderr
    with open(GEMMA, "rb") as a, open(back, "rb") as b:
        assert a.read() == b.read(), "GGUF -> %s -> GGUF changed the file" % middle


def test_head_norms_equal_numpy_on_gguf_pys_dequantization(reader):
    result = run("inspect", GEMMA, "--heads", "--json")
    assert result.returncode == 0, result.stderr
    heads = json.loads(result.stdout)["heads"]
    tensors = {t.name: t for t in reader.tensors}
    H, K, d = 4, 1, 256
    assert len(heads) == 18 * H

    def weight(name):
        t = tensors[name]
        return gguf.quants.dequantize(t.data, t.tensor_type).astype(np.float64)

    for layer in (0, 5, 17):
        q = weight("blk.%d.attn_q.weight" % layer).reshape(H, d, -1)
        k = weight("blk.%d.attn_k.weight" % layer).reshape(K, d, -1)
        v = weight("blk.%d.attn_v.weight" % layer).reshape(K, d, -1)
        o = weight("blk.%d.attn_output.weight" % layer)          # [D, H·d]
        for head in range(H):
            got = next(h for h in heads if h["layer"] == layer and h["head"] == head)
            want = {"query": np.linalg.norm(q[head]), "key": np.linalg.norm(k[head // (H // K)]),
                    "value": np.linalg.norm(v[head // (H // K)]), "output": np.linalg.norm(o[:, head * d:(head + 1) * d])}
            for part, value in want.items():
                assert got[part] == pytest.approx(value, rel=1e-5), (layer, head, part)


def test_validate_and_inspect(reader):
    result = run("validate", GEMMA)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid (gguf, llama, 236 tensors)" in result.stdout
    result = run("inspect", GEMMA)
    assert result.returncode == 0, result.stderr
    for expected in ["gemma3 (llama family): 18 layers, d_model 640, 4 heads (1 key/value heads, GQA) of d_head 256",
                     "q/k RMSNorm per head", "norms after attention and MLP", "sliding window 512, layers 5, 11, 17 global",
                     "W_O stored as rows"]:
        assert expected in result.stdout, expected


def test_q4_k_m_of_its_dequantized_weights_chooses_the_published_files_types(tmp_path, reader):
    """The real file is a Q4_K_M made by llama.cpp: quantizing its f32 dequantization again with
    `--dtype q4_k_m` gives every one of its 236 tensors the type the published file has (Q4_K where rows
    are whole super-blocks, Q5_0 and Q8_0 where d_model 640 is not, Q6_K for the chosen layers' W_V and
    FFN down projection and for the tied embedding)."""
    f32, quantized = str(tmp_path / "f32.qkv"), str(tmp_path / "q4_k_m.gguf")
    for args in [(GEMMA, f32, "--dtype", "f32"), (f32, quantized, "--dtype", "q4_k_m")]:
        result = run("convert", *args, "--quiet")
        assert result.returncode == 0, result.stderr
    want = {t.name: t.tensor_type.name for t in reader.tensors}
    got = {t.name: t.tensor_type.name for t in gguf.GGUFReader(quantized).tensors}
    assert got == want


def reference_log_probs():
    """cases.json's "long" ids and the per-token log-probs transformers and llama.cpp give them
    (tools/make_gemma3_logprob_references.py)."""
    root = os.path.join(os.path.dirname(__file__), "..", "..", "Fixtures", "reference", "gemma3")
    cases = json.load(open(os.path.join(root, "cases.json")))
    ids = [c for c in cases["cases"] if c["name"] == "long"][0]["prompt_ids"]
    ref = json.load(open(os.path.join(root, "long-log-probs.json")))
    assert ref["gguf_sha256"] == cases["gguf_sha256"]
    return ids, np.array(ref["transformers"]["log_probs"]), np.array(ref["llama_cpp"]["log_probs"])


def score(ids, *flags):
    result = run("score", GEMMA, "--ids", ",".join(map(str, ids)), "--json", "--quiet", *flags)
    assert result.returncode == 0, result.stderr
    log_probs = json.loads(result.stdout)["log_probs"]
    assert log_probs[0] is None
    return np.array(log_probs[1:])


@pytest.mark.parametrize("flags", [(), ("--one-token-at-a-time",)])
def test_score_with_f32_activations_is_transformers_per_token(flags):
    """The default: the blocks' exact values times f32 activations, as a prompt or through decode steps."""
    ids, transformers, _ = reference_log_probs()
    n = 96
    got = score(ids[:n], *flags)
    assert np.abs(got - transformers[:n - 1]).max() < 1e-3


def test_score_with_eight_bit_activations_through_decode_steps_is_llama_cpps_arithmetic():
    """`--activations q8` quantizes what the blocks multiply as llama.cpp does: through decode steps, over
    159 tokens its mean log-prob lands beside llama.cpp's (the two differ token by token only in rounding
    details and llama.cpp's f16 KV cache) and away from the exact one."""
    ids, transformers, llamacpp = reference_log_probs()
    n = 160
    got = score(ids[:n], "--activations", "q8", "--one-token-at-a-time")
    mean, exact, peer = got.mean(), transformers[:n - 1].mean(), llamacpp[:n - 1].mean()
    assert abs(mean - peer) < 0.04, (mean, peer)
    assert abs(mean - exact) > 0.03, (mean, exact)


def test_score_with_eight_bit_activations_as_a_prompt_is_llama_cpps_arithmetic():
    """`--activations q8` as `score` runs it: as one prompt where the CPU has AVX-512 VNNI (panels of 8-bit
    integer products, another float rounding than decode steps), else through decode steps. 8-bit
    activations turn any rounding difference into a different draw of their noise (the two paths differ
    by 0.06 nats per token at the median on this text), so the mean is compared over 479 tokens: beside
    llama.cpp's and away from the exact one."""
    ids, transformers, llamacpp = reference_log_probs()
    n = 480
    got = score(ids[:n], "--activations", "q8")
    mean, exact, peer = got.mean(), transformers[:n - 1].mean(), llamacpp[:n - 1].mean()
    assert abs(mean - peer) < 0.02, (mean, peer)
    assert abs(mean - exact) > 0.03, (mean, exact)
