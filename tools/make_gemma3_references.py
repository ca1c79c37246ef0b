#!/usr/bin/env python3
"""Gemma 3 270M references: the real Q4_K_M GGUF run by transformers (PyTorch, dequantised to float32,
eager attention) and by llama.cpp, committed small under Fixtures/reference/gemma3/. Runs once, by hand,
outside CI (CI has no PyTorch); it needs no qkv binary.

Set-up (both venvs live outside git; torch from PyPI is large, ~3 GB with its CUDA wheels):

    python3 -m venv ~/.cache/qkv-ref-venv
    ~/.cache/qkv-ref-venv/bin/pip install --upgrade pip
    ~/.cache/qkv-ref-venv/bin/pip install torch transformers accelerate gguf sentencepiece protobuf numpy safetensors tokenizers
    python3 -m venv ~/.cache/qkv-llamacpp-venv
    ~/.cache/qkv-llamacpp-venv/bin/pip install xllamacpp numpy        # prebuilt llama.cpp
    bash tools/fetch-models.sh                                         # gemma3/gemma-3-270m-q4_k_m.gguf
    ~/.cache/qkv-ref-venv/bin/python tools/make_gemma3_references.py [--check]

Versions used for the committed files are recorded in cases.json (torch 2.15.0, transformers 5.25.0,
gguf 0.19.0, xllamacpp 2026.10.11549).

transformers' own GGUF loader handles `gemma3`: it builds a Gemma3TextConfig from the GGUF keys plus its
Gemma 3 defaults (18 layers, every 6th global: `layer_types`; sliding window 512 from the file; RoPE base
10 000 for sliding layers, 1 000 000 (from the file) for global ones; query_pre_attn_scalar 256) and
subtracts 1 from every `*norm.weight`, because llama.cpp's converter stores Gemma's RMSNorm weights with
the +1 already added while transformers computes x * (1 + w). The script asserts that config, and checks
the +1 direction: the model with the norm weights left as stored in the GGUF (not minus 1) must disagree
with llama.cpp, the loaded one must agree.

It writes, into Fixtures/reference/gemma3/ (see the README.md it writes for every field):

  cases.json            the prompts (text, ids), 24 greedy ids from transformers' KV-cache loop, top-2
                        margins, llama.cpp's free greedy run on the same prompt ids and its best token
                        at each step of transformers' path, versions, and the long prompt (>= 600
                        tokens, beyond the 512 sliding window) with its mean log-prob
  <case>-last-logits.npy float32 [262144]: the logits at the last prompt position (3 prompts + long)
  tokenizer-cases.json  ~30 strings and their ids/tokens by the HF tokenizer converted from the GGUF vocab,
                        with the number of tokens llama.cpp's tokenizer makes of each
  README.md

Deterministic: one torch thread, deterministic algorithms, llama.cpp on one thread; --check generates a
second time into a temporary folder and compares byte for byte.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llamacpp_greedy import align  # noqa: E402
from make_decoder_references import dump_cases, sha256, top2_margins, tree_digest, versions  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Fixtures", "reference", "gemma3")
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
GGUF = "gemma3/gemma-3-270m-q4_k_m.gguf"
LLAMACPP_PYTHON = os.environ.get("QKV_LLAMACPP_PYTHON") or os.path.expanduser("~/.cache/qkv-llamacpp-venv/bin/python")

GREEDY_STEPS = 24
FULL_LOGITS = ("english", "french", "chinese")   # the others record greedy ids and the last row's top 10

PROMPTS = [
    ("english", "The old lighthouse keeper climbed the narrow stairs every evening to light the lamp, and"),
    ("french", "La ville de Lyon est connue pour sa cuisine et pour ses deux rivières, le Rhône et"),
    ("chinese", "北京是中国的首都，也是一座有着三千多年历史的城市。它的"),
    ("python", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n    if n < 2:\n        return n\n"),
    ("numbers", "Shopping list:\n1. eggs\n2. milk\n3. bread\n4."),
    ("german", "Am Morgen ging die Sonne über den Bergen auf, und die Kinder"),
]

# Public-domain English, typed in: the Gettysburg Address (1863), the opening of the US Declaration of
# Independence (1776) and the opening of Dickens's A Tale of Two Cities (1859). Over 600 tokens, so
# sliding-window layers (window 512) see only part of the prompt while global layers see all of it.
LONG_TEXT = (
    "Four score and seven years ago our fathers brought forth on this continent, a new nation, conceived in "
    "Liberty, and dedicated to the proposition that all men are created equal.\n\n"
    "Now we are engaged in a great civil war, testing whether that nation, or any nation so conceived and so "
    "dedicated, can long endure. We are met on a great battle-field of that war. We have come to dedicate a "
    "portion of that field, as a final resting place for those who here gave their lives that that nation "
    "might live. It is altogether fitting and proper that we should do this.\n\n"
    "But, in a larger sense, we can not dedicate -- we can not consecrate -- we can not hallow -- this ground. "
    "The brave men, living and dead, who struggled here, have consecrated it, far above our poor power to add "
    "or detract. The world will little note, nor long remember what we say here, but it can never forget what "
    "they did here. It is for us the living, rather, to be dedicated here to the unfinished work which they who "
    "fought here have thus far so nobly advanced. It is rather for us to be here dedicated to the great task "
    "remaining before us -- that from these honored dead we take increased devotion to that cause for which "
    "they gave the last full measure of devotion -- that we here highly resolve that these dead shall not have "
    "died in vain -- that this nation, under God, shall have a new birth of freedom -- and that government of "
    "the people, by the people, for the people, shall not perish from the earth.\n\n"
    "When in the Course of human events, it becomes necessary for one people to dissolve the political bands "
    "which have connected them with another, and to assume among the powers of the earth, the separate and "
    "equal station to which the Laws of Nature and of Nature's God entitle them, a decent respect to the "
    "opinions of mankind requires that they should declare the causes which impel them to the separation.\n\n"
    "We hold these truths to be self-evident, that all men are created equal, that they are endowed by their "
    "Creator with certain unalienable Rights, that among these are Life, Liberty and the pursuit of Happiness. "
    "That to secure these rights, Governments are instituted among Men, deriving their just powers from the "
    "consent of the governed, That whenever any Form of Government becomes destructive of these ends, it is "
    "the Right of the People to alter or to abolish it, and to institute new Government, laying its foundation "
    "on such principles and organizing its powers in such form, as to them shall seem most likely to effect "
    "their Safety and Happiness.\n\n"
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it "
    "was the season of Darkness, it was the spring of hope, it was the winter of despair, we had everything "
    "before us, we had nothing before us, we were all going direct to Heaven, we were all going direct the "
    "other way -- in short, the period was so far like the present period, that some of its noisiest "
    "authorities insisted on its being received, for good or for evil, in the superlative degree of "
    "comparison only.\n\n"
    "There were a king with a large jaw and a queen with a plain face, on the throne of England; there were a "
    "king with a large jaw and a queen with a fair face, on the throne of France. In both countries it was "
    "clearer than crystal to the lords of the State preserves of loaves and fishes, that things in general "
    "were settled for ever. It was the year of Our Lord one thousand seven hundred and seventy-five."
)

TOKENIZER_STRINGS = [
    "Hello world",
    "Hello, world!",
    " leading space",
    "two  spaces and   three",
    "tabs\tand\nnewlines\n\n\n",
    "        eight leading spaces",
    "The quick brown fox jumps over the lazy dog.",
    "I'm, you're, they've, we'll, it's",
    "Ünïcödé àccents: café, naïve, Zürich, Ångström",
    "Привет, как дела?",
    "Γειά σου κόσμε",
    "北京是中国的首都。",
    "日本語のテキストを読む",
    "한국어 문장입니다",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "สวัสดีชาวโลก",
    "emoji: 😀🚀🦙 and ❤️ with 👍🏽 and 👨‍👩‍👧",
    "def add(a, b):\n    return a + b\n",
    "for (int i = 0; i < n; ++i) { sum += x[i]; }",
    "<html><body class=\"x\">&amp;</body></html>",
    "x = [1, 2, 3]; y = {'k': None}",
    "3.14159 2026-12-06 1,000,000 0x1F 1e-5",
    "1234567890",
    "www.example.com/path?query=1&b=2",
    "CamelCaseIdentifier snake_case_identifier",
    "<bos> <eos> <start_of_turn>user",
    "",
    "a",
    "\u00a0non-breaking\u2009thin\u3000ideographic spaces",
]


def run_transformers(model, ids, steps=GREEDY_STEPS):
    """Greedy ids from the KV-cache loop, every step's top-2 margin, the last prompt row's logits, the
    prompt logits, and the largest difference from one uncached forward of the whole sequence."""
    import torch
    with torch.no_grad():
        out = model(torch.tensor([ids]), use_cache=True)
        prompt_logits = out.logits[0].float()
        past = out.past_key_values
        rows = [prompt_logits[-1]]
        greedy = [int(prompt_logits[-1].argmax())]
        for _ in range(steps - 1):
            out = model(torch.tensor([[greedy[-1]]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            rows.append(out.logits[0, -1].float())
            greedy.append(int(rows[-1].argmax()))
        cached = torch.stack(rows)
        full = model(torch.tensor([ids + greedy[:-1]]), use_cache=False).logits[0].float()
        t = len(ids)
        assert [int(i) for i in full[t - 1:].argmax(-1)] == greedy, "cached and uncached greedy differ"
        difference = float((full[t - 1:] - cached).abs().max())
        margins = top2_margins(cached)
    return greedy, [float(m) for m in margins], prompt_logits, difference


def mean_logprob(prompt_logits, ids):
    import torch
    logp = torch.log_softmax(prompt_logits[:-1].double(), dim=-1)
    return float(logp[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].mean())


def run_llamacpp_requests(gguf_path, requests, n_ctx=2048):
    request = {"model": gguf_path, "n_ctx": n_ctx, "requests": requests}
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "llamacpp_greedy.py")
    proc = subprocess.run([LLAMACPP_PYTHON, script], input=json.dumps(request), capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit("llama.cpp run failed:\n" + proc.stderr[-3000:])
    return json.loads(proc.stdout)


def check_config(config):
    """The Gemma 3 settings these references are about, as transformers derived them from the GGUF."""
    layer_types = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(18)]
    rope = config.rope_parameters
    assert config.num_hidden_layers == 18 and list(config.layer_types) == layer_types, config.layer_types
    assert config.sliding_window == 512, config.sliding_window
    assert rope["sliding_attention"]["rope_theta"] == 10000.0 and rope["full_attention"]["rope_theta"] == 1000000.0, rope
    assert rope["sliding_attention"]["rope_type"] == "default" and rope["full_attention"]["rope_type"] == "default", rope
    assert config.query_pre_attn_scalar == 256 and config.head_dim == 256
    assert config.attn_logit_softcapping is None and config.final_logit_softcapping is None
    assert config.hidden_activation == "gelu_pytorch_tanh"
    assert config.tie_word_embeddings and config.vocab_size == 262144
    assert config._attn_implementation == "eager", config._attn_implementation
    return {"num_hidden_layers": 18, "hidden_size": config.hidden_size, "intermediate_size": config.intermediate_size,
            "num_attention_heads": config.num_attention_heads, "num_key_value_heads": config.num_key_value_heads,
            "head_dim": config.head_dim, "vocab_size": config.vocab_size, "rms_norm_eps": config.rms_norm_eps,
            "layer_types": layer_types, "sliding_window": 512, "rope_theta_global": 1000000.0,
            "rope_theta_local": 10000.0, "query_pre_attn_scalar": 256, "hidden_activation": "gelu_pytorch_tanh",
            "attn_logit_softcapping": None, "final_logit_softcapping": None, "tie_word_embeddings": True,
            "embedding_scale": "sqrt(hidden_size), rounded to the model dtype (float32 here)",
            "norm": "RMSNorm computing x * (1 + w) in transformers; the GGUF stores 1 + w (transformers subtracts 1 on load)"}


def generate(out):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(out, exist_ok=True)

    gguf_path = os.path.join(CACHE, GGUF)
    if not os.path.exists(gguf_path):
        raise SystemExit("no %s: run bash tools/fetch-models.sh" % gguf_path)
    folder, file = os.path.split(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    config = check_config(model.config)
    the_versions = versions(("gguf", "accelerate", "tokenizers"))

    # Tokenizer cases, with the number of tokens llama.cpp makes of each string beside them.
    counts = run_llamacpp_requests(gguf_path, [{"prompt_text": text} for text in TOKENIZER_STRINGS])["results"]
    tokenizer_cases = []
    for text, count in zip(TOKENIZER_STRINGS, counts):
        ids = tokenizer(text)["input_ids"]
        tokenizer_cases.append({"text": text, "ids": ids, "tokens": tokenizer.convert_ids_to_tokens(ids),
                                "llamacpp_token_count": count.get("prompt_tokens")})
    mismatches = [c["text"] for c in tokenizer_cases if c["llamacpp_token_count"] != len(c["ids"])]
    with open(os.path.join(out, "tokenizer-cases.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps({"tokenizer": "transformers AutoTokenizer.from_pretrained(gguf_file=...) of " + GGUF +
                            " (BOS added)", "llamacpp_count_mismatches": mismatches, "versions": the_versions},
                           ensure_ascii=False)[:-1] + ',\n "cases": ')
        f.write(dump_cases(tokenizer_cases) + "}\n")

    def is_fragment(token):   # a byte-fallback token that is not a whole UTF-8 character
        return "\ufffd" in tokenizer.decode([token])

    def is_byte(token):       # a byte-fallback token <0xXX>
        piece = tokenizer.convert_ids_to_tokens(token)
        return len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">")

    cases = []
    prompts = [(name, text, tokenizer(text)["input_ids"]) for name, text in PROMPTS]
    prompts.append(("long", LONG_TEXT, tokenizer(LONG_TEXT)["input_ids"]))
    assert len(prompts[-1][2]) >= 600, len(prompts[-1][2])
    runs = [run_transformers(model, ids) for _, _, ids in prompts]
    # llama.cpp: a free greedy run of each prompt, then one step after each prefix of transformers' path.
    llama = run_llamacpp_requests(gguf_path, [{"prompt_ids": ids, "n_predict": GREEDY_STEPS} for _, _, ids in prompts] +
                                  [{"prompt_ids": ids, "forced_ids": run[0]} for (_, _, ids), run in zip(prompts, runs)])
    free, forced = llama["results"][:len(prompts)], llama["results"][len(prompts):]

    for (name, text, ids), (greedy, margins, prompt_logits, difference), lc, lf in zip(prompts, runs, free, forced):
        last = prompt_logits[-1].numpy().astype(np.float32)
        top = np.argsort(-last.astype(np.float64), kind="stable")[:10]
        case = {"name": name, "prompt": text, "prompt_ids": ids, "prompt_length": len(ids),
                "greedy_ids": greedy, "greedy_text": tokenizer.decode(greedy),
                "min_top2_margin": min(margins), "top2_margins": [round(m, 6) for m in margins],
                "last_top10_ids": [int(i) for i in top], "last_top10_logits": [float(last[i]) for i in top],
                "cache_max_abs_difference": difference}
        if name in FULL_LOGITS or name == "long":
            case["last_logits"] = name + "-last-logits.npy"
            np.save(os.path.join(out, case["last_logits"]), last)
        if name == "long":
            case["mean_logprob"] = mean_logprob(prompt_logits, ids)
            case["text_tokens_scored"] = len(ids) - 1
        first, unlisted = align(greedy, lc["listed_ids"], is_fragment, is_byte)
        lc_margins = [round(t[0][1] - t[1][1], 6) for t in lc["top2"]]
        case["llamacpp_listed_ids"] = lc["listed_ids"]
        case["llamacpp_unlisted_steps"] = unlisted
        case["llamacpp_text"] = lc["text"]
        case["llamacpp_top2_margins"] = lc_margins
        case["llamacpp_agrees"] = first is None
        case["llamacpp_first_difference"] = first
        if first is not None:
            k = first - sum(1 for u in unlisted if u < first)   # the same step in llama.cpp's list
            case["llamacpp_note"] = ("from step %d llama.cpp takes %s where transformers takes %d; top-2 margin "
                                     "there: transformers %.4f, llama.cpp %s" % (
                                         first, lc["listed_ids"][k] if k < len(lc["listed_ids"]) else "-",
                                         greedy[first], margins[first], lc_margins[k] if k < len(lc_margins) else "-"))
        steps = lf["forced_top2"]
        case["llamacpp_forced_argmax"] = [t[0][0] if t else None for t in steps]
        case["llamacpp_forced_top2_margins"] = [round(t[0][1] - t[1][1], 6) if t else None for t in steps]
        case["llamacpp_forced_unlisted_steps"] = [k for k, t in enumerate(steps) if t is None]
        case["llamacpp_forced_differing_steps"] = [k for k, t in enumerate(steps) if t and t[0][0] != greedy[k]]
        cases.append(case)

    # The +1 direction: the same model with the norm weights as the GGUF stores them (not minus 1).
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.add_(1.0)
    english = cases[0]
    greedy_plus, _, _, _ = run_transformers(model, english["prompt_ids"], steps=8)
    norm_check = {"prompt": "english", "greedy_ids_with_gguf_norms_unchanged": greedy_plus,
                  "agrees_with_llamacpp": greedy_plus == english["llamacpp_listed_ids"][:8],
                  "agrees_with_loaded_model": greedy_plus == english["greedy_ids"][:8],
                  "note": "transformers with every *norm.weight left as stored in the GGUF (1 + w) instead of "
                          "minus 1: it must not agree with llama.cpp, while the loaded model (minus 1) does"}
    header = {"model": "QKV_MODELS:" + GGUF, "gguf_sha256": sha256(gguf_path), "config": config,
              "greedy_steps": GREEDY_STEPS, "norm_check": norm_check, "versions": the_versions,
              "llama_cpp": llama["llama_cpp"]}
    with open(os.path.join(out, "cases.json"), "w", encoding="utf-8") as f:
        f.write(json.dumps(header, ensure_ascii=False)[:-1] + ',\n "cases": ')
        f.write(dump_cases(cases) + "}\n")
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(README)
    return cases, norm_check


README = """# Gemma 3 270M references

