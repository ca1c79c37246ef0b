#!/usr/bin/env python3
"""llama.cpp's embedding mode as a peer of `qkv embed` (tools/bench/embed.sh): the `xllamacpp` wheel's
server, in-process, on a GGUF of the same model (`qkv convert MODEL out.gguf`), mean pooling and L2
normalization as sentence-transformers' all-MiniLM-L6-v2 does, the same corpus, batch sizes and threads.
Runs in the llama.cpp venv (tools/bench/peers.sh makes it).

    python embed_llamacpp.py MODEL.gguf CORPUS THREADS RUNS BATCHES(comma-separated) OUT.npy

A batch of B sentences is one request of B inputs, which the server decodes together (B slots). Prints
one JSON object: load seconds, sentences/s per batch size (median of RUNS), and writes the last run's
vectors at the largest batch to OUT.npy (rows in corpus order) for the cosine against qkv's.
"""

import json
import os
import statistics
import sys
import time

import numpy as np


def main():
    model, corpus, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    batches, out = [int(b) for b in sys.argv[5].split(",")], sys.argv[6]
    with open(corpus, encoding="utf-8") as f:
        texts = f.read().split("\n")[:-1]
    import xllamacpp as x
    start = time.perf_counter()
    params = x.CommonParams()
    params.model.path = model
    params.embedding = True
    params.pooling_type = x.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    params.n_parallel = max(batches)
    params.n_ctx = 512 * params.n_parallel          # MiniLM's 512 positions per slot
    params.n_batch = params.n_ubatch = 2048
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    server = x.Server(params)

    def embed(chunk):
        reply = server.handle_embeddings({"input": chunk, "model": "m"})
        if "error" in reply:
            raise SystemExit("llama.cpp: %s" % reply["error"])
        return [d["embedding"] for d in sorted(reply["data"], key=lambda d: d["index"])]

    embed(texts[:2])
    result = {"load_seconds": time.perf_counter() - start, "sentences": len(texts), "threads": threads, "per_batch": {}}
    for batch in batches:
        embed(texts[:batch])   # warm up
        rates = []
        for _ in range(runs):
            vectors = []
            t = time.perf_counter()
            for i in range(0, len(texts), batch):
                vectors += embed(texts[i:i + batch])
            rates.append(len(texts) / (time.perf_counter() - t))
        result["per_batch"][str(batch)] = statistics.median(rates)
        if batch == max(batches):
            np.save(out, np.asarray(vectors, dtype=np.float32))
    print(json.dumps(result))
    sys.stdout.flush()
    os._exit(0)   # the server's threads would keep the interpreter alive


if __name__ == "__main__":
    main()
