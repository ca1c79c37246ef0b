#!/usr/bin/env python3
"""Concurrent embedding load, for tools/bench/serve.sh (MODE=embeddings): CLIENTS threads for SECONDS each
post `/v1/embeddings` requests of INPUTS sentences of the corpus (client c starts at sentence c·INPUTS and
steps through the corpus), waiting for each answer before the next, on a kept-alive connection of its
own. Prints one JSON line: sentences/s and requests over the run, latency p50/p99 in seconds, errors (a
status other than 200, a connection error, or the wrong number of vectors).

    python serve_embed_load.py URL MODEL CORPUS CLIENTS SECONDS [INPUTS=1]
    python serve_embed_load.py --vectors URL MODEL CORPUS COUNT OUT.npy   (the first COUNT sentences, one request each)
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse


def connect(url):
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)


def post(connection, model, texts):
    body = json.dumps({"model": model, "input": texts})
    connection.request("POST", "/v1/embeddings", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError("status %d: %s" % (response.status, data[:200]))
    vectors = [item["embedding"] for item in json.loads(data)["data"]]
    if len(vectors) != len(texts):
        raise RuntimeError("%d vectors for %d inputs" % (len(vectors), len(texts)))
    return vectors


def load(url, model, sentences, clients, seconds, inputs):
    latencies, counts, lock = [], {"sentences": 0, "requests": 0, "errors": 0}, threading.Lock()
    stop = time.monotonic() + seconds

    def client(index):
        connection, i = connect(url), index * inputs
        while time.monotonic() < stop:
            texts = [sentences[(i + j) % len(sentences)] for j in range(inputs)]
            i += clients * inputs
            start = time.perf_counter()
            try:
                post(connection, model, texts)
            except Exception as error:   # counted, and the run goes on on a new connection
                with lock:
                    counts["errors"] += 1
                print("error:", error, file=sys.stderr)
                connection.close()
                connection = connect(url)
                continue
            with lock:
                latencies.append(time.perf_counter() - start)
                counts["requests"] += 1
                counts["sentences"] += inputs
        connection.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
    return {"clients": clients, "inputs": inputs, "seconds": elapsed, "requests": counts["requests"], "sentences": counts["sentences"],
            "errors": counts["errors"], "sentences_s": counts["sentences"] / elapsed, "p50_s": pick(0.5), "p99_s": pick(0.99)}


def main():
    if sys.argv[1] == "--vectors":
        url, model, corpus, count, out = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6]
        import numpy as np
        sentences = open(corpus, encoding="utf-8").read().split("\n")[:count]
        connection = connect(url)
        np.save(out, np.array([post(connection, model, [s])[0] for s in sentences], dtype=np.float32))
        return
    url, model, corpus, clients, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    inputs = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    sentences = [s for s in open(corpus, encoding="utf-8").read().split("\n") if s]
    post(connect(url), model, sentences[:inputs])   # warm-up, not counted
    print(json.dumps(load(url, model, sentences, clients, seconds, inputs)))


if __name__ == "__main__":
    main()
