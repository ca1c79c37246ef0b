#!/usr/bin/env python3
"""Greedy decoding with llama.cpp (the prebuilt `xllamacpp` wheel from PyPI), for the reference scripts.

Runs in its own venv, which the reference scripts call as a subprocess:

    python3 -m venv ~/.cache/qkv-llamacpp-venv
    ~/.cache/qkv-llamacpp-venv/bin/pip install xllamacpp numpy

Reads one JSON object on standard input:
    {"model": "/path/model.gguf", "n_ctx": 2048,
     "requests": [{"prompt_ids": [2, 818, ...], "n_predict": 24}, ...]}
and writes one JSON object on standard output:
    {"llama_cpp": {"xllamacpp": "<version>"},
     "results": [{"greedy_ids": [...], "top2": [[[id, logprob], [id, logprob]], ...]}, ...]}

Each request runs from an empty KV cache (cache_prompt off), on one thread, temperature 0 with the
top-k-1 sampler only, end-of-generation ignored, the prompt given as token ids (llama.cpp adds no BOS
to an id prompt). `top2` holds llama.cpp's two most probable tokens at each step with their log
probabilities over the whole vocabulary (n_probs 2); their difference is the top-2 logit margin.
"""

import json
import os
import sys


def main():
    request = json.load(sys.stdin)
    import xllamacpp as x
    params = x.CommonParams()
    params.model.path = request["model"]
    params.n_ctx = int(request.get("n_ctx", 2048))
    params.n_batch = params.n_ubatch = params.n_ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.sampling.temp = 0.0
    params.sampling.top_k = 1
    params.warmup = False
    params.cache_prompt = False
    server = x.Server(params)
    results = []
    for r in request["requests"]:
        out = server.handle_completions({
            "prompt": list(r["prompt_ids"]), "n_predict": int(r["n_predict"]), "temperature": 0.0,
            "top_k": 1, "samplers": ["top_k"], "n_probs": 2, "cache_prompt": False, "ignore_eos": True})
        if "error" in out:
            raise SystemExit("llama.cpp: %s" % out["error"])
        steps = out["choices"][0]["logprobs"]["content"]
        results.append({"greedy_ids": [int(s["id"]) for s in steps],
                        "top2": [[[int(t["id"]), float(t["logprob"])] for t in s["top_logprobs"]] for s in steps]})
    del server
    json.dump({"llama_cpp": {"xllamacpp": x.__version__}, "results": results}, sys.stdout)
    sys.stdout.flush()
    os._exit(0)   # the server's threads: skip interpreter teardown


if __name__ == "__main__":
    main()
