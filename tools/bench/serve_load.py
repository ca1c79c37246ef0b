#!/usr/bin/env python3
"""Concurrent completion load, for tools/bench/serve.sh: CLIENTS threads each send REQUESTS completions of
the same token-id prompt (greedy, MAX_TOKENS each) and wait for the answer before the next.

    python serve_load.py qkv URL MODEL CLIENTS REQUESTS PROMPT_IDS MAX_TOKENS
    python serve_load.py llamacpp MODEL.gguf THREADS CLIENTS REQUESTS PROMPT_IDS MAX_TOKENS   (in the llama.cpp venv)

qkv is driven over HTTP (`/v1/completions`); llama.cpp is its server run in-process by the xllamacpp wheel
(`handle_completions`, with as many slots as clients), end of text ignored. Prints one JSON line: generated
tokens per second over the whole run, latency p50/p99 in seconds, requests and errors.
"""

import json
import os
import sys
import threading
import time
import urllib.request


def run_clients(clients, requests, one):
    latencies, tokens, errors, lock = [], [0], [0], threading.Lock()

    def client():
        for _ in range(requests):
            start = time.perf_counter()
            try:
                n = one()
            except Exception as error:   # counted, and the run goes on
                with lock:
                    errors[0] += 1
                print("error:", error, file=sys.stderr)
                continue
            with lock:
                latencies.append(time.perf_counter() - start)
                tokens[0] += n

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
    return {"clients": clients, "requests": clients * requests, "errors": errors[0], "tokens": tokens[0],
            "tok_s": tokens[0] / elapsed, "p50_s": pick(0.5), "p99_s": pick(0.99), "seconds": elapsed}


def main():
    kind = sys.argv[1]
    ids, max_tokens = [int(t) for t in sys.argv[6].split(",")], int(sys.argv[7])
    clients, requests = int(sys.argv[4]), int(sys.argv[5])
    if kind == "qkv":
        url, model = sys.argv[2], sys.argv[3]

        def one():
            body = json.dumps({"model": model, "prompt": ids, "max_tokens": max_tokens, "temperature": 0}).encode()
            request = urllib.request.Request(url + "/v1/completions", data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=600) as response:
                return json.loads(response.read())["usage"]["completion_tokens"]
    else:
        import xllamacpp as x
        params = x.CommonParams()
        params.model.path = sys.argv[2]
        params.n_parallel = clients
        params.n_ctx = clients * (len(ids) + max_tokens + 8)
        params.n_batch = params.n_ubatch = 512
        params.cpuparams.n_threads = params.cpuparams_batch.n_threads = int(sys.argv[3])
        params.cache_prompt = False
        server = x.Server(params)
        request = {"prompt": ids, "n_predict": max_tokens, "temperature": 0.0, "top_k": 1, "samplers": ["top_k"],
                   "cache_prompt": False, "ignore_eos": True}
        server.handle_completions(dict(request, n_predict=4))   # warm-up

        def one():
            out = server.handle_completions(request)
            if "error" in out:
                raise RuntimeError(out["error"])
            return out["timings"]["predicted_n"]
    print(json.dumps(run_clients(clients, requests, one)))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
