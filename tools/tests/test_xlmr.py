"""XLM-RoBERTa's Unigram tokenizer and cross-encoder rerankers against Hugging Face, live where CI has the
library and from the committed references where it has not:

* `qkv tokenize` on the Unigram tokenizer.json files (transformers' conversion, the hub's form,
  transformers 5's form, byte fallback) gives Hugging Face `tokenizers`' ids, run live, on a few hundred
  generated multilingual strings: scripts, accents composed and decomposed, full-width forms, whitespace
  runs and kinds, emoji, unassigned and private-use code points, added tokens typed in the text;
* the tokenizer.json qkv writes back (HF folder -> .qkv -> HF folder, and llama.cpp's GGUF -> HF
  folder) loads in `tokenizers` and gives the original's ids;
* `POST /v1/rerank` of `qkv serve` gives sentence-transformers CrossEncoder's ranking and scores
  (Fixtures/reference/xlmr.json, tools/make_xlmr_references.py), in the shape llama-server, Jina and
  text-embeddings-inference use, with its errors.
"""

import concurrent.futures
import json
import os
import random
import subprocess
import unicodedata

import pytest
from tokenizers import Tokenizer

from test_interop import qkv_binary
from test_serve import http, metrics, start_server

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = json.load(open(os.path.join(REPO, "Fixtures", "reference", "xlmr.json"), encoding="utf-8"))
# English RoBERTa (byte-level BPE with RobertaProcessing), tools/make_roberta_references.py.
ROBERTA = json.load(open(os.path.join(REPO, "Fixtures", "reference", "roberta.json"), encoding="utf-8"))
TOKENIZERS = {
    "xlmr": os.path.join(REPO, "Fixtures", "tokenizers", "unigram", "xlmr.json"),
    "xlmr-hub": os.path.join(REPO, "Fixtures", "tokenizers", "unigram", "xlmr-hub.json"),
    "xlmr-transformers5": os.path.join(REPO, "Fixtures", "xlmr", "e5-small-shaped", "tokenizer.json"),
    "byte-fallback": os.path.join(REPO, "Fixtures", "tokenizers", "unigram", "byte-fallback.json"),
}
KEY = "test-key-123"

WORDS = ("the quick brown fox Le renard saute Ça très bien Straße Größe Mädchen El año ¿Dónde está? Быстрая лиса "
         "敏捷的棕色狐狸 東京は大きな都市です カタカナ 안녕하세요 Η γρήγορη αλεπού الثعلب البني तेज़ भूरी İstanbul güzel "
         "query: passage: 1234 3.14 100% $5.00 email@example.com").split()
SPACES = [" ", "  ", "   ", "\t", "\n", "\u00a0", "\u3000", "\u2003", "\u200b", " \t "]
EXTRAS = ["😀", "👍🏽", "🇫🇷", "👨‍👩‍👧", "ꙮ", "ᚠᚢᚦ", "𓀀", "\ue000", "\U000f0000", "\u0378", "①", "㈱", "㎏", "ﬁ", "™", "½",
          "ﾊﾟﾝ", "<s>", "</s>", "<mask>", "<unk>", "<pad>", "▁", "e\u0301", "\u00e9", "A\u030a", "ǅ", "ẞ", "…", "\u0007"]


def fullwidth(text):
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else ("\u3000" if c == " " else c) for c in text)


