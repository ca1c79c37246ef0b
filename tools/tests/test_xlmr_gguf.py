"""XLM-RoBERTa to GGUF against llama.cpp (Fixtures/reference/xlmr-gguf.json, tools/make_xlmr_gguf_references.py):

* `qkv convert` of each XLM-R encoder folder (Fixtures/xlmr) to GGUF gives what llama.cpp's own converter
  gives: `bert`, the first `pad_token_id + 1` position rows cut, the `t5` tokenizer keys, the pooling type;
  every tensor bit for bit and every key's type and value (the converter's naming keys aside);
* llama.cpp's vectors of qkv's GGUF equal `qkv embed` of it, and HF -> GGUF -> `qkv embed` equals HF ->
  `qkv embed` (the cut file reads back as BERT with positions from 0: the same computation);
* GGUF -> .qkv -> GGUF is byte for byte, for qkv's GGUF and for llama.cpp's;
* the XLM-R reranker goes to GGUF as the converter writes it (`cls`, `cls.output`,
  `bert.classifier.output_labels`), `qkv rerank` of the GGUF equals `qkv rerank` of the folder, and llama.cpp's
  raw scores of qkv's GGUF are its logits; a BERT head stays refused, with the reason.
"""

import filecmp
import json
import os
import subprocess

import numpy as np
import pytest

from make_xlmr_gguf_references import ENCODERS, summary
from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = json.load(open(os.path.join(REPO, "Fixtures", "reference", "xlmr-gguf.json"), encoding="utf-8"))
MODELS = os.path.join(REPO, "Fixtures", "xlmr")
# What the converter names from the folder and its parameter count; qkv writes no naming keys.
NAMING = {"general.name", "general.basename", "general.finetune", "general.size_label", "general.type",
          "general.quantization_version"}


def qkv(*args):
    result = subprocess.run([qkv_binary(), *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, (args[:3], result.stderr)
    return result.stdout


def to_gguf(name, tmp_path):
    out = tmp_path / (name + ".gguf")
    qkv("convert", os.path.join(MODELS, name), out, "-q")
    return str(out)


def embed(model, texts):
    return np.array(json.loads(qkv("embed", model, *texts, "--format", "json", "-q")), dtype=np.float32)


@pytest.mark.parametrize("name", ENCODERS + ["xlmr-reranker"])
def test_gguf_export_equals_llama_cpps_converter(name, tmp_path):
    theirs, ours = REFERENCE["summary"][name], summary(to_gguf(name, tmp_path))
    assert sorted(ours["tensors"]) == sorted(theirs["tensors"])
    mine = {key: (types, value) for key, types, value in ours["keys"]}
    for key, types, value in theirs["keys"]:
        if key in NAMING:
            continue
        assert key in mine, key
        assert mine[key] == (types, value), key
    assert set(mine) - {k for k, _, _ in theirs["keys"]} == {"qkv.metadata"}


@pytest.mark.parametrize("name", ENCODERS)
def test_llama_cpps_vectors_of_the_export_equal_qkv_embed(name, tmp_path):
    gguf = to_gguf(name, tmp_path)
    texts = REFERENCE["texts"]
    ours = embed(gguf, texts)
    ours /= np.linalg.norm(ours, axis=1, keepdims=True)
    theirs = np.array(REFERENCE["llamacpp_embeddings_of_qkv_gguf"][name], dtype=np.float32)
    assert np.min(np.sum(ours * theirs, axis=1)) >= 0.9999
    # and the same as from the Hugging Face folder: the cut table read as BERT from position 0
    assert np.allclose(embed(gguf, texts), embed(os.path.join(MODELS, name), texts), atol=1e-6)


@pytest.mark.parametrize("source", ["qkv", "qkv-reranker", "llama.cpp"])
def test_gguf_qkv_gguf_is_byte_identical(source, tmp_path):
    gguf = os.path.join(MODELS, "e5-small-shaped.gguf") if source == "llama.cpp" \
        else to_gguf("xlmr-reranker" if source == "qkv-reranker" else "e5-small-shaped", tmp_path)
    qkv("convert", gguf, tmp_path / "m.qkv", "-q")
    qkv("convert", tmp_path / "m.qkv", tmp_path / "back.gguf", "-q")
    assert filecmp.cmp(gguf, tmp_path / "back.gguf", shallow=False)


def rerank_scores(model, query, documents):
    results = json.loads(qkv("rerank", model, "--query", query, *documents, "--json", "-q"))["results"]
    return [r["relevance_score"] for r in sorted(results, key=lambda r: r["index"])]


def test_reranker_gguf_scores_as_the_folder_and_as_llama_cpp(tmp_path):
    reference = REFERENCE["llamacpp_rerank_of_qkv_gguf"]
    gguf = to_gguf("xlmr-reranker", tmp_path)
    ours = rerank_scores(gguf, reference["query"], reference["documents"])
    assert ours == rerank_scores(os.path.join(MODELS, "xlmr-reranker"), reference["query"], reference["documents"])
    # llama.cpp returns the head's logit; qkv applies CrossEncoder's sigmoid. ggml computes GELU from an f16
    # table: the logits differ by up to 1.2e-3 on this random model, the order not at all.
    logits = [float(np.log(p / (1 - p))) for p in ours]
    assert np.allclose(logits, reference["scores"], atol=2e-3), (logits, reference["scores"])
    assert np.argsort(logits).tolist() == np.argsort(reference["scores"]).tolist()


def test_bert_classification_head_is_refused_with_the_reason(tmp_path):
    out = tmp_path / "r.gguf"
    result = subprocess.run([qkv_binary(), "convert", os.path.join(MODELS, "bert-reranker"), out, "-q"], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "BERT classification head" in result.stderr and "without the pooler" in result.stderr
    assert not out.exists()
