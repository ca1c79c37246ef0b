#!/usr/bin/env python3
"""Inter-token latency of streams decoding while a long prompt arrives (issue 16: prompt chunks batched
with the decode steps): STREAMS streaming greedy completions of MAX_TOKENS against `qkv serve MODEL`; once
each has streamed 5 pieces, one completion of LONG random token ids (max_tokens 1). The gaps between the
streams' pieces that overlap the long request are its cost to them.

    python serve_arrival.py QKV MODEL STREAMS LONG MAX_TOKENS [serve flags...]   (e.g. --chunk-tokens 64)

MODEL needs a tokenizer (the streams' text arrives in pieces): tools/bench/serve.sh's llama-134m GGUF with
LLaMA's vocabulary. Prints one JSON line: the server's CPU seconds over the run (steadier than the wall
clock on a shared machine), the long request's seconds, the p50 and largest gap during it, how many, and
the p50 gap outside it.
"""

import json
import random
import subprocess
import sys
import threading
import time
import urllib.request

qkv, model, streams, long_tokens, max_tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
server = subprocess.Popen([qkv, "serve", model, "--port", "0", "--threads", "2", "--parallel", "8", *sys.argv[6:]],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
url = server.stdout.readline().strip().split(" on ")[-1]
while True:
    try:
        urllib.request.urlopen(url + "/health")
        break
    except OSError:
        time.sleep(0.1)
name = model.rsplit("/", 1)[-1].rsplit(".", 1)[0]
ids = random.Random(11)


def post(body):
    request = urllib.request.Request(url + "/v1/completions", json.dumps(body).encode(), {"Content-Type": "application/json"})
    return urllib.request.urlopen(request)


arrivals = [[] for _ in range(streams)]   # each stream's pieces' times


def stream(i, prompt):
    with post({"model": name, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "stream": True}) as response:
        for line in response:
            if line.startswith(b"data: {"):
                arrivals[i].append(time.monotonic())


threads = [threading.Thread(target=stream, args=(i, [ids.randrange(3, 32000) for _ in range(32)])) for i in range(streams)]
for thread in threads:
    thread.start()
deadline = time.monotonic() + 60
while any(len(a) < 5 for a in arrivals) and time.monotonic() < deadline:
    time.sleep(0.01)
sent = time.monotonic()
with post({"model": name, "prompt": [ids.randrange(3, 32000) for _ in range(long_tokens)], "max_tokens": 1, "temperature": 0}) as response:
    response.read()
done = time.monotonic()
for thread in threads:
    thread.join()
with open("/proc/%d/stat" % server.pid) as stat:   # user and system time of the server, in clock ticks
    fields = stat.read().rsplit(")", 1)[1].split()
cpu_seconds = (int(fields[11]) + int(fields[12])) / 100
server.terminate()
server.wait()
during, outside = [], []
for times in arrivals:
    for a, b in zip(times, times[1:]):
        (during if b > sent and a < done else outside).append(b - a)


def median(xs):
    return sorted(xs)[len(xs) // 2] if xs else float("nan")


print(json.dumps({"server_cpu_s": cpu_seconds, "long_s": round(done - sent, 2), "gap_during_p50_ms": round(1e3 * median(during)), "gap_during_max_ms": round(1e3 * max(during, default=0)),
                  "gaps_during": len(during), "gap_outside_p50_ms": round(1e3 * median(outside))}))
