#!/usr/bin/env python3
"""llama.cpp's (xllamacpp's) prompt and decode rates on a GGUF, for tools/bench/gemma3.sh and quant_types.sh; runs in the
llama.cpp venv (~/.cache/qkv-llamacpp-venv: `pip install xllamacpp numpy`).

    python gemma3_llamacpp.py MODEL.gguf THREADS PROMPT_IDS(comma-separated) N_PREDICT

Prints one JSON line: {"prompt_tok_s", "decode_tok_s", "prompt_tokens", "decoded"} from the server's own
`timings` of one completion (greedy, end-of-text ignored, nothing cached), after one warm-up completion.
"""

import json
import os
import sys


def main():
    model, threads, ids, n_predict = sys.argv[1], int(sys.argv[2]), [int(t) for t in sys.argv[3].split(",")], int(sys.argv[4])
    import xllamacpp as x
    params = x.CommonParams()
    params.model.path = model
    params.n_ctx = len(ids) + n_predict + 8
    params.n_batch = params.n_ubatch = 512
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.sampling.temp = 0.0
    params.sampling.top_k = 1
    params.cache_prompt = False
    server = x.Server(params)
    request = {"prompt": ids, "n_predict": n_predict, "temperature": 0.0, "top_k": 1, "samplers": ["top_k"],
               "cache_prompt": False, "ignore_eos": True}
    server.handle_completions(dict(request, n_predict=4))   # warm-up: pages mapped, threads started
    out = server.handle_completions(request)
    if "error" in out:
        raise SystemExit("llama.cpp: %s" % out["error"])
    t = out["timings"]
    print(json.dumps({"prompt_tok_s": t["prompt_per_second"], "decode_tok_s": t["predicted_per_second"],
                      "prompt_tokens": t["prompt_n"], "decoded": t["predicted_n"]}))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
