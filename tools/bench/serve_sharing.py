#!/usr/bin/env python3
"""Several `qkv serve` processes on one machine share the model's pages: the page cache holds one copy of
the mapped file, and each process adds only its own heap (KV caches, scratch, the runtime). Starts
PROCESSES servers, one after another, on the same models, warms each (a completion of 64 tokens and an
embedding batch), and reads each one's /proc/PID/smaps_rollup: resident set (Rss), proportional set
(Pss: shared pages divided among their users) and private memory (Private_Clean + Private_Dirty: what the
process alone holds). With nginx installed (Debian's nginx-light), also puts the servers behind it as one
upstream (the README's configuration) and checks that every request through it succeeds and that both
servers answered some. Prints a Markdown table.

    python serve_sharing.py QKV_BIN DECODER_MODEL ENCODER_MODEL [PROCESSES=2]
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request


def smaps(pid):
    fields = {}
    for line in open(f"/proc/{pid}/smaps_rollup"):
        m = re.match(r"(\w+):\s+(\d+) kB", line)
        if m:
            fields[m.group(1)] = int(m.group(2)) / 1024
    return fields


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read()), response.headers


def start(qkv, decoder, encoder):
    log = tempfile.NamedTemporaryFile(delete=False, suffix=".log")
    process = subprocess.Popen([qkv, "serve", "gen=" + decoder, "emb=" + encoder, "--port", "0", "--threads", "2"],
                               stdout=log, stderr=subprocess.STDOUT)
    for _ in range(600):
        text = open(log.name).read()
        m = re.search(r" on (http://\S+)", text)
        if m:
            url = m.group(1)
            break
        time.sleep(0.1)
    else:
        raise SystemExit("serve_sharing: no address in %s" % log.name)
    while True:
        try:
            urllib.request.urlopen(url + "/health", timeout=5)
            break
        except Exception:   # noqa: BLE001 - 503 while loading, or not listening yet
            time.sleep(0.1)
    return process, url


def warm(url):
    post(url + "/v1/completions", {"model": "gen", "prompt": "The history of the city", "max_tokens": 64, "temperature": 0})
    post(url + "/v1/embeddings", {"model": "emb", "input": ["a sentence to embed, number %d" % i for i in range(32)]})


def through_nginx(urls):
    """Every request through one nginx upstream of the servers succeeds; returns how many each server got."""
    work = tempfile.mkdtemp()
    servers = "\n".join("        server %s;" % u.split("//")[1] for u in urls)
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""pid %s/nginx.pid;
error_log %s/error.log;
events {}
http {
    access_log off;
    upstream qkv {
%s
    }
    server {
        listen 127.0.0.1:18181;
        location / { proxy_pass http://qkv; proxy_http_version 1.1; proxy_buffering off; }
    }
}
""" % (work, work, servers))
    subprocess.run(["nginx", "-c", conf, "-p", work], check=True)
    try:
        time.sleep(0.3)
        ok = 0
        for i in range(20):
            reply, _ = post("http://127.0.0.1:18181/v1/completions", {"model": "gen", "prompt": "Number %d" % i, "max_tokens": 4})
            ok += len(reply["choices"]) == 1
        return ok
    finally:
        subprocess.run(["nginx", "-c", conf, "-p", work, "-s", "stop"], check=False, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


def requests_served(url):
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    return sum(float(m.group(1)) for m in re.finditer(r'^qkv_requests_total\{[^}]*endpoint="[^"]*completions"[^}]*\} (\S+)', text, re.M))


def main():
    qkv, decoder, encoder = sys.argv[1], sys.argv[2], sys.argv[3]
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    def file_bytes(path):   # a Hugging Face folder counts its files
        if os.path.isdir(path):
            return sum(os.path.getsize(os.path.join(path, f)) for f in os.listdir(path) if os.path.isfile(os.path.join(path, f)))
        return os.path.getsize(path)
    size = (file_bytes(decoder) + file_bytes(encoder)) / 2**20
    servers = []
    try:
        rows = []
        for i in range(count):
            process, url = start(qkv, decoder, encoder)
            servers.append((process, url))
            warm(url)
            m = smaps(process.pid)
            rows.append((i + 1, m["Rss"], m["Pss"], m["Private_Clean"] + m["Private_Dirty"], m["Shared_Clean"] + m["Shared_Dirty"]))
        print("Models: %s and %s (%.1f MiB of files); %d servers, each warmed with a 64-token completion and 32 embeddings" % (
            os.path.basename(decoder), os.path.basename(encoder.rstrip("/")), size, count))
        print()
        print("| server | resident MiB | proportional MiB | private MiB | shared MiB |")
        print("|---|---|---|---|---|")
        for i, (process, _) in enumerate(servers):
            m = smaps(process.pid)
            print("| %d (started %s) | %.1f | %.1f | %.1f | %.1f |" % (i + 1, "first" if i == 0 else "after %d" % i, m["Rss"], m["Pss"],
                                                                       m["Private_Clean"] + m["Private_Dirty"], m["Shared_Clean"] + m["Shared_Dirty"]))
        if shutil.which("nginx"):
            before = [requests_served(u) for _, u in servers]
            ok = through_nginx([u for _, u in servers])
            after = [requests_served(u) for _, u in servers]
            print()
            print("Through nginx (one upstream of the %d servers): %d of 20 completions answered; per server %s" % (
                count, ok, ", ".join("%d" % (a - b) for a, b in zip(after, before))))
        else:
            print()
            print("(nginx not installed: the load-balancer check was skipped; `apt-get install nginx-light` adds it)")
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
