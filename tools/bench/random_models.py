#!/usr/bin/env python3
"""Random-initialised decoder models for the decode benchmark (tools/bench/decode.sh), made by transformers
itself and written with save_pretrained as float32 safetensors Hugging Face folders, into OUTDIR (a cache
outside git, e.g. ~/.cache/qkv-bench). A model already there is kept. Run with the reference venv's python.

    gpt2-124m/    GPT-2 small shape: n_embd 768, 12 layers, 12 heads, n_positions 1024, vocab 50257, tied
                  head; with the real GPT-2 tokenizer (vocab.json, merges.txt, tokenizer.json) rebuilt from
                  ../shared/data/ggml-vocab-gpt-2.gguf when that file and the gguf package are there
    llama-134m/   LLaMA shape: hidden 768, 12 layers, 12 heads, 12 kv heads, intermediate 2048, vocab 32000,
                  untied head, no tokenizer (the benchmark feeds token ids)

Prints one line per model: name, folder, parameter count, model.safetensors bytes.
"""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GPT2_VOCAB_GGUF = os.path.join(os.path.dirname(REPO), "shared", "data", "ggml-vocab-gpt-2.gguf")


def gpt2_tokenizer(folder):
    """vocab.json + merges.txt (+ tokenizer.json via transformers) from llama.cpp's GPT-2 vocabulary GGUF,
    whose tokens are already in the byte-to-unicode form of vocab.json. Returns False when impossible."""
    try:
        import gguf
    except ImportError:
        return False
    if not os.path.exists(GPT2_VOCAB_GGUF):
        return False
    reader = gguf.GGUFReader(GPT2_VOCAB_GGUF)

    def strings(key):
        field = reader.fields[key]
        return [bytes(field.parts[i]).decode("utf-8") for i in field.data]

    tokens, merges = strings("tokenizer.ggml.tokens"), strings("tokenizer.ggml.merges")
    if len(tokens) != 50257:
        return False
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({t: i for i, t in enumerate(tokens)}, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    try:
        from transformers import GPT2TokenizerFast
        # transformers 5 takes vocab= / merges= (paths or objects); 4.x took vocab_file= / merges_file=.
        try:
            tokenizer = GPT2TokenizerFast(vocab=os.path.join(folder, "vocab.json"), merges=os.path.join(folder, "merges.txt"))
        except TypeError:
            tokenizer = GPT2TokenizerFast(vocab_file=os.path.join(folder, "vocab.json"), merges_file=os.path.join(folder, "merges.txt"))
        if len(tokenizer) != len(tokens) or tokenizer("Hello world")["input_ids"] != [15496, 995]:
            raise ValueError("the rebuilt tokenizer does not encode \"Hello world\" as GPT-2 does")
        tokenizer.model_max_length = 1024
        tokenizer.save_pretrained(folder)
    except Exception as error:   # vocab.json + merges.txt alone are still a complete GPT-2 tokenizer
        print("random_models: no tokenizer.json (%s)" % error, file=sys.stderr)
        for extra in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
            if os.path.exists(os.path.join(folder, extra)):
                os.remove(os.path.join(folder, extra))
    return True


def make(out, name, build):
    folder = os.path.join(out, name)
    weights = os.path.join(folder, "model.safetensors")
    if not (os.path.exists(os.path.join(folder, ".complete")) and os.path.exists(weights)):
        import shutil
        import torch
        shutil.rmtree(folder, ignore_errors=True)
        partial = folder + ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        torch.manual_seed(0)
        model, tokenizer = build()
        model.save_pretrained(partial, safe_serialization=True)
        for extra in ("generation_config.json",):
            if os.path.exists(os.path.join(partial, extra)):
                os.remove(os.path.join(partial, extra))
        if tokenizer:
            gpt2_tokenizer(partial) or print("random_models: no GPT-2 vocabulary at %s; no tokenizer" % GPT2_VOCAB_GGUF, file=sys.stderr)
        os.chmod(os.path.join(partial, "model.safetensors"), 0o644)   # save_pretrained writes 0600
        open(os.path.join(partial, ".complete"), "w").close()
        os.rename(partial, folder)
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    print("%s %s %s %d" % (name, folder, config.get("model_type"), os.path.getsize(weights)))


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = os.path.expanduser(sys.argv[1])
    os.makedirs(out, exist_ok=True)
    import torch
    torch.set_num_threads(os.cpu_count() or 1)

    def gpt2():
        from transformers import GPT2Config, GPT2LMHeadModel
        config = GPT2Config(n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab_size=50257,
                            bos_token_id=50256, eos_token_id=50256, tie_word_embeddings=True)
        return GPT2LMHeadModel(config).eval(), True

    def llama():
        from transformers import LlamaConfig, LlamaForCausalLM
        config = LlamaConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=12,
                             intermediate_size=2048, vocab_size=32000, max_position_embeddings=2048,
                             rms_norm_eps=1e-5, rope_theta=10000.0, bos_token_id=1, eos_token_id=2,
                             tie_word_embeddings=False)
        return LlamaForCausalLM(config).eval(), False

    make(out, "gpt2-124m", gpt2)
    make(out, "llama-134m", llama)
    return 0


if __name__ == "__main__":
    sys.exit(main())
