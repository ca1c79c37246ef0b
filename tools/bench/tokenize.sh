#!/usr/bin/env bash
# Tokenizing a 200 KiB text: `qkv tokenize` (release) against Hugging Face tokenizers on the same
# tokenizer.json, for styles of Fixtures/tokenizers/hf (Llama 3's split regex on Swift's Regex, SmolLM2's
# digits + GPT-2's hand-written regex, Gemma's SentencePiece BPE). Both must give the same ids. qkv's time
# is the whole process (loading the tokenizer included), tokenizers' is encode() alone; best of 3.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release >/dev/null
export QKV_BIN="$(swift build -c release --show-bin-path)/qkv"
python3 - <<'PY'
import os, subprocess, sys, tempfile, time
sys.path.insert(0, "tools")
from fixtures_hf_tokenizers import CORPUS
from tokenizers import Tokenizer

text = "\n".join(CORPUS * 260)[:200 * 1024]
with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
    f.write(text)
try:
    for style in ["llama3", "smollm2", "gemma"]:
        path = "Fixtures/tokenizers/hf/%s.json" % style
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            out = subprocess.run([os.environ["QKV_BIN"], "tokenize", path, "--file", f.name, "--ids"], capture_output=True, text=True, check=True).stdout
            runs.append(time.perf_counter() - start)
        tok = Tokenizer.from_file(path)
        peer = []
        for _ in range(3):
            start = time.perf_counter()
            ids = tok.encode(text).ids
            peer.append(time.perf_counter() - start)
        same = out.strip() == ",".join(map(str, ids))
        n = len(text)
        print("| %s | %d | %d | %.3f s (%.2f M chars/s) | %.3f s (%.2f M chars/s) | %s |"
              % (style, n, len(ids), min(runs), n / min(runs) / 1e6, min(peer), n / min(peer) / 1e6, "yes" if same else "NO"))
finally:
    os.unlink(f.name)
PY
