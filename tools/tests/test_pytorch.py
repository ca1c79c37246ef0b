"""`pytorch_model.bin` read without running its pickle (Sources/QKVFormat/PyTorch), against torch.load:

* Fixtures/pytorch (written by torch.save in the reference venv, tools/make_pytorch_fixtures.py): BERT,
  GPT-2 (with its bool causal-mask buffers), LLaMA, LLaMA in three shards with an index, and a LLaMA
  whose tensors are a transposed view, two views of one storage and a Parameter. Every tensor qkv
  exports (HF names) has the bytes torch.load gives (Fixtures/pytorch/references.json), and the .qkv
  made from the .bin equals the one made from the same model's safetensors;
* hostile and broken files (tools/fixtures_pytorch.py): a pickle reaching os.system, eval, subprocess,
  getattr through STACK_GLOBAL, memo, stack and nesting bombs, a list put into itself or filled after
  it was used, storages too small or missing, strides that
  overflow, a compressed or truncated zip: each refused with exit 1 and a message naming the part, and
  nothing they ask for is run.
"""

import hashlib
import json
import os
import subprocess

import numpy as np
import pytest
from safetensors.numpy import load_file

import fixtures_pytorch as fp
from qkv_numpy import read_qkv
from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "Fixtures", "pytorch")
REFERENCE = json.load(open(os.path.join(FIXTURES, "references.json")))
BUFFERS = (".position_ids", ".attn.bias", ".attn.masked_bias")


def run(*args):
    return subprocess.run([qkv_binary(), *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("folder", sorted(REFERENCE["folders"]))
def test_every_tensor_equals_torch_load(folder, tmp_path):
    result = run("convert", os.path.join(FIXTURES, folder), str(tmp_path / "hf") + "/", "--to", "safetensors", "--quiet")
    assert result.returncode == 0, result.stderr
    exported = load_file(str(tmp_path / "hf" / "model.safetensors"))
    want = REFERENCE["folders"][folder]
    compared = 0
    for name, ref in want.items():
        if name.endswith(BUFFERS):
            continue
        assert name in exported, name
        array = exported[name]
        assert list(array.shape) == ref["shape"], name
        assert array.dtype == np.dtype(ref["dtype"]), name
        assert hashlib.sha256(array.tobytes()).hexdigest() == ref["sha256"], name
        compared += 1
    assert compared == len(exported) and compared > 0


@pytest.mark.parametrize("folder", ["bert-tiny", "gpt2-tiny", "llama-tiny"])
def test_qkv_from_pytorch_equals_qkv_from_safetensors(folder, tmp_path):
    for source, out in [(os.path.join(FIXTURES, folder), "pt.qkv"), (os.path.join(REPO, "Fixtures", "hf", folder), "st.qkv")]:
        result = run("convert", source, tmp_path / out, "--quiet")
        assert result.returncode == 0, result.stderr
    pt_meta, pt = read_qkv(str(tmp_path / "pt.qkv"))
    st_meta, st = read_qkv(str(tmp_path / "st.qkv"))
    assert list(pt) == list(st)
    for name in pt:
        assert np.asarray(pt[name]["array"]).tobytes() == np.asarray(st[name]["array"]).tobytes(), name
    assert pt_meta["provenance.source_format"] == "pytorch"
    same = [k for k in st_meta if not k.startswith("provenance.")]
    assert sorted(same) == sorted(k for k in pt_meta if not k.startswith("provenance."))
    for key in same:
        assert np.array_equal(np.asarray(pt_meta[key]), np.asarray(st_meta[key])), key


def test_a_legacy_file_reads_as_the_same_model():
    """torch.save's format before PyTorch 1.6 (no zip): read alone and in its folder, and the model it
    holds generates what the zip of the same tensors generates."""
    legacy = os.path.join(FIXTURES, "llama-tiny-legacy")
    result = run("inspect", os.path.join(legacy, "pytorch_model.bin"))
    assert result.returncode == 0, result.stderr
    assert "(pytorch," in result.stdout.splitlines()[0]
    outputs = []
    for folder in (legacy, os.path.join(FIXTURES, "llama-tiny-strided")):
        result = run("generate", folder, "hello", "--max-tokens", "6", "--temperature", "0", "--ids", "--quiet")
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1] and outputs[0].strip()


def test_inspect_says_pytorch_and_the_model_runs():
    result = run("inspect", os.path.join(FIXTURES, "llama-tiny", "pytorch_model.bin"))
    assert result.returncode == 0, result.stderr
    assert "(pytorch," in result.stdout.splitlines()[0]
    result = run("generate", os.path.join(FIXTURES, "llama-tiny-sharded"), "hello", "--max-tokens", "4")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("case", fp.hostile_cases("MARKER"), ids=lambda c: c[0])
def test_hostile_and_broken_files_are_refused_and_nothing_runs(case, tmp_path):
    name, _, error, fragment = case
    marker = tmp_path / "ran"
    data = [c for c in fp.hostile_cases(str(marker)) if c[0] == name][0][1]
    path = tmp_path / name
    path.write_bytes(data)
    for command in ("validate", "inspect"):
        result = run(command, path)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        said = result.stdout + result.stderr
        assert fragment in said, (command, said)
        assert str(path) in said
        assert "Fatal error" not in said
    assert not marker.exists(), "the pickle ran"
    assert error  # the PyTorchError case, listed for the conformance corpus


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt"])
def test_a_good_file_without_config_says_what_is_missing(tmp_path, name):
    """Read as PyTorch weights by its zip signature whatever its name; the architecture needs config.json."""
    path = tmp_path / name
    path.write_bytes(fp.good_checkpoint())
    result = run("validate", path)
    assert result.returncode == 1
    assert "config.json" in result.stdout + result.stderr
