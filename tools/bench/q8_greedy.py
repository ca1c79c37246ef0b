#!/usr/bin/env python3
"""Greedy decoding with f32 against 8-bit activations (`--activations q8`) on the real Gemma 3's reference
prompts (Fixtures/reference/gemma3/cases.json, each cut to 256 ids): for each GGUF given, 32 greedy tokens
per prompt with each path; prints a Markdown table of the step at which the 8-bit tokens first leave the
f32 ones (- when they agree throughout). Run from the repository:

    python3 tools/bench/q8_greedy.py "$(swift build -c release --show-bin-path)/qkv" gemma-3-270m-q4_k_m.gguf ...
"""
import json, os, subprocess, sys
qkv, files = sys.argv[1], sys.argv[2:]
cases = json.load(open("Fixtures/reference/gemma3/cases.json"))["cases"]
def gen(path, ids, q8):
    out = subprocess.run([qkv, "generate", path, "--prompt-ids", ",".join(map(str, ids)), "--max-tokens", "32",
                          "--ignore-eos", "--ids", "--threads", "2", "--activations", "q8" if q8 else "f32"],
                         capture_output=True, text=True, check=True)
    return out.stdout.split()
names = [c["name"] for c in cases]
print("| file | " + " | ".join(names) + " | prompts agreeing |")
print("|---|" + "---|" * (len(names) + 1))
for path in files:
    row, agree = [], 0
    for c in cases:
        ids = c["prompt_ids"][:256]
        a, b = gen(path, ids, False), gen(path, ids, True)
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        row.append("-" if first is None else str(first))
        agree += first is None
    print("| %s | %s | %d/%d |" % (os.path.basename(path), " | ".join(row), agree, len(cases)), flush=True)
