"""Fixtures/heads-roles.h5: a one-layer GPT-2-style model whose four heads were built by hand to have
known roles, for testing `qkv attention`'s head-role metrics against something that is true by
construction rather than against our own output.

Token embeddings are zero and position i's embedding is the one-hot e_i (model_dim = max_positions =
16), so after the first LayerNorm token i's vector is a·(e_i − 1/16) with the same a for every i; the
MLP is zero. With W_Q = c·I the query of token i points at e_i, and the keys decide the role:

  head 0  previous token   W_K = c·S, S e_j = e_{j+1}: token i's query matches key i − 1
  head 1  self             W_K = c·I: token i matches itself
  head 2  first token      W_Q = 0 and query bias c·e_0, W_K = c·I: every token matches key 0
  head 3  broad            W_Q = W_K = 0: every visible key scores the same, attention is uniform;
                           its W_O is zero, so it looks everywhere and changes nothing

Heads 0 to 2 have W_V = I and W_O = I on their slice, so their updates are not zero.
"""

import os

import numpy as np

import make_fixtures as mf

D = 16          # model_dim = max_positions = head_dim
SCALE = 2.0     # c: logits differ by c²a²/√d ≈ 17 between the chosen key and the rest


def model():
    config = {
        "family": "gpt2", "vocab_size": 8, "model_dim": D, "layer_count": 1, "head_count": 4, "kv_head_count": 4,
        "head_dim": D, "ffn_dim": 4, "max_positions": D, "norm": "layernorm", "norm_epsilon": 1e-5,
        "norm_placement": "pre", "activation": "gelu_tanh", "position_encoding": "learned", "tied_embeddings": True,
        "attention_bias": True, "mlp_bias": True,
    }
    return dict(name="heads-roles", seed=0, config=config, tokenizer={},
                provenance=dict(mf.PROVENANCE), user={}, has_pooler=False)


def weights(config):
    identity, shift = np.eye(D), np.eye(D, k=-1)     # shift @ e_j = e_{j+1}
    q = np.stack([SCALE * identity, SCALE * identity, np.zeros((D, D)), np.zeros((D, D))])
    k = np.stack([SCALE * shift, SCALE * identity, SCALE * identity, np.zeros((D, D))])
    q_bias = np.zeros((4, D))
    q_bias[2, 0] = SCALE * 4.0                       # head 2's query is c·e_0 (times a ≈ 4) for every token
    v = np.stack([identity] * 4)
    o = np.stack([identity, identity, identity, np.zeros((D, D))])   # [H, d, D]
    values = {
        "embed/token/weight": np.zeros((8, D)),
        "embed/position/weight": np.eye(D),
        "layers/0/attn/q/weight": q, "layers/0/attn/q/bias": q_bias,
        "layers/0/attn/k/weight": k, "layers/0/attn/k/bias": np.zeros((4, D)),
        "layers/0/attn/v/weight": v, "layers/0/attn/v/bias": np.zeros((4, D)),
        "layers/0/attn/o/weight": o, "layers/0/attn/o/bias": np.zeros(D),
        "layers/0/attn_norm/weight": np.ones(D), "layers/0/attn_norm/bias": np.zeros(D),
        "layers/0/mlp_norm/weight": np.ones(D), "layers/0/mlp_norm/bias": np.zeros(D),
        "final_norm/weight": np.ones(D), "final_norm/bias": np.zeros(D),
    }
    tensors = []
    for name, shape, role in mf.expected_tensors(config):
        array = values.get(name, np.zeros(shape))    # the MLP stays zero
        assert tuple(array.shape) == tuple(shape), (name, array.shape, shape)
        tensors.append((name, role, array.astype("<f4")))
    return tensors


def write_all(out_dir):
    m = model()
    path = os.path.join(out_dir, "heads-roles.h5")
    mf.write_h5(path, m, weights(m["config"]), "f32")
    print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
