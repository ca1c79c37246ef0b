#!/usr/bin/env python3
"""The peer of `qkv embed` in the embedding benchmark: sentence-transformers (PyTorch) on the same model,
corpus, batch sizes and threads. Run with the reference venv's python (tools/make_references.py says
how to make it). Prints one JSON object: load seconds, sentences/s per batch size (median of RUNS),
peak RSS in KiB. With a sixth argument, saves its vectors (batch 32, f32) there as .npy; with a seventh,
`bf16`, runs the model cast to bfloat16 too (sentences/s per batch size, and its smallest cosine against
the f32 vectors), after the f32 runs so that their peak memory is not mixed in."""

import json
import resource
import statistics
import sys
import time


def main():
    model_path, corpus, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    batches = [int(b) for b in sys.argv[5].split(",")]
    import torch
    torch.set_num_threads(threads)
    from sentence_transformers import SentenceTransformer
    with open(corpus, encoding="utf-8") as f:
        texts = f.read().split("\n")[:-1]
    start = time.perf_counter()
    model = SentenceTransformer(model_path, device="cpu")
    model.encode(texts[:2])
    load = time.perf_counter() - start
    result = {"load_seconds": load, "sentences": len(texts), "threads": threads, "per_batch": {}}
    for batch in batches:
        model.encode(texts[:64], batch_size=batch)   # warm up
        rates = []
        for _ in range(runs):
            t = time.perf_counter()
            model.encode(texts, batch_size=batch, show_progress_bar=False)
            rates.append(len(texts) / (time.perf_counter() - t))
        result["per_batch"][str(batch)] = statistics.median(rates)
    result["peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if len(sys.argv) > 6:
        import numpy as np
        reference = model.encode(texts, batch_size=32, show_progress_bar=False)
        np.save(sys.argv[6], reference)
        if len(sys.argv) > 7 and sys.argv[7] == "bf16":
            model = model.to(torch.bfloat16)
            result["per_batch_bf16"] = {}
            for batch in batches:
                model.encode(texts[:64], batch_size=batch, convert_to_numpy=False)
                rates = []
                for _ in range(runs):
                    t = time.perf_counter()
                    vectors = model.encode(texts, batch_size=batch, show_progress_bar=False, convert_to_numpy=False)
                    rates.append(len(texts) / (time.perf_counter() - t))
                result["per_batch_bf16"][str(batch)] = statistics.median(rates)
            v = torch.stack(vectors).float().numpy()
            result["bf16_min_cosine"] = float(((v * reference).sum(1) / np.linalg.norm(v, axis=1) / np.linalg.norm(reference, axis=1)).min())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
