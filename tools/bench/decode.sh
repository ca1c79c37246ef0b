#!/usr/bin/env bash
# Decode benchmark: `qkv generate` against transformers (PyTorch, fp32) on random-initialised decoders of
# real shapes — GPT-2 small (124M) and a LLaMA shape (134M) — made by transformers itself
# (tools/bench/random_models.py, cached in $QKV_BENCH_MODELS, default ~/.cache/qkv-bench, outside git).
# Batch 1, greedy, both at THREADS threads, in one run. Measures, per shape and per qkv dtype (f32, f16,
# bf16, q8_0: `qkv convert --dtype`):
#   decode tok/s   DECODE_TOKENS (default 128) tokens after a short 8-token prompt
#   prompt tok/s   one PROMPT_TOKENS-token prompt (default 256)
# qkv: release build, its own timing line (the last line of stderr), median of RUNS runs (default 3) after
# one warm-up run (page cache warm). Peer: tools/bench/decode_peer.py in the reference venv
# ($QKV_REF_PYTHON, default ~/.cache/qkv-ref-venv/bin/python; tools/make_references.py says how to make
# it), transformers fp32, run again right before each qkv dtype (each row's ratio is against the peer
# run next to it). Both get the same token ids (seeded, no special tokens).
# Prints a Markdown table for Specs/benchmarks.md.
#   QKV_BIN=path     use this qkv binary instead of building one
#   QKV_SCRATCH=dir  build in this scratch path (swift build --scratch-path) instead of .build
#   SHAPES="gpt2-124m llama-134m"  DTYPES="f32 f16 bf16 q8_0"  THREADS  RUNS  DECODE_TOKENS  PROMPT_TOKENS
# Kernels: on KERNEL_SHAPES (default llama-134m), every dtype's decode is also run with
# QKV_KERNELS set to each of KERNEL_LEVELS (default "swift avx2"): the Swift kernels against the C ones,
# the measurement that justifies the C target (issue 7's 10 % rule), in a second table.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${RUNS:-3}
threads=${THREADS:-$(nproc)}
decode_tokens=${DECODE_TOKENS:-128}
prompt_tokens=${PROMPT_TOKENS:-256}
shapes=${SHAPES:-gpt2-124m llama-134m}
dtypes=${DTYPES:-f32 f16 bf16 q8_0}
models=${QKV_BENCH_MODELS:-$HOME/.cache/qkv-bench}
peer=${QKV_REF_PYTHON:-$HOME/.cache/qkv-ref-venv/bin/python}
[ -x "$peer" ] || { echo "bench: no reference python at $peer (see tools/make_references.py)" >&2; exit 2; }
if [ -n "${QKV_BIN:-}" ]; then
    qkv=$QKV_BIN
else
    bash tools/setup.sh >/dev/null
    scratch=()
    [ -n "${QKV_SCRATCH:-}" ] && scratch=(--scratch-path "$QKV_SCRATCH")
    swift build -c release "${scratch[@]}" >/dev/null
    qkv="$(swift build -c release "${scratch[@]}" --show-bin-path)/qkv"
fi
"$qkv" --help 2>/dev/null | grep -qE '^ +generate ' || { echo "bench: $qkv has no generate command" >&2; exit 2; }
"$peer" tools/bench/random_models.py "$models" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ids() {  # ids VOCAB SEED COUNT -> comma-separated ids in [3, VOCAB-1): no special tokens of either shape
    python3 -c 'import random, sys; v, s, n = map(int, sys.argv[1:]); r = random.Random(s); print(",".join(str(r.randrange(3, v - 1)) for _ in range(n)))' "$@"
}

# One qkv run: its last stderr line, prefixed with what was run, appended to $work/lines.
run_qkv() {  # run_qkv SHAPE DTYPE KIND MODEL IDS MAX_TOKENS [KERNEL_LEVEL]
    local shape=$1 dtype=$2 kind=$3 model=$4 prompt=$5 max=$6
    QKV_KERNELS="${7:-${QKV_KERNELS:-}}" "$qkv" generate "$model" --prompt-ids "$prompt" --max-tokens "$max" --temperature 0 --ignore-eos --ids \
        --threads "$threads" >"$work/out" 2>"$work/err" || { echo "bench: qkv generate failed:" >&2; cat "$work/err" >&2; exit 1; }
    printf '%s\t%s\t%s\t%s\n' "$shape" "$dtype" "$kind" "$(tail -n 1 "$work/err")" >> "$work/lines"
    [ "$kind" = decode ] && printf '%s\t%s\t%s\n' "$shape" "$dtype" "$(tr -s ', \n' '  ' < "$work/out")" >> "$work/ids"
    return 0
}