def generated_strings(count=300, seed=18):
    """Random multilingual strings: words joined by varied whitespace, some full-width, some in NFD,
    with emoji, rare code points and special-token text mixed in."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(1, 8)):
            parts.append(rng.choice(WORDS) if rng.random() < 0.75 else rng.choice(EXTRAS))
            parts.append(rng.choice(SPACES) if rng.random() < 0.4 else " ")
        text = "".join(parts)
        if rng.random() < 0.3:
            text = rng.choice(SPACES) + text
        else:
            text = text.rstrip(" ") if rng.random() < 0.5 else text
        if rng.random() < 0.15:
            text = fullwidth(text)
        if rng.random() < 0.15:
            text = unicodedata.normalize("NFD", text)
        out.append(text)
    return out + [s for s in REFERENCE["strings"] if "\0" not in s]


def qkv(*args):
    result = subprocess.run([qkv_binary(), *map(str, args)], capture_output=True, text=True)
    assert result.returncode == 0, (args[:3], result.stderr)
    return result.stdout


def qkv_ids(path, texts):
    """`qkv tokenize PATH --json` on every text in one run: one JSON line each."""
    lines = qkv("tokenize", path, "--json", "--", *texts).splitlines()
    assert len(lines) == len(texts)
    return [json.loads(line)["ids"] for line in lines]


@pytest.mark.parametrize("name", sorted(TOKENIZERS))
def test_unigram_ids_equal_hugging_face_tokenizers(name):
    texts = generated_strings()
    hf = Tokenizer.from_file(TOKENIZERS[name])
    ours = qkv_ids(TOKENIZERS[name], texts)
    mismatches = [(t, hf.encode(t).ids, o) for t, o in zip(texts, ours) if hf.encode(t).ids != o]
    assert not mismatches, (len(mismatches), mismatches[:3])


@pytest.mark.parametrize("source", ["e5-small-shaped", "gguf"])
def test_exported_tokenizer_json_loads_in_tokenizers_with_the_same_ids(tmp_path, source):
    model = os.path.join(REPO, "Fixtures", "xlmr", "e5-small-shaped") if source == "e5-small-shaped" \
        else os.path.join(REPO, "Fixtures", "xlmr", "e5-small-shaped.gguf")
    qkv("convert", model, tmp_path / "m.qkv", "-q")
    qkv("convert", tmp_path / "m.qkv", str(tmp_path / "back") + "/", "--to", "safetensors", "-q")
    exported = str(tmp_path / "back" / "tokenizer.json")
    texts = generated_strings(300 if source == "gguf" else 150)
    if source == "gguf":
        # llama.cpp's rules (tokenizer.unigram_rules) differ from tokenizers' on whitespace runs, a string's
        # ends (also where the charsmap deletes a control character), added or unknown tokens typed in the
        # text, combining marks and "\r\n": a tokenizer.json cannot state them, so the export agrees where
        # the two agree.
        texts = [t for t in texts if t.strip(" ") == t and "  " not in t and "<" not in t and "\u2581" not in t
                 and not any(c.isspace() and c != " " for c in t)
                 and not any(unicodedata.combining(c) or unicodedata.category(c) in ("Cc", "Cf") for c in t)]
        assert len(texts) >= 40
    hf = Tokenizer.from_file(exported)
    ours = qkv_ids(model, texts)
    assert [hf.encode(t).ids for t in texts] == ours
    assert qkv_ids(exported, texts) == ours


def test_roberta_tokenizer_json_written_back_keeps_the_pair_template(tmp_path):
    """HF folder -> .qkv -> HF folder of a RoBERTa (RobertaProcessing): `tokenizers` reads the tokenizer.json
    qkv writes and gives the original's ids, single texts and (query, document) pairs alike."""
    model = os.path.join(REPO, "Fixtures", "roberta", "roberta-reranker")
    qkv("convert", model, tmp_path / "m.qkv", "-q")
    qkv("convert", tmp_path / "m.qkv", str(tmp_path / "back") + "/", "--to", "safetensors", "-q")
    original = Tokenizer.from_file(os.path.join(model, "tokenizer.json"))
    exported = Tokenizer.from_file(str(tmp_path / "back" / "tokenizer.json"))
    texts = ROBERTA["embedder"]["texts"]
    assert [exported.encode(t).ids for t in texts] == [original.encode(t).ids for t in texts]
    # The model folder's ids are cut at its model_max_length; tokenizer.json alone does not cut.
    short = [t for t in texts if len(original.encode(t).ids) <= ROBERTA["reranker"]["max_length"]]
    assert len(texts) - len(short) == 2  # "protein " * 40 and the long document
    assert qkv_ids(model, short) == [original.encode(t).ids for t in short]
    pairs = [(ROBERTA["query"], d) for d in ROBERTA["documents"]]
    assert [exported.encode(a, b).ids for a, b in pairs] == [original.encode(a, b).ids for a, b in pairs]


