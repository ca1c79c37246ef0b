"""`qkv convert --dtype` to the K types and llama.cpp's mixes, against llama.cpp's own `llama-quantize`
(Fixtures/reference/kquant/references.json, made by tools/make_kquant_references.py):

* the sources: two f32 LLaMAs tools/fixtures_quant.py writes (checked first to be the values llama.cpp
  quantized, every tensor's SHA-256) and every architecture's f32 GGUF written by llama.cpp's converter
  (Fixtures/reference/archs: Gemma 2 and 3, Llama 3, Mistral, Phi-3 with its fused attn_qkv, Qwen2,
  Qwen3, SmolLM2);
* for every scheme, every tensor of qkv's GGUF output has the type llama.cpp chose for it and the same
  bytes: the reference quantizers bit for bit, the per-tensor choices of the mixes (layers given more
  bits, the output head, W_V, W_O, the FFN down projection), and the fallbacks to 32-value types when a
  row is not whole super-blocks (source b, d_model 320);
* the quantized model goes GGUF -> .qkv -> GGUF byte-identically and runs.
"""

import concurrent.futures
import filecmp
import hashlib
import json
import os
import subprocess

import gguf
import pytest

import fixtures_quant as fq
from qkv_numpy import read_qkv
from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = json.load(open(os.path.join(REPO, "Fixtures", "reference", "kquant", "references.json")))
RUNS = [(variant, scheme) for variant, schemes in REFERENCE["quantized"].items() for scheme in schemes]


def sha256(data):
    return hashlib.sha256(memoryview(data).cast("B")).hexdigest()


def source_path(tmp, variant):
    """The two LLaMAs are written here; the architectures' GGUFs are committed (llama.cpp's converter)."""
    if variant in fq.KQUANT_SOURCES:
        path = str(tmp / ("source-%s.gguf" % variant))
        fq.write_kquant_source(path, variant)
        return path
    return os.path.join(REPO, "Fixtures", "reference", "archs", variant, "model.gguf")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """Every (source, scheme) converted by qkv, two at a time: {(variant, scheme): path}."""
    tmp = tmp_path_factory.mktemp("kquant")
    sources = {}
    for variant in REFERENCE["sources"]:
        sources[variant] = source_path(tmp, variant)
    binary = qkv_binary()

    def convert(run):
        variant, scheme = run
        out = str(tmp / ("%s-%s.gguf" % run))
        done = subprocess.run([binary, "convert", sources[variant], out, "--dtype", scheme, "--quiet"], capture_output=True, text=True)
        return run, out, done

    outputs = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for run, out, done in pool.map(convert, RUNS):
            outputs[run] = (out, done)
    return sources, outputs


@pytest.mark.parametrize("variant", sorted(REFERENCE["sources"]))
def test_the_sources_are_the_values_llama_cpp_quantized(variant, tmp_path):
    reader = gguf.GGUFReader(source_path(tmp_path, variant))
    got = {t.name: sha256(t.data.tobytes()) for t in reader.tensors}
    assert got == REFERENCE["sources"][variant], "the source changed (numpy's RandomState stream?): the references no longer apply"


@pytest.mark.parametrize("variant,scheme", RUNS)
def test_every_tensor_has_llama_cpp_type_and_bytes(converted, variant, scheme):
    _, outputs = converted
    out, done = outputs[(variant, scheme)]
    assert done.returncode == 0, done.stderr
    want = REFERENCE["quantized"][variant][scheme]
    reader = gguf.GGUFReader(out)
    got = {t.name: {"type": t.tensor_type.name, "sha256": sha256(t.data.tobytes())} for t in reader.tensors}
    assert sorted(got) == sorted(want)
    wrong_type = {name: (got[name]["type"], want[name]["type"]) for name in want if got[name]["type"] != want[name]["type"]}
    assert not wrong_type, "(qkv, llama.cpp) types differ: %s" % wrong_type
    wrong_bytes = sorted(name for name in want if got[name]["sha256"] != want[name]["sha256"])
    assert not wrong_bytes, "bytes differ from llama.cpp's in %s" % wrong_bytes


def test_mixes_give_the_chosen_layers_more_bits(converted):
    """What the byte checks imply, said plainly for one mix: Q4_K_M's W_V and FFN down projection are
    Q6_K in layers 0, 3, 6, 7 of 8 (llama.cpp's use_more_bits) and Q4_K elsewhere; the head is Q6_K."""
    want = REFERENCE["quantized"]["a"]["q4_k_m"]
    for layer in range(8):
        more = layer in (0, 3, 6, 7)
        for role in ("attn_v", "ffn_down"):
            assert want["blk.%d.%s.weight" % (layer, role)]["type"] == ("Q6_K" if more else "Q4_K")
    assert want["output.weight"]["type"] == "Q6_K" and want["token_embd.weight"]["type"] == "Q4_K"


def test_quantized_model_round_trips_through_qkv_and_runs(converted, tmp_path):
    _, outputs = converted
    out, done = outputs[("a", "q4_k_m")]
    assert done.returncode == 0, done.stderr
    binary = qkv_binary()
    subprocess.run([binary, "convert", out, tmp_path / "m.qkv", "--quiet"], check=True)
    subprocess.run([binary, "convert", tmp_path / "m.qkv", tmp_path / "back.gguf", "--quiet"], check=True)
    assert filecmp.cmp(out, tmp_path / "back.gguf", shallow=False)
    # The .qkv keeps the blocks, W_O as rows [D, H·d] (its blocks run along H·d, as in GGUF).
    metadata, tensors = read_qkv(str(tmp_path / "m.qkv"))
    assert metadata["config.attn_output_layout"] == "rows"
    assert list(tensors["layers/0/attn/o/weight"]["shape"]) == [256, 256] and tensors["layers/0/attn/o/weight"]["dtype"] == "q4_k"
    assert tensors["layers/0/attn/v/weight"]["dtype"] == "q6_k"
    run = subprocess.run([binary, "generate", tmp_path / "m.qkv", "hello", "--max-tokens", "8"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_direct_qkv_output_equals_the_gguf_route(converted, tmp_path):
    """`--dtype` to .qkv writes the same blocks as to GGUF."""
    sources, outputs = converted
    binary = qkv_binary()
    subprocess.run([binary, "convert", sources["b"], tmp_path / "b.qkv", "--dtype", "q4_k_m", "--quiet"], check=True)
    subprocess.run([binary, "convert", tmp_path / "b.qkv", tmp_path / "b.gguf", "--quiet"], check=True)
    want = {t.name: sha256(t.data.tobytes()) for t in gguf.GGUFReader(outputs[("b", "q4_k_m")][0]).tensors}
    got = {t.name: sha256(t.data.tobytes()) for t in gguf.GGUFReader(str(tmp_path / "b.gguf")).tensors}
    assert got == want
