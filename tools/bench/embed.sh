#!/usr/bin/env bash
# Embedding benchmark: `qkv embed` against sentence-transformers (PyTorch) on the real all-MiniLM-L6-v2,
# the same corpus of real English sentences (tools/bench/corpus.py), the same batch sizes and threads,
# in one run. qkv: release build, median of RUNS runs (default 3) of the whole corpus; its own timing
# line splits load from embedding. Peer: tools/bench/embed_peer.py in the reference venv
# ($QKV_REF_PYTHON, default ~/.cache/qkv-ref-venv/bin/python; tools/make_references.py says how to make it).
# llama.cpp's embedding mode too when its venv is there (tools/bench/peers.sh; tools/bench/embed_llamacpp.py)
# on a GGUF that `qkv convert` makes of the same model, with the cosine of its vectors against qkv's.
# qkv runs with f32 activations (exact) and with `--activations bf16` (where the CPU has AVX512_BF16: the
# layers' weights and tokens rounded to bf16), the latter's smallest cosine against sentence-transformers'
# vectors beside it; the peer also runs cast to bfloat16, the like-for-like comparison.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${RUNS:-3}
threads=${THREADS:-$(nproc)}
peer=${QKV_REF_PYTHON:-$HOME/.cache/qkv-ref-venv/bin/python}
[ -x "$peer" ] || { echo "bench: no reference python at $peer (see tools/make_references.py)" >&2; exit 2; }
bash tools/setup.sh >/dev/null
# QKV_SCRATCH: a build directory of your own (e.g. .build-perf) when others build in .build at the same time.
# QKV_BIN: a release qkv built already (tools/bench/suite.sh builds once for every benchmark).
scratch=(${QKV_SCRATCH:+--scratch-path "$QKV_SCRATCH"})
if [ -n "${QKV_BIN:-}" ]; then
    qkv=$QKV_BIN
else
    swift build -c release "${scratch[@]}" >/dev/null
    qkv="$(swift build -c release "${scratch[@]}" --show-bin-path)/qkv"
fi
model=$(bash tools/fetch-models.sh | sed -n 1p)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 tools/bench/corpus.py "$work/corpus.txt" 1200 >&2
"$qkv" convert "$model" "$work/minilm.qkv" -q
n=$(wc -l < "$work/corpus.txt")

median() { sort -g | sed -n "$(( (runs + 1) / 2 ))p"; }

declare -A rate rss
for act in f32 bf16; do
    for batch in 1 32; do
        rates=()
        for _ in $(seq "$runs"); do
            line=$(/usr/bin/time -f "RSS %M" "$qkv" embed "$work/minilm.qkv" --file "$work/corpus.txt" --batch "$batch" \
                   --threads "$threads" --activations "$act" --format npy -o "$work/out-$act.npy" 2>&1 >/dev/null)
            rates+=("$(echo "$line" | sed -n 's/.*(\([0-9.]*\) texts\/s.*/\1/p')")
            [ "$act" = f32 ] && rss[$batch]=$(echo "$line" | sed -n 's/^RSS //p')
            [ "$act" = f32 ] && load=$(echo "$line" | sed -n 's/.*model load \([0-9.]*\) s.*/\1/p')
        done
        rate[$act,$batch]=$(printf '%s\n' "${rates[@]}" | median)
    done
done
cp "$work/out-f32.npy" "$work/out.npy"
peer_json=$("$peer" tools/bench/embed_peer.py "$model" "$work/corpus.txt" "$threads" "$runs" 1,32 "$work/peer.npy" bf16 2>/dev/null | tail -1)
# The smallest cosine of qkv's bf16-activation vectors against sentence-transformers' (f32).
bf16_cosine=$(python3 -c 'import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
print(float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min()))' "$work/out-bf16.npy" "$work/peer.npy")
llamacpp=$HOME/.cache/qkv-llamacpp-venv/bin/python
llamacpp_json=null
if [ -x "$llamacpp" ]; then
    "$qkv" convert "$model" "$work/minilm.gguf" -q
    llamacpp_json=$("$llamacpp" tools/bench/embed_llamacpp.py "$work/minilm.gguf" "$work/corpus.txt" "$threads" "$runs" 1,32 \
        "$work/llamacpp.npy" 2>"$work/llamacpp.log" | tail -1) || { tail -5 "$work/llamacpp.log" >&2; exit 1; }
    # Cosine of each sentence's vector against qkv's (the batch-32 run above wrote out.npy).
    llamacpp_json=$(python3 -c 'import json, sys, numpy as np
j = json.loads(sys.argv[1]); a, b = np.load(sys.argv[2]), np.load(sys.argv[3])
j["min_cosine"] = float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())
print(json.dumps(j))' "$llamacpp_json" "$work/out.npy" "$work/llamacpp.npy")
else
    echo "embed.sh: no llama.cpp venv ($llamacpp; tools/bench/peers.sh makes it): its column is left out" >&2
fi
model_bytes=$(stat -c %s "$work/minilm.qkv")

