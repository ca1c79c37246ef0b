#!/usr/bin/env python3
"""PyTorch checkpoints (`pytorch_model.bin`) written by torch itself, for qkv's pickle-free reader, and what
`torch.load` reads back from them. Runs once, by hand, outside CI, in the reference venv (torch,
safetensors); writes Fixtures/pytorch/:

    bert-tiny/, gpt2-tiny/, llama-tiny/   the Fixtures/hf models' tensors (their model.safetensors) saved by
                                          torch.save as a state dict, config and tokenizer files copied
                                          (transformers 5's save_pretrained writes only safetensors); GPT-2
                                          with the causal-mask buffers older GPT-2 checkpoints carry
    llama-tiny-sharded/                   the same LLaMA as pytorch_model-0000N-of-0000M.bin shards and
                                          pytorch_model.bin.index.json, as transformers shards them
    llama-tiny-strided/                   torch.save of the LLaMA's state dict where one matrix is a
                                          transposed view (strides not row-major), two tensors share one
                                          storage at different offsets, and the tensors are Parameters
    llama-tiny-legacy/                    the same, in torch.save's format before PyTorch 1.6
                                          (`_use_new_zipfile_serialization=False`)
    references.json                       per folder and tensor: dtype, shape and the SHA-256 of the
                                          row-major bytes torch.load gives (`tensor.contiguous().numpy()`)

    ~/.cache/qkv-ref-venv/bin/python tools/make_pytorch_fixtures.py
"""

import hashlib
import json
import os
import shutil

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HF = os.path.join(REPO, "Fixtures", "hf")
OUT = os.path.join(REPO, "Fixtures", "pytorch")
AUX = ["config.json", "tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "merges.txt",
       "special_tokens_map.json", "tokenizer.model", "modules.json", "sentence_bert_config.json"]


def copy_aux(src, dst):
    for name in AUX:
        if os.path.exists(os.path.join(src, name)):
            shutil.copy(os.path.join(src, name), os.path.join(dst, name))


def state_dict(name):
    """The tensors of the Fixtures/hf model's model.safetensors, under its names, as torch tensors. GPT-2
    gets the causal-mask buffers `h.{i}.attn.bias` (bool) and `h.{i}.attn.masked_bias` that older GPT-2
    checkpoints carry."""
    from safetensors.torch import load_file
    state = load_file(os.path.join(HF, name, "model.safetensors"))
    if name == "gpt2-tiny":
        config = json.load(open(os.path.join(HF, name, "config.json")))
        n = config["n_positions"]
        for i in range(config["n_layer"]):
            state["h.%d.attn.bias" % i] = torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n)
            state["h.%d.attn.masked_bias" % i] = torch.tensor(-1e4)
    return state


def save(name, shards=1):
    src = os.path.join(HF, name)
    dst = os.path.join(OUT, name + ("-sharded" if shards > 1 else ""))
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    state = state_dict(name)
    if shards == 1:
        torch.save(state, os.path.join(dst, "pytorch_model.bin"))
    else:
        # transformers' sharded layout: pytorch_model-0000N-of-0000M.bin and the index.
        keys = list(state)
        weight_map, total = {}, 0
        for i in range(shards):
            part = keys[i * len(keys) // shards:(i + 1) * len(keys) // shards]
            file = "pytorch_model-%05d-of-%05d.bin" % (i + 1, shards)
            torch.save({k: state[k] for k in part}, os.path.join(dst, file))
            for k in part:
                weight_map[k] = file
                total += state[k].numel() * state[k].element_size()
        with open(os.path.join(dst, "pytorch_model.bin.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    copy_aux(src, dst)
    if os.path.isdir(os.path.join(src, "1_Pooling")):
        shutil.copytree(os.path.join(src, "1_Pooling"), os.path.join(dst, "1_Pooling"))


def save_strided(legacy=False):
    """The LLaMA with a transposed view, two tensors in one storage and a Parameter; with `legacy`, in
    torch.save's format before PyTorch 1.6 (`_use_new_zipfile_serialization=False`: pickles one after
    another and the raw storages, no zip), as older checkpoints on the hub still are."""
    src, dst = os.path.join(HF, "llama-tiny"), os.path.join(OUT, "llama-tiny-legacy" if legacy else "llama-tiny-strided")
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    state = {k: v.detach().clone() for k, v in state_dict("llama-tiny").items()}
    # A transposed view of a transposed copy: same values, column-major strides.
    name = "model.layers.0.mlp.down_proj.weight"
    state[name] = state[name].t().contiguous().t()
    # Two tensors in one storage, the second at an offset.
    a, b = "model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight"
    both = torch.cat([state[a], state[b]])
    state[a], state[b] = both[: state[a].numel()], both[state[a].numel():]
    # Parameters, as torch.save(model.state_dict(keep_vars=True)) would store them.
    name = "model.layers.1.self_attn.q_proj.weight"
    state[name] = torch.nn.Parameter(state[name])
    torch.save(state, os.path.join(dst, "pytorch_model.bin"), _use_new_zipfile_serialization=not legacy)
    copy_aux(src, dst)


def references():
    out = {"torch": torch.__version__, "folders": {}}
    for folder in sorted(os.listdir(OUT)):
        path = os.path.join(OUT, folder)
        if not os.path.isdir(path):
            continue
        tensors = {}
        for name in sorted(os.listdir(path)):
            if name.endswith(".bin"):
                for key, value in torch.load(os.path.join(path, name), map_location="cpu", weights_only=True).items():
                    array = value.detach().contiguous()
                    data = array.view(torch.int16).numpy().tobytes() if array.dtype == torch.bfloat16 else array.numpy().tobytes()
                    tensors[key] = {"dtype": str(array.dtype).replace("torch.", ""), "shape": list(array.shape),
                                    "sha256": hashlib.sha256(data).hexdigest()}
        out["folders"][folder] = tensors
    with open(os.path.join(OUT, "references.json"), "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    for name in ["bert-tiny", "gpt2-tiny", "llama-tiny"]:
        save(name)
    save("llama-tiny", shards=3)
    save_strided()
    save_strided(legacy=True)
    references()
    for folder in sorted(os.listdir(OUT)):
        print(folder, sorted(os.listdir(os.path.join(OUT, folder))) if os.path.isdir(os.path.join(OUT, folder)) else "")


if __name__ == "__main__":
    main()
