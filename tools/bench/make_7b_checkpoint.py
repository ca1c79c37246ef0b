#!/usr/bin/env python3
"""A 7B-shaped LLaMA checkpoint of random f16 weights, as a Hugging Face folder of sharded safetensors, for
tools/bench/scale.sh: 4096 wide, 32 layers, 32 query heads over 8 key/value heads, MLP 11008, vocabulary
32000 (about 6.7 B parameters, 13 GB). Written one shard at a time (each about 2 GB in memory at most);
never committed. Needs numpy and safetensors. LAYERS (default 32) makes a model of the same tensor shapes
with fewer layers, for profiling at a smaller size (4 layers: 1.9 GB).

    python make_7b_checkpoint.py OUT_FOLDER [LAYERS]
"""

import json
import os
import sys

import numpy as np
from safetensors.numpy import save_file

D, F, L, H, K, V = 4096, 11008, 32, 32, 8, 32000
HEAD = D // H
SHARD_BYTES = 2 << 30


def tensors():
    """(name, shape) of every tensor, in the order transformers saves them."""
    yield "model.embed_tokens.weight", (V, D)
    for i in range(L):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (D,)
        yield p + "self_attn.q_proj.weight", (H * HEAD, D)
        yield p + "self_attn.k_proj.weight", (K * HEAD, D)
        yield p + "self_attn.v_proj.weight", (K * HEAD, D)
        yield p + "self_attn.o_proj.weight", (D, H * HEAD)
        yield p + "post_attention_layernorm.weight", (D,)
        yield p + "mlp.gate_proj.weight", (F, D)
        yield p + "mlp.up_proj.weight", (F, D)
        yield p + "mlp.down_proj.weight", (D, F)
    yield "model.norm.weight", (D,)
    yield "lm_head.weight", (V, D)


def main():
    global L
    out = sys.argv[1]
    if len(sys.argv) > 2:
        L = int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": D, "intermediate_size": F,
              "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": K, "vocab_size": V,
              "max_position_embeddings": 4096, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
              "tie_word_embeddings": False, "torch_dtype": "float16", "bos_token_id": 1, "eos_token_id": 2}
    json.dump(config, open(os.path.join(out, "config.json"), "w"), indent=2)
    rng = np.random.default_rng(7)
    groups, current, size = [], [], 0
    for name, shape in tensors():
        n = int(np.prod(shape)) * 2
        if current and size + n > SHARD_BYTES:
            groups.append(current)
            current, size = [], 0
        current.append((name, shape))
        size += n
    groups.append(current)
    weight_map, total = {}, 0
    for index, group in enumerate(groups):
        file = f"model-{index + 1:05d}-of-{len(groups):05d}.safetensors"
        shard = {}
        for name, shape in group:
            if len(shape) == 1:
                shard[name] = (1 + 0.1 * rng.standard_normal(shape, dtype=np.float32)).astype(np.float16)
            else:
                shard[name] = (rng.standard_normal(shape, dtype=np.float32) * (1 / np.sqrt(shape[1]))).astype(np.float16)
            weight_map[name] = file
            total += shard[name].nbytes
        save_file(shard, os.path.join(out, file), metadata={"format": "pt"})
        print(f"{file}: {len(group)} tensors", flush=True)
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, open(os.path.join(out, "model.safetensors.index.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