The real Gemma 3 270M, `gemma-3-270m-q4_k_m.gguf` (fetched by `tools/fetch-models.sh` into
`$QKV_MODELS/gemma3/`, default `~/.cache/qkv-models`), run by transformers (PyTorch, its GGUF loader
dequantises every tensor to float32; eager attention; one thread) and by llama.cpp (the prebuilt
`xllamacpp` wheel, whose version `llama_cpp` records, on the quantised file as it is, one thread). Made by `tools/make_gemma3_references.py`, not in CI.

- `cases.json`: `model`, `gguf_sha256`; `config`, the Gemma 3 settings transformers derived from the
  GGUF and the script asserts (18 layers, `layer_types`: every 6th layer (5, 11, 17) global, the others
  sliding with window 512; RoPE base 10 000 on sliding layers and 1 000 000 on global ones; queries
  scaled by 1/sqrt(query_pre_attn_scalar = 256); no soft-capping; GELU-tanh; tied embeddings scaled by
  sqrt(640); RMSNorm as x * (1 + w), the GGUF storing 1 + w); `norm_check` (below); `versions`,
  `llama_cpp`; and `cases`, one per prompt:
  - `name`, `prompt` (text), `prompt_ids` (the GGUF's tokenizer as converted by transformers, BOS 2 first),
    `prompt_length`;
  - `greedy_ids`, 24 greedy tokens from transformers' KV-cache loop (checked against one uncached
    forward: same argmax; `cache_max_abs_difference` is the largest logit difference), `greedy_text`;
  - `min_top2_margin` and `top2_margins`: best minus second-best logit at each of the 24 steps;
  - `last_top10_ids` / `last_top10_logits`: the 10 best logits at the last prompt position;
  - `last_logits`: for `english`, `french`, `chinese` and `long`, the `.npy` file with all 262,144
    float32 logits at the last prompt position;
  - llama.cpp's greedy run of 24 tokens on the same prompt ids: `llamacpp_listed_ids` (the ids
    xllamacpp lists; it leaves out a token that ends inside a UTF-8 character, such as a byte-fallback
    token `<0xE4>`), `llamacpp_text`, `llamacpp_top2_margins` (from its log-probabilities, per listed
    step), `llamacpp_unlisted_steps` (steps of `greedy_ids` taken as such left-out fragments),
    `llamacpp_agrees` (the listed ids are `greedy_ids` less those fragments), `llamacpp_first_difference`
    (step index or null) and, where they part, `llamacpp_note` with both margins there;
  - llama.cpp step by step along transformers' greedy path (prompt + `greedy_ids[:k]`, one token, for
    each k): `llamacpp_forced_argmax` (null where the server listed nothing: a UTF-8 fragment),
    `llamacpp_forced_top2_margins`, `llamacpp_forced_unlisted_steps`, and
    `llamacpp_forced_differing_steps`, the steps where llama.cpp's best token is not transformers'.
    This compares every step, also after the free runs part. llama.cpp's own best token can change with
    the way its input is batched (the free run feeds one token at a time, the step-by-step run the
    whole prefix at once): the two llama.cpp runs themselves part at some small-margin steps. llama.cpp
    multiplies the quantised weights by activations it quantises to 8 bits per block (q8_0 / q8_K),
    transformers their exact float32 dequantisation by float32 activations, so the logits differ a
    little and the greedy paths may part where a margin is small;
  - `long` only: `mean_logprob`, the mean natural-log probability transformers gives each token of the
    text after the first (`text_tokens_scored` of them). The long text (over 600 tokens: public-domain
    Gettysburg Address, Declaration of Independence opening, A Tale of Two Cities opening) is longer
    than the 512-token sliding window.
