#!/usr/bin/env bash
# Tokenizing a 200 KiB text: `qkv tokenize` (release) against Hugging Face tokenizers on the same
# tokenizer.json, for the styles of Fixtures/tokenizers/hf (Llama 3's split regex on Swift's Regex,
# SmolLM2's digits + GPT-2's hand-written regex, Gemma's SentencePiece BPE). Both must give the same ids.
# Wall time of the whole process for qkv (load included), of encode() alone for tokenizers; best of 3.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release >/dev/null
bin="$(swift build -c release --show-bin-path)/qkv"
text=$(mktemp)
trap 'rm -f "$text"' EXIT
python3 - "$text" <<'PY'
import sys
sys.path.insert(0, "tools")
from fixtures_hf_tokenizers import CORPUS
open(sys.argv[1], "w", encoding="utf-8").write("\n".join(CORPUS * 260)[:200 * 1024])
PY
for style in llama3 smollm2 gemma; do
  json=Fixtures/tokenizers/hf/$style.json
  best=
  for _ in 1 2 3; do
    start=$(date +%s.%N); "$bin" tokenize "$json" --file "$text" --ids > "$text.qkv"; end=$(date +%s.%N)
    t=$(echo "$end - $start" | bc); best=$(echo "if (\"$best\" == \"\" || $t < $best) $t else $best" | bc 2>/dev/null || echo "$t")
  done
  python3 - "$json" "$text" "$text.qkv" "$style" "$best" <<'PY'
import sys, time
from tokenizers import Tokenizer
json_path, text_path, qkv_out, style, qkv_seconds = sys.argv[1:]
tok = Tokenizer.from_file(json_path)
text = open(text_path, encoding="utf-8").read()
best = min((lambda t: (tok.encode(text), time.perf_counter() - t)[1])(time.perf_counter()) for _ in range(3))
ids = tok.encode(text).ids
same = open(qkv_out).read().strip() == ",".join(map(str, ids))
n = len(text)
print("%-8s %7d chars %6d ids  qkv %.3f s (%.2f M chars/s)  tokenizers %.3f s (%.2f M chars/s)  same ids: %s"
      % (style, n, len(ids), float(qkv_seconds), n / float(qkv_seconds) / 1e6, best, n / best / 1e6, same))
PY
  rm -f "$text.qkv"
done
