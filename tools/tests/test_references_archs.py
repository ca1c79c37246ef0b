"""The committed references for the new architectures (Fixtures/reference/archs, made by
tools/make_arch_references.py, and Fixtures/reference/gemma3, made by tools/make_gemma3_references.py)
are whole and agree with themselves: JSON keys, array shapes, the first greedy token is the argmax of
the last prompt row, and the committed safetensors, GGUF and tokenizer files load with the light
packages CI has (numpy, safetensors, gguf, tokenizers). Needs no PyTorch and no qkv binary."""

import json
import os

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ARCHS = os.path.join(REPO, "Fixtures", "reference", "archs")
GEMMA3 = os.path.join(REPO, "Fixtures", "reference", "gemma3")
NAMES = ["gemma2", "gemma3", "qwen2", "qwen3", "phi3", "mistral", "llama3", "smollm2", "qwen2-yarn", "phi3-longrope"]
GGUF_ARCH = {"gemma2": "gemma2", "gemma3": "gemma3", "qwen2": "qwen2", "qwen3": "qwen3", "phi3": "phi3",
             "mistral": "llama", "llama3": "llama", "smollm2": "llama", "qwen2-yarn": "qwen2", "phi3-longrope": "phi3"}


def load_reference(name):
    with open(os.path.join(ARCHS, name, "references.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("name", NAMES)
def test_arch_reference_is_consistent(name):
    ref = load_reference(name)
    for key in ("prompt_ids", "greedy_ids", "logits", "logits_shape", "min_top2_margin", "architecture", "versions"):
        assert key in ref, key
    with open(os.path.join(ARCHS, name, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["architectures"] == [ref["architecture"]]
    vocab = config["vocab_size"]
    logits = np.load(os.path.join(ARCHS, name, ref["logits"]))
    assert logits.dtype == np.float32 and list(logits.shape) == ref["logits_shape"] == [len(ref["prompt_ids"]), vocab]
    assert np.isfinite(logits).all()
    assert len(ref["greedy_ids"]) == 32 and all(0 <= i < vocab for i in ref["greedy_ids"] + ref["prompt_ids"])
    assert int(logits[-1].argmax()) == ref["greedy_ids"][0]
    forced = ref.get("llamacpp_forced_argmax")
    if forced is not None:   # llama.cpp one step at a time along transformers' path
        assert len(forced) == 32
        assert ref["llamacpp_forced_differing_steps"] == [k for k, t in enumerate(forced) if t is not None and t != ref["greedy_ids"][k]]
    top = np.sort(logits, axis=-1)[:, -2:]
    assert float((top[:, 1] - top[:, 0]).min()) >= ref["min_top2_margin"] - 1e-6
    if "short_prompt_logits" in ref:   # LongRoPE: the prompt's first tokens alone, within the original context
        short = np.load(os.path.join(ARCHS, name, ref["short_prompt_logits"]))
        n = ref["short_prompt_length"]
        assert short.dtype == np.float32 and short.shape == (n, vocab)
        assert n <= config["rope_parameters"]["original_max_position_embeddings"] < len(ref["prompt_ids"])
        assert np.isfinite(short).all() and not np.allclose(short, logits[:n], atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_arch_files_load(name):
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer
    ref = load_reference(name)
    with open(os.path.join(ARCHS, name, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    tensors = load_file(os.path.join(ARCHS, name, "model.safetensors"))
    assert all(t.dtype == np.float32 for t in tensors.values())
    assert tensors["model.embed_tokens.weight"].shape == (config["vocab_size"], config["hidden_size"])
    tokenizer = Tokenizer.from_file(os.path.join(ARCHS, name, "tokenizer.json"))
    assert tokenizer.get_vocab_size(with_added_tokens=True) == config["vocab_size"]
    assert ref.get("gguf") == "model.gguf", ref.get("gguf_error")
    from gguf import GGUFReader
    reader = GGUFReader(os.path.join(ARCHS, name, "model.gguf"))
    arch = reader.fields["general.architecture"].contents()
    assert arch == GGUF_ARCH[name] == ref["gguf_architecture"]
    names = {t.name for t in reader.tensors}
    assert "token_embd.weight" in names and "blk.0.attn_norm.weight" in names
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == config["vocab_size"]
    assert reader.fields[arch + ".block_count"].contents() == config["num_hidden_layers"]


def test_gemma3_cases_are_consistent():
    with open(os.path.join(GEMMA3, "cases.json"), encoding="utf-8") as f:
        data = json.load(f)
    config = data["config"]
    assert config["sliding_window"] == 512 and config["query_pre_attn_scalar"] == 256
    assert [i for i, t in enumerate(config["layer_types"]) if t == "full_attention"] == [5, 11, 17]
    assert config["rope_theta_local"] == 10000.0 and config["rope_theta_global"] == 1000000.0
    cases = data["cases"]
    assert len(cases) >= 6 and sum("last_logits" in c for c in cases) >= 3
    for case in cases:
        assert case["prompt_ids"][0] == 2 and len(case["prompt_ids"]) == case["prompt_length"]
        assert len(case["greedy_ids"]) == data["greedy_steps"] == 24
        assert case["greedy_ids"][0] == case["last_top10_ids"][0]
        assert case["last_top10_logits"] == sorted(case["last_top10_logits"], reverse=True)
        assert abs(min(case["top2_margins"]) - case["min_top2_margin"]) < 1e-5
        assert len(case["llamacpp_forced_argmax"]) == 24
        if "last_logits" in case:
            row = np.load(os.path.join(GEMMA3, case["last_logits"]))
            assert row.dtype == np.float32 and row.shape == (262144,)
            assert [int(i) for i in np.argsort(-row.astype(np.float64), kind="stable")[:10]] == case["last_top10_ids"]
            assert [float(row[i]) for i in case["last_top10_ids"]] == case["last_top10_logits"]
    long = [c for c in cases if c["name"] == "long"][0]
    assert long["prompt_length"] >= 600 and long["mean_logprob"] < 0
    assert not data["norm_check"]["agrees_with_llamacpp"]


def test_gemma3_tokenizer_cases():
    with open(os.path.join(GEMMA3, "tokenizer-cases.json"), encoding="utf-8") as f:
        data = json.load(f)
    cases = data["cases"]
    assert len(cases) >= 30
    for case in cases:
        assert case["ids"][0] == 2 and len(case["ids"]) == len(case["tokens"])
        assert all(0 <= i < 262144 for i in case["ids"])
