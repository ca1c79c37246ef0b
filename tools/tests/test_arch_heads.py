"""`qkv inspect --heads` and `qkv attention` on every architecture's tiny reference model
(Fixtures/reference/archs, made by transformers and llama.cpp's converter):

* each head's |W_Q|, |W_K|, |W_V| and |W_O| equal numpy's Frobenius norms of the same slices of the
  Hugging Face safetensors (q/k/v rows h·d ..< (h+1)·d, a key/value head shared by H/K query heads, o_proj's
  columns; Phi-3's fused qkv_proj split as transformers splits it), and the GGUF gives the same norms;
* `attention --json`: one record per layer and head, every probability row a distribution over the
  tokens so far (causal: nothing above the diagonal), sliding windows kept where the config has one, and
  the same from the GGUF as from the folder (but Mistral's, whose window llama.cpp's GGUF cannot hold).
"""

import json
import os
import subprocess

import numpy as np
import pytest
from safetensors.numpy import load_file

from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCHS = os.path.join(REPO, "Fixtures", "reference", "archs")
NAMES = sorted(n for n in os.listdir(ARCHS) if os.path.isdir(os.path.join(ARCHS, n)))


def run_json(*args):
    result = subprocess.run([qkv_binary(), *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def projections(folder, config, layer):
    """q [H·d, D], k [K·d, D], v [K·d, D], o [D, H·d] of one layer, from model.safetensors."""
    tensors = load_file(os.path.join(folder, "model.safetensors"))
    prefix = "model.layers.%d.self_attn." % layer
    H, K = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    d = config.get("head_dim") or config["hidden_size"] // H
    if prefix + "qkv_proj.weight" in tensors:
        fused = tensors[prefix + "qkv_proj.weight"]
        q, k, v = fused[:H * d], fused[H * d:(H + K) * d], fused[(H + K) * d:]
    else:
        q, k, v = (tensors[prefix + n + "_proj.weight"] for n in ("q", "k", "v"))
    return q.astype(np.float64), k.astype(np.float64), v.astype(np.float64), tensors[prefix + "o_proj.weight"].astype(np.float64), H, K, d


@pytest.mark.parametrize("name", NAMES)
def test_head_norms_equal_numpy_on_the_safetensors(name):
    folder = os.path.join(ARCHS, name)
    config = json.load(open(os.path.join(folder, "config.json")))
    config = config.get("text_config", config)
    heads = run_json("inspect", folder, "--heads", "--json")["heads"]
    from_gguf = run_json("inspect", os.path.join(folder, "model.gguf"), "--heads", "--json")["heads"]
    layers = config["num_hidden_layers"]
    for layer in range(layers):
        q, k, v, o, H, K, d = projections(folder, config, layer)
        for head in range(H):
            kv = head // (H // K)
            want = {"query": np.linalg.norm(q[head * d:(head + 1) * d]), "key": np.linalg.norm(k[kv * d:(kv + 1) * d]),
                    "value": np.linalg.norm(v[kv * d:(kv + 1) * d]), "output": np.linalg.norm(o[:, head * d:(head + 1) * d])}
            for source, records in (("folder", heads), ("gguf", from_gguf)):
                got = next(h for h in records if h["layer"] == layer and h["head"] == head)
                for part, value in want.items():
                    assert got[part] == pytest.approx(value, rel=1e-5), (name, source, layer, head, part)


@pytest.mark.parametrize("name", NAMES)
def test_attention_gives_causal_distributions_for_every_head(name):
    folder = os.path.join(ARCHS, name)
    ids = "1,5,9,13,17,21,25,29,33,37,41,45"
    report = run_json("attention", folder, "--ids", ids, "--json")
    config = report["config"]
    assert len(report["heads"]) == config["layers"] * config["heads"]
    T = len(ids.split(","))
    for head in report["heads"]:
        p = np.array(head["probabilities"], dtype=np.float64)
        assert p.shape == (T, T), (name, head["layer"], head["head"])
        assert np.allclose(p.sum(axis=1), 1, atol=1e-5), (name, head["layer"], head["head"])
        assert np.all(p[np.triu_indices(T, 1)] == 0), (name, head["layer"], head["head"])
    # Sliding windows: a query sees at most the last `window` tokens (Mistral, Phi-3, and Gemma's local layers).
    hf = json.load(open(os.path.join(folder, "config.json")))
    hf = hf.get("text_config", hf)
    window = hf.get("sliding_window")
    if window and window < T and hf.get("use_sliding_window", True) is not False:
        windowed = [h for h in report["heads"] if np.array(h["probabilities"])[T - 1, :T - window].sum() == 0]
        assert windowed, (name, "no layer keeps to the window of %d" % window)
    gguf = run_json("attention", os.path.join(folder, "model.gguf"), "--ids", ids, "--json")
    for a, b in zip(report["heads"], gguf["heads"]):
        same = np.allclose(np.array(a["probabilities"]), np.array(b["probabilities"]), atol=1e-5)
        # llama.cpp's converter writes Mistral as `llama`, which has no window: its GGUF attends to all.
        assert same == (name != "mistral"), (name, a["layer"], a["head"])
