#!/usr/bin/env python3
"""The peer of `qkv serve`'s embeddings in tools/bench/serve.sh (MODE=embeddings): sentence-transformers
behind a plain batching loop, speaking the same `POST /v1/embeddings` shape. HTTP threads put each
request's texts on a queue; one thread drains it into a batch of up to MAX_BATCH texts, or whatever came
within WAIT_MS of the batch's first request, runs one `model.encode` on it and hands each request its own
vectors back. `GET /stats` answers the batches, texts and seconds in `encode` so far. Run with the reference venv's python (tools/make_references.py says how to make it).
Prints `listening on http://127.0.0.1:PORT` once the model is loaded.

    python embed_serve_peer.py MODEL_FOLDER THREADS [MAX_BATCH=64] [WAIT_MS=2]
"""

import http.server
import json
import queue
import sys
import threading
import time


class Pending:
    """One request's texts, waiting for their vectors."""

    def __init__(self, texts):
        self.texts, self.vectors, self.error, self.done = texts, None, None, threading.Event()


def batching_loop(model, waiting, max_batch, wait_seconds, stats):
    while True:
        batch = [waiting.get()]
        count, deadline = len(batch[0].texts), time.monotonic() + wait_seconds
        while count < max_batch:
            try:
                item = waiting.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            batch.append(item)
            count += len(item.texts)
        stats["batches"] += 1
        stats["texts"] += count
        try:
            start = time.perf_counter()
            vectors = model.encode([t for p in batch for t in p.texts], batch_size=count, show_progress_bar=False)
            stats["encode_seconds"] += time.perf_counter() - start
            start = 0
            for p in batch:
                p.vectors = vectors[start:start + len(p.texts)]
                start += len(p.texts)
        except Exception as error:   # every request of the batch answers 500
            for p in batch:
                p.error = str(error)
        for p in batch:
            p.done.set()


def main():
    folder, threads = sys.argv[1], int(sys.argv[2])
    max_batch = int(sys.argv[3]) if len(sys.argv) > 3 else 64
    wait_seconds = (float(sys.argv[4]) if len(sys.argv) > 4 else 2.0) / 1000
    import torch
    torch.set_num_threads(threads)
    from sentence_transformers import SentenceTransformer
    model = SentenceTransformer(folder, device="cpu")
    model.encode(["warm up"] * 4)
    waiting, stats = queue.Queue(), {"batches": 0, "texts": 0, "encode_seconds": 0.0}
    threading.Thread(target=batching_loop, args=(model, waiting, max_batch, wait_seconds, stats), daemon=True).start()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"   # keep-alive, as the clients and qkv's server use it

        def log_message(self, *args):
            pass

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):   # /stats: batches run and texts in them so far
            self.answer(200, stats)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            pending = Pending(texts)
            waiting.put(pending)
            pending.done.wait()
            if pending.error is not None:
                return self.answer(500, {"error": {"message": pending.error, "type": "server_error", "param": None, "code": None}})
            data = [{"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(pending.vectors)]
            self.answer(200, {"object": "list", "data": data, "model": body.get("model", "")})

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128   # listen backlog: the default 5 resets the connections of 32 clients starting at once

    server = Server(("127.0.0.1", 0), Handler)
    print("listening on http://127.0.0.1:%d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
