"""XLM-RoBERTa encoders at the real sizes of multilingual-e5-small, bge-m3 and
paraphrase-multilingual-MiniLM-L12-v2 (250k-row vocabularies, 12 and 24 layers, 384 and 1024 wide), random
weights rebuilt here from a seed by tools/xlmr_full_models.py: `qkv embed` gives sentence-transformers'
vectors of the same weights (Fixtures/reference/xlmr-full.json, made in the reference venv by
tools/make_xlmr_full_references.py), from the folder and after conversion to .qkv."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools"))
import xlmr_full_models  # noqa: E402

REFERENCE = json.load(open(os.path.join(REPO, "Fixtures", "reference", "xlmr-full.json"), encoding="utf-8"))


def embed(model, out):
    result = subprocess.run([qkv_binary(), "embed", model, *REFERENCE["texts"], "--format", "npy", "-o", str(out)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return np.load(out)


def assert_close(ours, want):
    assert ours.shape == want.shape
    cosines = (ours * want).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(want, axis=1))
    assert cosines.min() >= 0.9999, cosines
    assert np.abs(ours - want).max() < 1e-5, np.abs(ours - want).max()


@pytest.mark.parametrize("name", sorted(xlmr_full_models.MODELS))
def test_real_sized_random_encoders_embed_as_sentence_transformers(name, tmp_path):
    reference = REFERENCE["models"][name]
    assert reference["sizes"] == xlmr_full_models.MODELS[name][0], "the reference was made from other sizes"
    folder = xlmr_full_models.write(name, str(tmp_path / name))
    want = np.array(reference["embeddings"], dtype=np.float32)
    assert_close(embed(folder, tmp_path / "folder.npy"), want)
    if name == "multilingual-e5-small":
        converted = tmp_path / "model.qkv"
        result = subprocess.run([qkv_binary(), "convert", folder, str(converted), "--quiet"], capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        assert_close(embed(str(converted), tmp_path / "qkv.npy"), want)
