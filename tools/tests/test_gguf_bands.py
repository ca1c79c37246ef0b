"""GGUF export of a Hugging Face LLaMA whose matrices span several of the writer's 512 KiB bands, the last
one partial (hidden 576: 9 query heads over 3 key/value heads of 64): every tensor, read back with gguf-py,
equals llama.cpp's converter transforms done by numpy (Q and K permuted, the rest as stored), whether
W_O goes from the safetensors file as it is or from a .qkv that holds it transposed (then transposed back
in bands)."""

import json
import os

import numpy as np
import pytest
from gguf import GGUFReader
from safetensors.numpy import save_file

from test_interop import qkv_convert

D, F, L, H, K, V = 576, 1000, 2, 9, 3, 300


def permute(w, heads):
    """llama.cpp's convert_hf_to_gguf.py `LlamaModel.permute`: Hugging Face's Q/K rows in ggml's RoPE order."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def make_checkpoint(folder, dtype):
    rng = np.random.default_rng(18)
    hd = D // H
    shapes = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,), "lm_head.weight": (V, D)}
    for i in range(L):
        p = f"model.layers.{i}."
        shapes.update({p + "input_layernorm.weight": (D,), p + "self_attn.q_proj.weight": (H * hd, D),
                       p + "self_attn.k_proj.weight": (K * hd, D), p + "self_attn.v_proj.weight": (K * hd, D),
                       p + "self_attn.o_proj.weight": (D, H * hd), p + "post_attention_layernorm.weight": (D,),
                       p + "mlp.gate_proj.weight": (F, D), p + "mlp.up_proj.weight": (F, D), p + "mlp.down_proj.weight": (D, F)})
    tensors = {name: rng.standard_normal(shape, dtype=np.float32).astype(dtype) for name, shape in shapes.items()}
    os.makedirs(folder)
    save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": D, "intermediate_size": F,
              "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": K, "vocab_size": V,
              "max_position_embeddings": 256, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
              "tie_word_embeddings": False, "torch_dtype": np.dtype(dtype).name, "bos_token_id": 1, "eos_token_id": 2}
    json.dump(config, open(os.path.join(folder, "config.json"), "w"))
    return tensors


def expected(hf):
    """The GGUF tensors llama.cpp's converter makes of `hf` (vectors widened to f32, as both write them)."""
    out = {"token_embd.weight": hf["model.embed_tokens.weight"], "output_norm.weight": hf["model.norm.weight"],
           "output.weight": hf["lm_head.weight"]}
    for i in range(L):
        p = f"model.layers.{i}."
        out.update({f"blk.{i}.attn_norm.weight": hf[p + "input_layernorm.weight"],
                    f"blk.{i}.attn_q.weight": permute(hf[p + "self_attn.q_proj.weight"], H),
                    f"blk.{i}.attn_k.weight": permute(hf[p + "self_attn.k_proj.weight"], K),
                    f"blk.{i}.attn_v.weight": hf[p + "self_attn.v_proj.weight"],
                    f"blk.{i}.attn_output.weight": hf[p + "self_attn.o_proj.weight"],
                    f"blk.{i}.ffn_norm.weight": hf[p + "post_attention_layernorm.weight"],
                    f"blk.{i}.ffn_gate.weight": hf[p + "mlp.gate_proj.weight"],
                    f"blk.{i}.ffn_up.weight": hf[p + "mlp.up_proj.weight"],
                    f"blk.{i}.ffn_down.weight": hf[p + "mlp.down_proj.weight"]})
    return {name: w.astype(np.float32) if w.ndim == 1 else w for name, w in out.items()}


def gguf_tensors(path):
    return {t.name: np.asarray(t.data) for t in GGUFReader(str(path)).tensors}


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_banded_export_equals_llama_cpp_transforms_from_safetensors_and_from_qkv(tmp_path, dtype):
    hf = make_checkpoint(tmp_path / "hf", dtype)
    want = expected(hf)
    direct = gguf_tensors(qkv_convert(tmp_path / "hf", tmp_path / "direct.gguf", "--to", "gguf", "-q"))
    qkv_convert(tmp_path / "hf", tmp_path / "m.qkv", "-q")
    via_qkv = gguf_tensors(qkv_convert(tmp_path / "m.qkv", tmp_path / "via.gguf", "--to", "gguf", "-q"))
    assert set(direct) == set(want) == set(via_qkv)
    for name, w in want.items():
        assert direct[name].dtype == w.dtype and direct[name].tobytes() == w.tobytes(), name
        assert via_qkv[name].tobytes() == w.tobytes(), name