@pytest.mark.parametrize("source", ["hf/llama3.json", "roberta"])
def test_a_post_processor_inside_a_sequence_is_read(tmp_path, source):
    """Hub files often wrap the template in `Sequence[ByteLevel, ...]` (Llama 3's, RoBERTa's): the special
    tokens it adds are the same as `tokenizers` adds."""
    path = os.path.join(REPO, "Fixtures", "roberta", "roberta-embedder", "tokenizer.json") if source == "roberta" \
        else os.path.join(REPO, "Fixtures", "tokenizers", source)
    data = json.load(open(path, encoding="utf-8"))
    data["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}, data["post_processor"]]}
    wrapped = tmp_path / "tokenizer.json"
    wrapped.write_text(json.dumps(data), encoding="utf-8")
    texts = ROBERTA["embedder"]["texts"][:10]
    hf = Tokenizer.from_file(str(wrapped))
    assert all(hf.encode(t).ids[:1] == hf.encode("x").ids[:1] for t in texts if t), "the template adds a first token"
    assert qkv_ids(str(wrapped), texts) == [hf.encode(t).ids for t in texts]


@pytest.fixture(scope="module")
def server():
    process, url = start_server("xlmr=" + os.path.join(REPO, "Fixtures", "xlmr", "xlmr-reranker"),
                                "bert=" + os.path.join(REPO, "Fixtures", "xlmr", "bert-reranker"),
                                "roberta=" + os.path.join(REPO, "Fixtures", "roberta", "roberta-reranker"),
                                "e5=" + os.path.join(REPO, "Fixtures", "xlmr", "e5-small-shaped"))
    yield url
    process.terminate()
    assert process.wait(timeout=30) == 0


def reranker_reference(name):
    """(query, documents, CrossEncoder's outputs) of a reranker fixture."""
    if name == "roberta-reranker":
        return ROBERTA["query"], ROBERTA["documents"], ROBERTA["reranker"]
    return REFERENCE["query"], REFERENCE["documents"], REFERENCE["rerankers"][name]


@pytest.mark.parametrize("name,model", [("xlmr-reranker", "xlmr"), ("bert-reranker", "bert"), ("roberta-reranker", "roberta")])
def test_rerank_endpoint_equals_cross_encoder(server, name, model):
    query, documents, reference = reranker_reference(name)
    status, body = http(server + "/v1/rerank", {"model": model, "query": query, "documents": documents})
    assert status == 200, body
    assert [r["index"] for r in body["results"]] == [r["corpus_id"] for r in reference["rank"]]
    for result, want in zip(body["results"], reference["rank"]):
        assert abs(result["relevance_score"] - want["score"]) < 1e-6
        assert result["document"] == {"text": documents[result["index"]]}
    pair_tokens = sum(len(ids) for ids in reference["token_ids"][:len(documents)])
    assert body["usage"] == {"prompt_tokens": pair_tokens, "total_tokens": pair_tokens}
    assert body["model"] == model and body["object"] == "list"

    status, top = http(server + "/v1/rerank", {"model": model, "query": query, "top_n": 2, "return_documents": False,
                                               "documents": [{"text": d} for d in documents]})
    assert status == 200, top
    assert top["results"] == [{k: v for k, v in r.items() if k != "document"} for r in body["results"][:2]]


def test_concurrent_rerank_requests_share_forward_passes(server):
    """Requests that arrive together are scored in shared batches (as embeddings are), each getting
    CrossEncoder's score for its own pairs."""
    reference = REFERENCE["rerankers"]["xlmr-reranker"]
    requests = [{"model": "xlmr", "query": a, "documents": [b]} for a, b in reference["pairs"]] * 3
    want = reference["scores"] * 3
    before = metrics(server)
    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        replies = list(pool.map(lambda r: http(server + "/v1/rerank", r), requests))
    for (status, body), score in zip(replies, want):
        assert status == 200, body
        assert abs(body["results"][0]["relevance_score"] - score) < 1e-6
    after = metrics(server)
    series = 'qkv_batch_size_{}{{model="xlmr"}}'
    batches = after[series.format("count")] - before.get(series.format("count"), 0)
    pairs = after[series.format("sum")] - before.get(series.format("sum"), 0)
    assert pairs == len(requests)
    assert batches < len(requests), "requests that arrived together were scored together"


def test_rerank_errors_name_the_field(server):
    for request, param in [({"model": "xlmr", "documents": ["a"]}, "query"),
                           ({"model": "xlmr", "query": "q", "documents": []}, "documents"),
                           ({"model": "xlmr", "query": "q", "documents": [{"txt": "a"}]}, "documents"),
                           ({"model": "xlmr", "query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
                           ({"model": "xlmr", "query": "q", "documents": ["a"], "return_documents": "yes"}, "return_documents"),
                           ({"model": "e5", "query": "q", "documents": ["a"]}, "model")]:
        status, body = http(server + "/v1/rerank", request)
        assert status == 400, (request, body)
        assert body["error"]["param"] == param, body
    status, body = http(server + "/v1/embeddings", {"model": "xlmr", "input": "a"})
    assert status == 400 and "reranker" in body["error"]["message"], body
    status, body = http(server + "/v1/rerank", {"model": "nope", "query": "q", "documents": ["a"]})
    assert status == 404, body
