"""`qkv generate` and `qkv score` end to end against transformers (PyTorch): greedy tokens and per-token
log-probabilities of the decoder reference cases in Fixtures/reference/decoders (made once by
tools/make_decoder_references.py; CI has no PyTorch). Every input format qkv reads goes in as it is:
the Hugging Face folders directly, tiny.gguf directly, reduced-precision cases after `qkv convert --dtype`."""

import json
import os
import subprocess

import numpy as np
import pytest

from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(REPO, "Fixtures", "reference", "decoders")
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")


def cases():
    with open(os.path.join(REFERENCE, "cases.json"), encoding="utf-8") as f:
        return json.load(f)


def model_path(case, tmp_path):
    spec = case["model"]
    path = os.path.join(CACHE, spec[len("QKV_MODELS:"):]) if spec.startswith("QKV_MODELS:") else os.path.join(REPO, spec)
    assert os.path.exists(path), f"{path} is missing: run tools/fetch-models.sh"
    if case["dtype"] == "f32":
        return path
    out = str(tmp_path / f"{case['name']}.qkv")
    result = subprocess.run([qkv_binary(), "convert", path, out, "--dtype", case["dtype"], "-q"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


def log_softmax(logits):
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["name"])
def test_generate_greedy_matches_transformers(case, tmp_path):
    ids = ",".join(map(str, case["prompt_ids"]))
    result = subprocess.run([qkv_binary(), "generate", model_path(case, tmp_path), "--prompt-ids", ids, "--max-tokens",
                             str(len(case["greedy_ids"])), "--ignore-eos", "--ids", "--threads", "2"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert [int(t) for t in result.stdout.split()] == case["greedy_ids"]
    last = result.stderr.strip().splitlines()[-1]
    assert f"prompt {len(case['prompt_ids'])} tokens" in last and f"generated {len(case['greedy_ids'])} tokens" in last, last


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["name"])
def test_score_matches_transformers_log_probabilities(case, tmp_path):
    prompt = case["prompt_ids"]
    result = subprocess.run([qkv_binary(), "score", model_path(case, tmp_path), "--ids", ",".join(map(str, prompt)), "--json", "-q"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    got = json.loads(result.stdout)
    assert got["ids"] == prompt and got["log_probs"][0] is None
    expected = log_softmax(np.load(os.path.join(REFERENCE, case["logits"])))
    want = np.array([expected[t - 1, prompt[t]] for t in range(1, len(prompt))])
    ours = np.array(got["log_probs"][1:], dtype=np.float64)
    assert np.abs(ours - want).max() < 1e-4 * max(1.0, np.abs(want).max())
    if -want.mean() < 700:
        assert got["perplexity"] == pytest.approx(float(np.exp(-want.mean())), rel=1e-4)
    else:
        assert got["perplexity"] is None, "a perplexity beyond float range is null in JSON"
