#!/usr/bin/env python3
"""A soak run of `qkv serve`, for tools/bench/serve.sh (SOAK=1): CLIENTS threads for SECONDS send requests
without pause, alternating an embedding of a sentence (EMBED_MODEL) and a short greedy completion
(COMPLETE_MODEL, 16 tokens), while the server's resident memory (VmRSS of PID) is read every 5 s, split
into anonymous memory (RssAnon: heap, caches, sessions) and mapped file pages (RssFile: the models' pages
touched so far, which grow as new tokens' embedding rows are read, and which the kernel may reclaim).
Prints one JSON line: requests, failures (any non-200 or connection error), requests/s, and the resident
memory at the first minute and at the end, with the drift between them, in total and split.

    python serve_soak.py URL PID CLIENTS SECONDS EMBED_MODEL COMPLETE_MODEL
"""

import json
import sys
import threading
import time
import urllib.request


def rss_mib(pid):
    """(VmRSS, RssAnon, RssFile) of PID in MiB."""
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("RssAnon", 0.0), fields.get("RssFile", 0.0)


def main():
    url, pid, clients, seconds, embed_model, complete_model = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
    stop = time.monotonic() + seconds
    counts, lock = {"requests": 0, "failures": 0}, threading.Lock()

    def post(path, body):
        request = urllib.request.Request(url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
            return response.status

    def client(index):
        i = 0
        while time.monotonic() < stop:
            i += 1
            try:
                if (index + i) % 2:
                    status = post("/v1/embeddings", {"model": embed_model, "input": f"Sentence {i} of client {index}, about the sea."})
                else:
                    status = post("/v1/completions", {"model": complete_model, "prompt": [1, 450 + index, 4996 + i % 100], "max_tokens": 16, "temperature": 0})
                failed = status != 200
            except Exception:
                failed = True
            with lock:
                counts["requests"] += 1
                counts["failures"] += failed

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    samples = []
    while any(t.is_alive() for t in threads):
        samples.append((time.monotonic() - start, rss_mib(pid)))
        time.sleep(5)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    after_minute = next((m for s, m in samples if s >= 60), samples[0][1])
    end = samples[-1][1]
    print(json.dumps({"clients": clients, "seconds": round(elapsed), "requests": counts["requests"], "failures": counts["failures"],
                      "requests_s": round(counts["requests"] / elapsed, 1), "rss_first_minute_mib": round(after_minute[0]),
                      "rss_end_mib": round(end[0]), "rss_drift_mib": round(end[0] - after_minute[0]),
                      "rss_max_mib": round(max(m[0] for _, m in samples)),
                      "anon_first_minute_mib": round(after_minute[1]), "anon_drift_mib": round(end[1] - after_minute[1]),
                      "file_first_minute_mib": round(after_minute[2]), "file_drift_mib": round(end[2] - after_minute[2]),
                      # Anonymous memory every 5 minutes, to see whether it levels off.
                      "anon_every_5_min_mib": [round(m[1]) for s, m in samples if int(s) % 300 < 5]}))


if __name__ == "__main__":
    main()
