#!/usr/bin/env python3
"""The peer of `qkv generate` in the decode benchmark (tools/bench/decode.sh): transformers, float32, batch 1,
greedy, torch.set_num_threads(THREADS). Run with the reference venv's python (tools/make_references.py says
how to make it).

    decode_peer.py MODEL_DIR THREADS RUNS PROMPT_IDS DECODE_PROMPT_IDS DECODE_TOKENS

PROMPT_IDS and DECODE_PROMPT_IDS are comma-separated token ids (the same ones qkv gets).
- prompt tok/s: one forward of PROMPT_IDS with use_cache=True and logits_to_keep=1 (the cache is built
  and only the last position gets logits, as transformers' generate() prefills), len(PROMPT_IDS) / seconds;
- decode tok/s: after a forward of DECODE_PROMPT_IDS (not timed), DECODE_TOKENS single-token forwards with
  past_key_values, each feeding the argmax of the last, DECODE_TOKENS / seconds;
each the median of RUNS runs after one warm-up run. Load time is from_pretrained plus the first forward.
Prints one JSON object on one line.
"""

import json
import resource
import statistics
import sys
import time
import warnings


def main():
    if len(sys.argv) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    folder, threads, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    prompt = [int(i) for i in sys.argv[4].split(",")]
    decode_prompt = [int(i) for i in sys.argv[5].split(",")]
    steps = int(sys.argv[6])
    warnings.filterwarnings("ignore")
    import torch
    torch.set_num_threads(threads)
    import transformers
    from transformers import AutoModelForCausalLM
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    with torch.no_grad():
        model(torch.tensor([decode_prompt[:2]]), use_cache=True)
    load = time.perf_counter() - start

    # transformers' own generate() prefills with logits_to_keep=1 (only the last position goes through the
    # LM head); do the same, or the 256 x vocab head product would count against the peer.
    keep = {"logits_to_keep": 1}
    try:
        with torch.no_grad():
            model(torch.tensor([decode_prompt[:2]]), use_cache=True, **keep)
    except TypeError:
        keep = {}

    def prefill():
        with torch.no_grad():
            t = time.perf_counter()
            out = model(torch.tensor([prompt]), use_cache=True, **keep)
            seconds = time.perf_counter() - t
        assert out.logits.shape[1] in (1, len(prompt))
        return len(prompt) / seconds

    def decode():
        with torch.no_grad():
            out = model(torch.tensor([decode_prompt]), use_cache=True, **keep)
            past, token = out.past_key_values, int(out.logits[0, -1].argmax())
            ids = [token]
            t = time.perf_counter()
            for _ in range(steps):
                out = model(torch.tensor([[token]]), past_key_values=past, use_cache=True)
                past, token = out.past_key_values, int(out.logits[0, -1].argmax())
                ids.append(token)
            seconds = time.perf_counter() - t
        return steps / seconds, ids

    prefill()
    decode()
    prompt_rates = [prefill() for _ in range(runs)]
    decode_runs = [decode() for _ in range(runs)]
    print(json.dumps({
        "load_seconds": load, "threads": threads, "runs": runs,
        "prompt_tokens": len(prompt), "prompt_tok_s": statistics.median(prompt_rates),
        "decode_prompt_tokens": len(decode_prompt), "decode_tokens": steps,
        "decode_tok_s": statistics.median(r for r, _ in decode_runs),
        "greedy_ids": decode_runs[0][1][:16], "logits_to_keep": bool(keep),
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "parameters": sum(p.numel() for p in model.parameters()),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