- `norm_check`: the greedy ids of the `english` prompt by transformers with the norm weights left as the
  GGUF stores them (not minus 1); `agrees_with_llamacpp` is false, which shows the GGUF norms include +1.
- `<name>-last-logits.npy`: float32 `[262144]`.
- `tokenizer-cases.json`: ~30 strings (several scripts, code, emoji, whitespace runs, special-token
  text, empty) with `ids` and `tokens` from the same tokenizer (BOS added), and
  `llamacpp_token_count`, the number of tokens llama.cpp's own tokenizer makes of the string (BOS
  included; xllamacpp's server reports the count, not the ids); `llamacpp_count_mismatches` lists
  the strings whose counts differ.

Regenerate (byte-identical from run to run; `--check` runs twice and compares):

    python3 -m venv ~/.cache/qkv-ref-venv
    ~/.cache/qkv-ref-venv/bin/pip install torch transformers accelerate gguf sentencepiece protobuf numpy safetensors tokenizers
    python3 -m venv ~/.cache/qkv-llamacpp-venv
    ~/.cache/qkv-llamacpp-venv/bin/pip install xllamacpp numpy
    bash tools/fetch-models.sh
    ~/.cache/qkv-ref-venv/bin/python tools/make_gemma3_references.py [--check]
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="generate a second time into a temporary folder and compare")
    parser.add_argument("--out", default=OUT)
    args = parser.parse_args()
    cases, norm_check = generate(args.out)
    for c in cases:
        print("%-8s T=%4d margin=%8.4f cache=%.3g llama.cpp free run %s; step by step differs at %s %s" % (
            c["name"], c["prompt_length"], c["min_top2_margin"], c["cache_max_abs_difference"],
            "agrees" if c["llamacpp_agrees"] else "parts at %s" % c["llamacpp_first_difference"],
            c["llamacpp_forced_differing_steps"], repr(c["greedy_text"][:30])))
    print("norm check (GGUF norms unchanged) agrees with llama.cpp:", norm_check["agrees_with_llamacpp"])
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            generate(tmp)
            a, b = tree_digest(args.out), tree_digest(tmp)
            print("second run:", "identical" if a == b else "DIFFERENT: %s" % sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)))
            return 0 if a == b else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