# Open + first embedding, as a user waits for it: the whole process for one short text (median of RUNS).
firsts=()
for _ in $(seq "$runs"); do
    /usr/bin/time -f "%e" -o "$work/first" "$qkv" embed "$work/minilm.qkv" "hello world" --threads "$threads" -q >/dev/null
    firsts+=("$(cat "$work/first")")
done
first=$(printf '%s\n' "${firsts[@]}" | median)

python3 - "$peer_json" "${rate[f32,1]}" "${rate[f32,32]}" "${rss[1]}" "${rss[32]}" "$load" "$model_bytes" "$n" "$threads" "$first" "${BENCH_JSON:-}" "$llamacpp_json" \
    "${rate[bf16,1]}" "${rate[bf16,32]}" "$bf16_cosine" <<'PY'
import json, sys
peer, cpp = json.loads(sys.argv[1]), json.loads(sys.argv[12])
b1, b32, bf16_cosine = float(sys.argv[13]), float(sys.argv[14]), float(sys.argv[15])
pb = peer.get("per_batch_bf16", {})
first, json_out = float(sys.argv[10]), sys.argv[11]
q1, q32, rss1, rss32, load, model, n, threads = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7]), sys.argv[8], sys.argv[9]
p1, p32 = peer["per_batch"]["1"], peer["per_batch"]["32"]
print("all-MiniLM-L6-v2, %s real English sentences, %s threads; sentences/s are medians" % (n, threads))
print()
print("| measure | qkv | sentence-transformers | ratio |")
print("|---|---|---|---|")
print("| sentences/s, batch 1 | %.1f | %.1f | %.2fx |" % (q1, p1, q1 / p1))
print("| sentences/s, batch 32 | %.1f | %.1f | %.2fx |" % (q32, p32, q32 / p32))
print("| sentences/s, batch 1, qkv `--activations bf16` (smallest cosine against the peer %.7f) | %.1f | %.1f | %.2fx |" % (bf16_cosine, b1, p1, b1 / p1))
print("| sentences/s, batch 32, qkv `--activations bf16` | %.1f | %.1f | %.2fx |" % (b32, p32, b32 / p32))
if pb:
    print("| sentences/s, batch 1, both bf16 (the peer cast to bfloat16: smallest cosine %.7f) | %.1f | %.1f | %.2fx |" % (peer["bf16_min_cosine"], b1, pb["1"], b1 / pb["1"]))
    print("| sentences/s, batch 32, both bf16 | %.1f | %.1f | %.2fx |" % (b32, pb["32"], b32 / pb["32"]))
if cpp:
    c1, c32 = cpp["per_batch"]["1"], cpp["per_batch"]["32"]
    print("| llama.cpp embedding mode (xllamacpp, same model as GGUF), sentences/s, batch 1 | %.1f | %.1f (llama.cpp) | %.2fx |" % (q1, c1, q1 / c1))
    print("| llama.cpp embedding mode, sentences/s, batch 32 | %.1f | %.1f (llama.cpp) | %.2fx |" % (q32, c32, q32 / c32))
    print("| llama.cpp's vectors against qkv's: smallest cosine over the corpus | | %.7f | |" % cpp["min_cosine"])
print("| model load, s | %.3f | %.3f | %.2fx faster |" % (load, peer["load_seconds"], peer["load_seconds"] / load))
print("| peak RSS, MiB (batch 32) | %.1f | %.1f | %.2fx less |" % (rss32 / 1024, peer["peak_rss_kib"] / 1024, peer["peak_rss_kib"] / rss32))
print("| peak RSS / model file | %.2f | %.2f | |" % (rss32 * 1024 / model, peer["peak_rss_kib"] * 1024 / model))
print("| open + first embedding (whole process), s | %.3f | load %.3f | %.2fx of the peer's load |" % (first, peer["load_seconds"], first / peer["load_seconds"]))
if json_out:
    with open(json_out, "w") as f:
        json.dump({"qkv_batch1": q1, "peer_batch1": p1, "qkv_batch32": q32, "peer_batch32": p32, "qkv_load": load,
                   "peer_load": peer["load_seconds"], "qkv_first_output": first, "qkv_rss_kib": rss32,
                   "peer_rss_kib": peer["peak_rss_kib"], "model_bytes": model, "sentences": int(n), "threads": int(threads),
                   "llamacpp_batch1": cpp and cpp["per_batch"]["1"], "llamacpp_batch32": cpp and cpp["per_batch"]["32"],
                   "llamacpp_load": cpp and cpp["load_seconds"], "llamacpp_min_cosine": cpp and cpp["min_cosine"],
                   "qkv_bf16_batch1": b1, "qkv_bf16_batch32": b32, "qkv_bf16_min_cosine": bf16_cosine,
                   "peer_bf16_batch1": pb.get("1"), "peer_bf16_batch32": pb.get("32"), "peer_bf16_min_cosine": peer.get("bf16_min_cosine")}, f)
PY