: > "$work/lines"
: > "$work/peers"
for shape in $shapes; do
    folder="$models/$shape"
    vocab=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["vocab_size"])' "$folder/config.json")
    long=$(ids "$vocab" 1 "$prompt_tokens")
    short=$(ids "$vocab" 2 8)
    for dtype in $dtypes; do
        # The peer again before every dtype, so each ratio compares runs minutes apart at most: this
        # shared machine's speed drifts by 10-20 % within a suite (Specs/benchmarks.md).
        echo "bench: $shape: transformers fp32 (next to qkv $dtype)" >&2
        printf '%s\t%s\t%s\n' "$shape" "$dtype" "$("$peer" tools/bench/decode_peer.py "$folder" "$threads" "$runs" "$long" "$short" "$decode_tokens" 2>/dev/null | tail -1)" >> "$work/peers"
        echo "bench: $shape: qkv $dtype" >&2
        model="$work/$shape-$dtype.qkv"
        "$qkv" convert "$folder" "$model" --dtype "$dtype" -q
        printf '%s\t%s\t%s\n' "$shape" "$dtype" "$(stat -c %s "$model")" >> "$work/sizes"
        run_qkv "$shape" "$dtype" warmup "$model" "$short" 8 && sed -i '$d' "$work/lines"
        for _ in $(seq "$runs"); do
            run_qkv "$shape" "$dtype" decode "$model" "$short" "$decode_tokens"
            run_qkv "$shape" "$dtype" prompt "$model" "$long" 1
        done
        if [[ " ${KERNEL_SHAPES:-llama-134m} " == *" $shape "* ]]; then
            for level in ${KERNEL_LEVELS:-swift avx2}; do
                for _ in $(seq "$runs"); do run_qkv "$shape" "$dtype" "kernels-$level" "$model" "$short" "$decode_tokens" "$level"; done
            done
        fi
        rm -f "$model"
    done
done

python3 - "$work/lines" "$work/peers" "$work/sizes" "$work/ids" "$threads" "$runs" "$decode_tokens" "$prompt_tokens" "${BENCH_JSON:-}" <<'PY'
import json, re, statistics, sys
lines, peers, sizes, idsfile, threads, runs, decode_tokens, prompt_tokens, json_out = sys.argv[1:]
LINE = re.compile(r"load (?P<load>[0-9.]+) s; prompt (?P<pt>\d+) tokens in (?P<ps>[0-9.]+) s \((?P<prate>[0-9.]+|inf) tok/s[^)]*\); "
                  r"generated (?P<gt>\d+) tokens in (?P<gs>[0-9.]+) s \((?P<grate>[0-9.]+|inf) tok/s[^)]*\)")
rates = {}
for row in open(lines):
    shape, dtype, kind, line = row.rstrip("\n").split("\t", 3)
    m = LINE.search(line)
    if not m:
        sys.exit("bench: cannot parse qkv's timing line: %r" % line)
    rate = float(m["prate"]) if kind == "prompt" else float(m["grate"])
    rates.setdefault((shape, dtype, kind), []).append(rate)
    rates.setdefault((shape, dtype, "load"), []).append(float(m["load"]))
peer_at = {}   # (shape, dtype) -> the peer's run right before that dtype's
peer = {}      # shape -> its first peer run (load time, greedy ids: the same in every run)
for row in open(peers):
    shape, dtype, text = row.rstrip("\n").split("\t", 2)
    peer_at[(shape, dtype)] = json.loads(text)
    peer.setdefault(shape, peer_at[(shape, dtype)])
size = {}
for row in open(sizes):
    shape, dtype, n = row.split()
    size[(shape, dtype)] = int(n)
median = lambda key: statistics.median(rates[key])
target = {"f32": 1.5, "f16": 2.5, "bf16": 2.5, "q8_0": 5.5}
first = next(iter(peer.values()))
print("Random-initialised models of real shapes, batch 1, greedy, %s threads; decode: %s tokens after an "
      "8-token prompt; prompt: one %s-token prompt; tok/s are medians of %s runs; transformers %s / torch %s "
      "fp32 at every row, run again right before each row's qkv runs" % (threads, decode_tokens, prompt_tokens, runs, first["transformers"], first["torch"]))
print()
print("| shape | qkv dtype | qkv decode tok/s | transformers fp32 decode tok/s | ratio | qkv prompt tok/s | "
      "transformers prompt tok/s | ratio | qkv file MB | qkv decode GB/s |")
