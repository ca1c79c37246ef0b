"""`qkv embed` end to end (tokenizer, encoder, pooling, normalisation, npy output) on the real MiniLM
against sentence-transformers' embeddings of the same sentences (Fixtures/reference, made with PyTorch by
tools/make_references.py)."""

import json
import os
import subprocess

import numpy as np
import pytest

from test_interop import qkv_binary
from test_real_models import minilm

REFERENCE = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "Fixtures", "reference")


def reference():
    with open(os.path.join(REFERENCE, "minilm-sentences.json"), encoding="utf-8") as f:
        sentences = json.load(f)["sentences"]
    return sentences, np.load(os.path.join(REFERENCE, "minilm-embeddings.npy"))


@pytest.mark.parametrize("batch", ["1", "7", "32"])
def test_embed_matches_sentence_transformers(tmp_path, batch):
    sentences, expected = reference()
    # One text per line: the reference set has tabs and a CR LF inside one sentence, which a line-based
    # file cannot carry, so those go as arguments.
    plain = [s for s in sentences if "\n" not in s and "\r" not in s]
    (tmp_path / "in.txt").write_text("\n".join(plain) + "\n", encoding="utf-8")
    args = [qkv_binary(), "embed", minilm(), "--file", str(tmp_path / "in.txt"), "--batch", batch, "--format", "npy", "-o", str(tmp_path / "out.npy")]
    result = subprocess.run(args, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ours = np.load(tmp_path / "out.npy")
    want = np.stack([expected[sentences.index(s)] for s in plain])
    assert ours.shape == want.shape and ours.dtype == np.float32
    cosines = (ours * want).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(want, axis=1))
    assert cosines.min() >= 0.9999, (cosines.min(), plain[int(cosines.argmin())])
    assert np.abs(ours - want).max() < 1e-4


@pytest.mark.parametrize("batch", ["1", "32"])
def test_embed_with_bf16_activations_stays_within_cosine_of_sentence_transformers(tmp_path, batch):
    """`--activations bf16` rounds the layers' weights and tokens to bf16 (where the CPU has AVX512_BF16;
    elsewhere it computes the exact path): the vectors keep cosine >= 0.9999 with sentence-transformers'."""
    sentences, expected = reference()
    plain = [s for s in sentences if "\n" not in s and "\r" not in s]
    (tmp_path / "in.txt").write_text("\n".join(plain) + "\n", encoding="utf-8")
    out = tmp_path / "out.npy"
    result = subprocess.run([qkv_binary(), "embed", minilm(), "--file", str(tmp_path / "in.txt"), "--batch", batch,
                             "--activations", "bf16", "--format", "npy", "-o", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    ours = np.load(out)
    want = np.stack([expected[sentences.index(s)] for s in plain])
    cosines = (ours * want).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(want, axis=1))
    assert cosines.min() >= 0.9999, (cosines.min(), plain[int(cosines.argmin())])


def test_embed_arguments_json_and_similarity(tmp_path):
    sentences, expected = reference()
    texts = [sentences[0], sentences[23]]          # the second has a tab, a newline and a CR LF
    out = subprocess.run([qkv_binary(), "embed", minilm(), *texts], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    vectors = np.array(json.loads(out.stdout), dtype=np.float32)
    for v, i in zip(vectors, (0, 23)):
        assert float(v @ expected[i]) / (np.linalg.norm(v) * np.linalg.norm(expected[i])) >= 0.9999
    sim = subprocess.run([qkv_binary(), "embed", minilm(), *texts, "--similarity", "--format", "json"], capture_output=True, text=True)
    matrix = np.array(json.loads(sim.stdout))
    assert matrix.shape == (2, 2) and abs(matrix[0, 1] - float(expected[0] @ expected[23])) < 1e-4


def test_output_to_dev_null_leaves_it_a_device():
    """`-o /dev/null` writes into the device; an atomic rename over it would make it a regular file."""
    import stat
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode), "this machine's /dev/null is not a device"
    result = subprocess.run([qkv_binary(), "embed", minilm(), "one sentence", "--format", "npy", "-o", "/dev/null"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
