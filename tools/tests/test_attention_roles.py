"""`qkv attention --json` head metrics on the real MiniLM and on a LLaMA with GQA, recomputed with numpy
from transformers' own attention probabilities and update norms (Fixtures/reference/attention, made by
tools/make_attention_references.py), and the per-head weight norms recomputed from the safetensors file:
the metrics are checked on numbers qkv did not produce."""

import json
import os
import subprocess

import numpy as np
import pytest
from safetensors.numpy import load_file

from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.path.join(REPO, "Fixtures", "reference", "attention")
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")


def cases():
    with open(os.path.join(REFERENCE, "cases.json"), encoding="utf-8") as f:
        return json.load(f)["cases"]


def path_of(spec):
    return os.path.join(CACHE, spec[len("QKV_MODELS:"):]) if spec.startswith("QKV_MODELS:") else os.path.join(REPO, spec)


def metrics(p, causal):
    """The profile of one head from its [T, T] probabilities, as Specs say: means over the query rows
    that see at least two keys."""
    T = p.shape[0]
    rows = [i for i in range(T) if (i + 1 if causal else T) >= 2]
    out = {"previous_token": [], "current_token": [], "next_token": [], "first_token": [], "last_token": [],
           "entropy": [], "normalized_entropy": [], "mean_distance": []}
    for i in rows:
        seen = i + 1 if causal else T
        row = p[i, :seen].astype(np.float64)
        out["previous_token"].append(p[i, i - 1] if i > 0 else 0)
        out["current_token"].append(p[i, i])
        out["next_token"].append(p[i, i + 1] if i + 1 < T else 0)
        out["first_token"].append(p[i, 0])
        out["last_token"].append(0 if causal else p[i, T - 1])
        nz = row[row > 0]
        h = float(-(nz * np.log(nz)).sum())
        out["entropy"].append(h)
        out["normalized_entropy"].append(h / np.log(seen))
        out["mean_distance"].append(float((row * np.abs(i - np.arange(seen))).sum()))
    return {k: float(np.mean(v)) for k, v in out.items()}


@pytest.mark.parametrize("case", [c for c in cases() if c["name"] in ("minilm", "llama-saved")], ids=lambda c: c["name"])
def test_head_metrics_match_numpy_on_transformers_attention(case):
    args = [qkv_binary(), "attention", path_of(case["model"])]
    args += [case["text"]] if "text" in case else ["--ids", ",".join(map(str, case["ids"]))]
    result = subprocess.run(args + ["--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ids"] == case["ids"]
    attentions = np.load(os.path.join(REFERENCE, case["attentions"]))
    updates = np.load(os.path.join(REFERENCE, case["updates"]))
    causal = case["name"] != "minilm"
    heads = attentions.shape[1]
    assert len(report["heads"]) == attentions.shape[0] * heads
    for head in report["heads"]:
        want = metrics(attentions[head["layer"], head["head"]], causal)
        for key, value in want.items():
            assert head[key] == pytest.approx(value, abs=2e-5), (head["layer"], head["head"], key)
        assert head["mean_update_norm"] == pytest.approx(float(updates[head["layer"], head["head"]].mean()), rel=1e-4)
    # Roles follow from the metrics: the strongest positional score when it reaches 0.4.
    by_name = {(h["layer"], h["head"]): h for h in report["heads"]}
    if case["name"] == "minilm":
        assert by_name[(0, 2)]["role"] == "previous token" and by_name[(0, 2)]["previous_token"] > 0.9
        assert by_name[(1, 8)]["role"] == "next token"


def test_weight_norms_are_the_safetensors_slabs():
    """The per-head Frobenius norms in the report are those of the stored W_Q, W_K, W_V, W_O rows/columns."""
    case = next(c for c in cases() if c["name"] == "llama-saved")
    folder = path_of(case["model"])
    result = subprocess.run([qkv_binary(), "attention", folder, "--ids", "1,2,3", "--json"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    d = config["head_dim"]
    group = config["num_attention_heads"] // config["num_key_value_heads"]
    assert group > 1, "the case is meant to have GQA"
    for head in report["heads"]:
        layer, h = head["layer"], head["head"]
        prefix = f"model.layers.{layer}.self_attn."
        q = tensors[prefix + "q_proj.weight"][h * d:(h + 1) * d]
        k = tensors[prefix + "k_proj.weight"][(h // group) * d:(h // group + 1) * d]
        o = tensors[prefix + "o_proj.weight"][:, h * d:(h + 1) * d]
        assert head["kv_head"] == h // group
        assert head["weights"]["query"] == pytest.approx(float(np.linalg.norm(q.astype(np.float64))), rel=1e-6)
        assert head["weights"]["key"] == pytest.approx(float(np.linalg.norm(k.astype(np.float64))), rel=1e-6)
        assert head["weights"]["output"] == pytest.approx(float(np.linalg.norm(o.astype(np.float64))), rel=1e-6)
