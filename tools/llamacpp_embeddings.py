#!/usr/bin/env python3
"""Embeddings and token counts from llama.cpp (the prebuilt `xllamacpp` wheel from PyPI), for the
reference scripts, which call it as a subprocess in its own venv (see tools/llamacpp_greedy.py):

    ~/.cache/qkv-llamacpp-venv/bin/python tools/llamacpp_embeddings.py < request.json

Reads {"model": "/path/model.gguf", "texts": [...]} and writes {"llama_cpp": {...}, "results":
[{"prompt_tokens": n, "embedding": [...]}, ...]}: each text embedded alone through the server's
/embeddings handler (the model's pooling, L2-normalised as llama-server does), with the number of tokens
llama.cpp made of it (special tokens added; the server reports no ids).

With {"model": ..., "query": "...", "documents": [...]} instead, the model is a reranker: the server's
/rerank handler with rank pooling, writing {"llama_cpp": {...}, "prompt_tokens": n, "scores": [...]}, one
raw score (the classification head's logit, no activation) per document, in the documents' order.
"""

import json
import os
import sys


def main():
    request = json.load(sys.stdin)
    import xllamacpp as x
    params = x.CommonParams()
    params.model.path = request["model"]
    params.embedding = True
    if "query" in request:
        params.pooling_type = x.llama_pooling_type.LLAMA_POOLING_TYPE_RANK
    params.n_ctx = 512
    params.n_parallel = 1
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.warmup = False
    server = x.Server(params)
    versions = {"binding": "xllamacpp", "xllamacpp": x.__version__}
    if "query" in request:
        out = server.handle_rerank({"query": request["query"], "documents": request["documents"]})
        scores = {r["index"]: r["relevance_score"] for r in out["results"]}
        json.dump({"llama_cpp": versions, "prompt_tokens": out["usage"]["prompt_tokens"],
                   "scores": [scores[i] for i in range(len(request["documents"]))]}, sys.stdout)
        sys.stdout.flush()
        os._exit(0)
    results = []
    for text in request["texts"]:
        out = server.handle_embeddings({"input": text})
        if "error" in out:
            results.append({"error": str(out["error"])})
        else:
            results.append({"prompt_tokens": out["usage"]["prompt_tokens"], "embedding": out["data"][0]["embedding"]})
    json.dump({"llama_cpp": versions, "results": results}, sys.stdout)
    sys.stdout.flush()
    os._exit(0)   # the server's native threads: skip interpreter teardown


if __name__ == "__main__":
    main()
