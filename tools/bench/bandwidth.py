#!/usr/bin/env python3
"""The machine's read bandwidth, the limit of decoding (every weight is read once per token): THREADS
threads each take the max of their part of a 1 GiB float32 array with numpy (which releases the GIL;
max is vectorised and memory-bound, where sum is not), best and
median of RUNS passes. Prints one JSON object: {"threads", "best_gb_s", "median_gb_s"}."""

import json
import statistics
import sys
import threading
import time

import numpy as np


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    data = np.ones(256 * 1024 * 1024, dtype=np.float32)       # 1 GiB, every page touched
    parts = np.array_split(data, threads)
    rates = []
    for _ in range(runs):
        workers = [threading.Thread(target=np.max, args=(part,)) for part in parts]
        start = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        rates.append(data.nbytes / (time.perf_counter() - start) / 1e9)
    print(json.dumps({"threads": threads, "best_gb_s": max(rates), "median_gb_s": statistics.median(rates)}))


if __name__ == "__main__":
    main()