print("|---|---|---|---|---|---|---|---|---|---|")
notes = []
results = []   # for tools/bench/suite.sh (BENCH_JSON)
for (shape, dtype) in sorted(size, key=lambda k: (list(peer).index(k[0]), ["f32", "f16", "bf16", "q8_0"].index(k[1]))):
    p = peer_at[(shape, dtype)]
    qd, qp = median((shape, dtype, "decode")), median((shape, dtype, "prompt"))
    rd, rp = qd / p["decode_tok_s"], qp / p["prompt_tok_s"]
    print("| %s | %s | %.1f | %.1f | %.2fx | %.1f | %.1f | %.2fx | %.0f | %.1f |" % (
        shape, dtype, qd, p["decode_tok_s"], rd, qp, p["prompt_tok_s"], rp, size[(shape, dtype)] / 1e6,
        size[(shape, dtype)] * qd / 1e9))
    results.append({"shape": shape, "dtype": dtype, "qkv_decode": qd, "peer_decode": p["decode_tok_s"], "qkv_prompt": qp,
                    "peer_prompt": p["prompt_tok_s"], "file_bytes": size[(shape, dtype)]})
    if rd < target[dtype]:
        notes.append("%s %s decode %.2fx < %.1fx" % (shape, dtype, rd, target[dtype]))
    if dtype == "f32" and rp < 1.2:
        notes.append("%s f32 prompt %.2fx < 1.2x" % (shape, rp))
kernel_rows = []
levels = sorted({k[2][len("kernels-"):] for k in rates if k[2].startswith("kernels-")}, key=lambda l: ["swift", "avx2", "avx512"].index(l) if l in ["swift", "avx2", "avx512"] else 9)
if levels:
    flags = open("/proc/cpuinfo").read()
    best = "avx512" if "avx512bw" in flags else "avx2" if "avx2" in flags else "swift"
    print()
    print("Kernels: the same decode (tok/s, medians) with QKV_KERNELS forcing each level; `default` is the widest "
          "this processor has (%s). Swift compiles for baseline x86-64 (SSE2); C: Sources/CQKVKernels." % best)
    print()
    print("| shape | dtype | " + " | ".join(levels) + " | default | default / swift |")
    print("|---|---|" + "---|" * (len(levels) + 2))
    for (shape, dtype) in sorted(size, key=lambda k: (list(peer).index(k[0]), ["f32", "f16", "bf16", "q8_0"].index(k[1]))):
        if (shape, dtype, "kernels-" + levels[0]) not in rates:
            continue
        values = [median((shape, dtype, "kernels-" + l)) for l in levels]
        default = median((shape, dtype, "decode"))
        swift = median((shape, dtype, "kernels-swift")) if "swift" in levels else None
        print("| %s | %s | %s | %.1f | %s |" % (shape, dtype, " | ".join("%.1f" % v for v in values), default,
                                              "%.2fx" % (default / swift) if swift else ""))
        kernel_rows.append({"shape": shape, "dtype": dtype, "levels": dict(zip(levels, values)), "default": default, "default_level": best})
if json_out:
    with open(json_out, "w") as f:
        json.dump({"rows": results, "kernels": kernel_rows, "threads": int(threads), "runs": int(runs)}, f)
print()
for shape, p in peer.items():
    loads = [median((shape, d, "load")) for d in ["f32", "f16", "bf16", "q8_0"] if (shape, d, "load") in rates]
    print("- %s: load qkv %s s, transformers %.2f s (from_pretrained + first forward)" % (
        shape, " / ".join("%.3f" % l for l in loads), p["load_seconds"]))
generated = {}
for row in open(idsfile):
    shape, dtype, text = row.rstrip("\n").split("\t", 2)
    generated.setdefault((shape, dtype), [int(t) for t in text.split()])
for shape, p in peer.items():
    want = p["greedy_ids"]
    same = ["%s %d/%d" % (d, next((i for i, (a, b) in enumerate(zip(generated[(shape, d)], want)) if a != b),
                                  min(len(want), len(generated[(shape, d)]))), len(want))
            for d in ["f32", "f16", "bf16", "q8_0"] if (shape, d) in generated]
    print("- %s: greedy tokens equal to transformers' before the first difference: %s (random weights: "
          "near-ties, so reduced precision may part early)" % (shape, ", ".join(same)))
print("- targets (issue 7): decode >= 1.5x transformers at f32, >= 2.5x at f16/bf16, >= 5.5x at q8_0; prompt >= 1.2x at f32. "
      + ("Missed: " + "; ".join(notes) + "." if notes else "All met."))
print("- GB/s is the whole .qkv file times decode tok/s; an untied input embedding is only gathered, not read "
      "per token, so for LLaMA it overstates the bytes moved.")
PY
