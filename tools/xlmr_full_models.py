"""Random XLM-RoBERTa sentence encoders at the real sizes of multilingual-e5-small, bge-m3 and
paraphrase-multilingual-MiniLM-L12-v2 (their config.json values: width, depth, heads, FFN, the 250k
vocabularies, positions, LayerNorm epsilon), generated from a seed with numpy alone, so CI (no PyTorch)
builds the very weights tools/make_xlmr_full_references.py embedded with sentence-transformers. Too large
to commit (118M to 568M parameters): written on the fly, never kept.

Everything but the weights and the sizes (pooling, Normalize, prompts, the Unigram tokenizer) is the small
fixture of the same shape in Fixtures/xlmr/<name>-shaped; the tokenizer's few hundred ids are the first
rows of the 250k-row embedding table, as a real model's vocabulary is larger than any text uses.
"""

import json
import os
import shutil

import numpy as np
from safetensors.numpy import save_file

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: (the model's config.json sizes, the small fixture it takes its modules and tokenizer from, seed)
MODELS = {
    "multilingual-e5-small": (dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=12, intermediate_size=1536,
                                   vocab_size=250037, max_position_embeddings=514, layer_norm_eps=1e-12),
                              "e5-small-shaped", 5),
    "bge-m3": (dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                    vocab_size=250002, max_position_embeddings=8194, layer_norm_eps=1e-5),
               "bge-m3-shaped", 3),
    "paraphrase-multilingual-MiniLM-L12-v2": (dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=12,
                                                   intermediate_size=1536, vocab_size=250002, max_position_embeddings=514,
                                                   layer_norm_eps=1e-5),
                                              "paraphrase-shaped", 12),
}


def weights(sizes, seed):
    """XLMRobertaModel's tensors in Hugging Face names: matrices, embeddings and biases N(0, 0.02), LayerNorm
    weights 1 + N(0, 0.1) (legacy RandomState: the same numbers on every numpy)."""
    rs = np.random.RandomState(seed)
    D, F = sizes["hidden_size"], sizes["intermediate_size"]

    def normal(*shape, scale=0.02, offset=0.0):
        return (rs.standard_normal(shape) * scale + offset).astype(np.float32)

    out = {
        "embeddings.word_embeddings.weight": normal(sizes["vocab_size"], D),
        "embeddings.position_embeddings.weight": normal(sizes["max_position_embeddings"], D),
        "embeddings.token_type_embeddings.weight": normal(1, D),
        "embeddings.LayerNorm.weight": normal(D, scale=0.1, offset=1.0),
        "embeddings.LayerNorm.bias": normal(D),
    }
    for i in range(sizes["num_hidden_layers"]):
        p = "encoder.layer.%d." % i
        for name in ("query", "key", "value"):
            out[p + "attention.self.%s.weight" % name] = normal(D, D)
            out[p + "attention.self.%s.bias" % name] = normal(D)
        out[p + "attention.output.dense.weight"] = normal(D, D)
        out[p + "attention.output.dense.bias"] = normal(D)
        out[p + "attention.output.LayerNorm.weight"] = normal(D, scale=0.1, offset=1.0)
        out[p + "attention.output.LayerNorm.bias"] = normal(D)
        out[p + "intermediate.dense.weight"] = normal(F, D)
        out[p + "intermediate.dense.bias"] = normal(F)
        out[p + "output.dense.weight"] = normal(D, F)
        out[p + "output.dense.bias"] = normal(D)
        out[p + "output.LayerNorm.weight"] = normal(D, scale=0.1, offset=1.0)
        out[p + "output.LayerNorm.bias"] = normal(D)
    return out


def write(name, folder):
    """The sentence-transformers folder of model `name` at `folder` (replaced if there)."""
    sizes, small, seed = MODELS[name]
    source = os.path.join(REPO, "Fixtures", "xlmr", small)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(source, folder, ignore=shutil.ignore_patterns("model.safetensors"))
    with open(os.path.join(source, "config.json")) as f:
        config = json.load(f)
    config.update(sizes)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    pooling = os.path.join(folder, "1_Pooling", "config.json")
    with open(pooling) as f:
        pool = json.load(f)
    pool["embedding_dimension"] = sizes["hidden_size"]
    with open(pooling, "w") as f:
        json.dump(pool, f, indent=4)
    save_file(weights(sizes, seed), os.path.join(folder, "model.safetensors"))
    return folder
