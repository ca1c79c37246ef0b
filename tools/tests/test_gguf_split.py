"""Split GGUFs (llama.cpp's gguf-split layout) both ways, against gguf-split itself
(Fixtures/reference/gguf-split, made by tools/make_gguf_split_references.py):

* `qkv convert IN OUT.gguf --split-max-tensors 7` of llama-tiny and `--split-max-size 100M` of the real
  Gemma 3 270M give gguf-split's shards byte for byte (names, keys in its order, tensors, padding);
* qkv reads gguf-split's shards as one model: converted back to one GGUF it is the original file byte
  for byte, and inspect, validate and generate run from the first shard;
* a shard that is not the first, a missing shard, a split of a non-GGUF output and a bad size are
  refused with messages that say so.
"""

import filecmp
import json
import os
import shutil
import subprocess

import pytest

from make_decoder_references import sha256
from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFS = os.path.join(REPO, "Fixtures", "reference", "gguf-split")
REFERENCE = json.load(open(os.path.join(REFS, "references.json")))
TINY = os.path.join(REPO, "Fixtures", "gguf", "llama-tiny.gguf")
MODELS = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
GEMMA = os.path.join(MODELS, "gemma3", "gemma-3-270m-q4_k_m.gguf")


def run(*args):
    return subprocess.run([qkv_binary(), *map(str, args)], capture_output=True, text=True)


def test_split_by_tensor_count_is_gguf_splits_bytes(tmp_path):
    result = run("convert", TINY, tmp_path / "llama-tiny.gguf", "--split-max-tensors", "7", "--quiet")
    assert result.returncode == 0, result.stderr
    want = REFERENCE["llama-tiny --split-max-tensors 7"]
    assert sorted(os.listdir(tmp_path)) == [name for name, _ in want]
    for name, digest in want:
        assert sha256(tmp_path / name) == digest, name
        assert filecmp.cmp(tmp_path / name, os.path.join(REFS, name), shallow=False)


def test_split_by_size_of_the_real_gemma_is_gguf_splits_bytes(tmp_path):
    assert sha256(GEMMA) == REFERENCE["gemma sha256"]
    result = run("convert", GEMMA, tmp_path / "gemma.gguf", "--split-max-size", "100M", "--quiet")
    assert result.returncode == 0, result.stderr
    want = REFERENCE["gemma --split-max-size 100M"]
    assert sorted(os.listdir(tmp_path)) == [name for name, _ in want]
    for name, digest in want:
        assert sha256(tmp_path / name) == digest, name
    # Read back as one model and written whole: the original file.
    result = run("convert", tmp_path / want[0][0], tmp_path / "whole.gguf", "--quiet")
    assert result.returncode == 0, result.stderr
    assert filecmp.cmp(tmp_path / "whole.gguf", GEMMA, shallow=False)


def test_gguf_splits_shards_read_as_one_model(tmp_path):
    first = os.path.join(REFS, "llama-tiny-00001-of-00003.gguf")
    result = run("convert", first, tmp_path / "whole.gguf", "--quiet")
    assert result.returncode == 0, result.stderr
    assert filecmp.cmp(tmp_path / "whole.gguf", TINY, shallow=False)
    for command in (["inspect", first], ["validate", "--deep", first], ["generate", first, "hello", "--max-tokens", "3"]):
        result = run(*command)
        assert result.returncode == 0, (command, result.stderr)
    assert "split.count" not in run("inspect", first).stdout


def test_a_later_shard_alone_is_refused(tmp_path):
    result = run("validate", os.path.join(REFS, "llama-tiny-00002-of-00003.gguf"))
    assert result.returncode == 1
    assert "not the first of 3 shards" in result.stdout + result.stderr


def test_a_missing_shard_is_named(tmp_path):
    for name in ("llama-tiny-00001-of-00003.gguf", "llama-tiny-00002-of-00003.gguf"):
        shutil.copy(os.path.join(REFS, name), tmp_path / name)
    result = run("validate", tmp_path / "llama-tiny-00001-of-00003.gguf")
    assert result.returncode == 1
    said = result.stdout + result.stderr
    assert "shard 3 of 3" in said and "llama-tiny-00003-of-00003.gguf" in said


@pytest.mark.parametrize("args,message", [
    (["out.qkv", "--split-max-size", "100M"], "GGUF output only"),
    (["out.gguf", "--split-max-size", "100K"], "whole number of M or G"),
    (["out.gguf", "--split-max-size", "1M", "--split-max-tensors", "3"], "not both"),
    (["out.gguf", "--split-max-tensors", "0"], "at least 1"),
])
def test_bad_split_options_are_refused(tmp_path, args, message):
    result = run("convert", TINY, tmp_path / args[0], *args[1:])
    assert result.returncode != 0
    assert message in result.stderr
    assert os.listdir(tmp_path) == []
