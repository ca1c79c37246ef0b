#!/usr/bin/env python3
"""Greedy decoding with llama.cpp (the prebuilt `xllamacpp` wheel from PyPI), for the reference scripts,
which call it as a subprocess in its own venv:

    python3 -m venv ~/.cache/qkv-llamacpp-venv
    ~/.cache/qkv-llamacpp-venv/bin/pip install xllamacpp numpy

Reads one JSON object on standard input:
    {"model": "/path/model.gguf", "n_ctx": 2048,
     "requests": [{"prompt_ids": [2, 818, ...], "n_predict": 24}, {"prompt_text": "Hello"}, ...]}
and writes one JSON object on standard output:
    {"llama_cpp": {"binding": "xllamacpp", "xllamacpp": "<version>"},
     "results": [{"listed_ids": [...], "top2": [[[id, logprob], [id, logprob]], ...], "text": "..."}, ...]}

Each request runs from an empty KV cache (cache_prompt off), on one thread, temperature 0 with the
top-k-1 sampler only, end-of-generation ignored, the prompt given as token ids (llama.cpp adds no BOS
to an id prompt). `top2` holds llama.cpp's two most probable tokens at each listed step with their log
probabilities over the whole vocabulary (n_probs 2); their difference is the top-2 logit margin.

The ids come from the server's log-probability list, which leaves out a token whose bytes end inside a
UTF-8 character (a byte-fallback or byte-level fragment): `listed_ids` is the greedy sequence without
those. `align` compares it with a full greedy sequence. A request with `forced_ids` (the greedy path of
another implementation) runs llama.cpp one token after each prefix prompt_ids + forced_ids[:k], for
every k: its result `forced_top2` holds llama.cpp's two best tokens with their log-probabilities at each
step, or null where the server listed nothing (its token ends inside a UTF-8 character); this checks
every step exactly, without aligning. A `prompt_text` request only tokenizes: its
result is `{"prompt_tokens": n}`, the number of tokens llama.cpp makes of the text (BOS included; the
server reports no ids).
"""

import json
import os
import sys


def align(greedy, listed, is_fragment, is_byte):
    """Whether llama.cpp's listed ids are `greedy` with only UTF-8 fragment tokens left out (a token
    that alone is not whole UTF-8, and a single-byte token right after one, which llama.cpp holds back
    with it):
    returns (first step where they part or None, the steps taken as unlisted fragments). A real parting
    right at a fragment shows a few steps later, when the lists no longer match."""
    j, unlisted = 0, []
    for i, t in enumerate(greedy):
        if j < len(listed) and listed[j] == t:
            j += 1
        elif is_fragment(t) or ((i - 1) in unlisted and is_byte(t)):   # a fragment, or a byte token right after one
            unlisted.append(i)
        else:
            return i, unlisted
    return (None if j == len(listed) else len(greedy)), unlisted


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
        if "prompt_text" in r:   # tokenization only: how many tokens llama.cpp makes of the text (BOS included)
            out = server.handle_completions({"prompt": r["prompt_text"], "n_predict": 1, "temperature": 0.0,
                                             "top_k": 1, "samplers": ["top_k"], "cache_prompt": False})
            results.append({"prompt_tokens": out["usage"]["prompt_tokens"]} if "usage" in out else {"error": str(out.get("error"))})
            continue
        if "forced_ids" in r:   # one step at a time along a given path: llama.cpp's next token after each prefix
            steps_out = []
            for k in range(len(r["forced_ids"])):
                out = server.handle_completions({
                    "prompt": list(r["prompt_ids"]) + list(r["forced_ids"][:k]), "n_predict": 1, "temperature": 0.0,
                    "top_k": 1, "samplers": ["top_k"], "n_probs": 2, "cache_prompt": False, "ignore_eos": True})
                if "error" in out:
                    raise SystemExit("llama.cpp: %s" % out["error"])
                content = (out["choices"][0].get("logprobs") or {}).get("content") or []
                steps_out.append([[int(t["id"]), float(t["logprob"])] for t in content[0]["top_logprobs"]] if content else None)
            results.append({"forced_top2": steps_out})
            continue
        out = server.handle_completions({
            "prompt": list(r["prompt_ids"]), "n_predict": int(r["n_predict"]), "temperature": 0.0,
            "top_k": 1, "samplers": ["top_k"], "n_probs": 2, "cache_prompt": False, "ignore_eos": True})
        if "error" in out:
            raise SystemExit("llama.cpp: %s" % out["error"])
        choice = out["choices"][0]
        steps = (choice.get("logprobs") or {}).get("content") or []
        results.append({"listed_ids": [int(s["id"]) for s in steps],
                        "top2": [[[int(t["id"]), float(t["logprob"])] for t in s["top_logprobs"]] for s in steps],
                        "text": choice.get("text", "")})
    json.dump({"llama_cpp": {"binding": "xllamacpp", "xllamacpp": x.__version__}, "results": results}, sys.stdout)
    sys.stdout.flush()
    os._exit(0)   # the server's native threads: skip interpreter teardown


if __name__ == "__main__":
    main()
