#!/usr/bin/env python3
"""Tiny random models of the architectures qkv is gaining (Gemma 2, Gemma 3 text, Qwen2, Qwen3, Phi-3,
Mistral, Llama 3 with llama3 RoPE scaling, SmolLM2, Qwen2 with YaRN, Phi-3 with LongRoPE), made and run by transformers (PyTorch, float32,
eager attention), converted to GGUF by llama.cpp's own converter and run by llama.cpp where it can.
Committed small under Fixtures/reference/archs/<name>/. Runs once, by hand, outside CI; no qkv binary.

Set-up (outside git):

    python3 -m venv ~/.cache/qkv-ref-venv
    ~/.cache/qkv-ref-venv/bin/pip install --upgrade pip
    ~/.cache/qkv-ref-venv/bin/pip install torch transformers accelerate gguf sentencepiece protobuf numpy safetensors tokenizers
    python3 -m venv ~/.cache/qkv-llamacpp-venv
    ~/.cache/qkv-llamacpp-venv/bin/pip install xllamacpp numpy
    # llama.cpp's converter, from the llama-cpp-python sdist (stays in the cache, never committed):
    mkdir -p ~/.cache/qkv-llamacpp-src && cd ~/.cache/qkv-llamacpp-src
    ~/.cache/qkv-llamacpp-venv/bin/pip download --no-deps --no-binary llama-cpp-python llama-cpp-python==0.3.36
    tar xzf llama_cpp_python-0.3.36.tar.gz
    cd - && ~/.cache/qkv-ref-venv/bin/python tools/make_arch_references.py [--check] [--only NAME,...]

(`--no-binary llama-cpp-python`, not `--no-binary :all:`, which would build every build dependency from
source too.) The converter runs in the reference venv with the sdist's own gguf-py first on the path
($QKV_LLAMACPP_SRC overrides the llama.cpp folder).

The converter recognises a byte-level BPE tokenizer by hashing how it encodes a fixed text, and
refuses one it does not know, as every tokenizer trained here is; the script therefore runs it with
TextModel.get_vocab_base_pre replaced by one returning "gpt-2", the pre-tokenizer the tokenizers built
here use (GPT-2's split regex). Nothing else in the converter is changed.

Per model, in Fixtures/reference/archs/<name>/: config.json, model.safetensors (float32, written by
save_pretrained), the tokenizer files, model.gguf (llama.cpp's names and keys, f32), and
references.json and prompt-logits.npy (see the README.md the script writes). Deterministic: fixed
seeds, one torch thread, llama.cpp on one thread; --check runs everything twice and compares bytes.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llamacpp_greedy import align  # noqa: E402
from make_decoder_references import sha256, top2_margins, tree_digest, versions  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Fixtures", "reference", "archs")
LLAMACPP_SRC = os.environ.get("QKV_LLAMACPP_SRC") or os.path.expanduser(
    "~/.cache/qkv-llamacpp-src/llama_cpp_python-0.3.36/vendor/llama.cpp")
LLAMACPP_PYTHON = os.environ.get("QKV_LLAMACPP_PYTHON") or os.path.expanduser("~/.cache/qkv-llamacpp-venv/bin/python")

VOCAB = 512
PROMPT_LENGTH = 20
GREEDY_STEPS = 32
MIN_MARGIN = 0.01
INIT_STD = 0.2

# The tokenizers' training text (written for this script; any text would do).
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Once upon a time there was a small model that learned to count: one, two, three, four, five.",
    "A lighthouse stood on the rocks, and every evening its keeper climbed the stairs to light the lamp.",
    "def add(a, b):\n    return a + b\n\nfor i in range(10):\n    print(add(i, i))\n",
    "La ville est belle au printemps, quand les arbres sont en fleurs.",
    "Der Hund lief schnell über die Wiese und sprang in den Fluss.",
    "北京是中国的首都。今天天气很好。",
    "Numbers: 0 1 2 3 4 5 6 7 8 9 10 100 1000 3.14 2026-12-06",
    "She said that the train would be late again, so we walked along the river until sunset.",
    "import numpy as np\nx = np.zeros((3, 4), dtype=np.float32)\n",
]

# Each model: (class name, config kwargs, tokenizer kind, GGUF arch expected). Dimensions shrunk from
# the real models; structure kept (see README).
COMMON = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=80, num_attention_heads=4,
              max_position_embeddings=256, initializer_range=INIT_STD)

MODELS = {
    "gemma2": ("Gemma2ForCausalLM", "Gemma2Config", dict(
        COMMON, num_hidden_layers=2, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16,
        sliding_window=8, layer_types=["sliding_attention", "full_attention"], attn_logit_softcapping=50.0,
        final_logit_softcapping=30.0, hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, tie_word_embeddings=True,
        pad_token_id=0, eos_token_id=1, bos_token_id=2), "spm-gemma"),
    "gemma3": ("Gemma3ForCausalLM", "Gemma3TextConfig", dict(
        COMMON, num_hidden_layers=6, num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16,
        sliding_window=8, layer_types=["sliding_attention"] * 5 + ["full_attention"],
        hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6,
        rope_parameters={"sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                         "full_attention": {"rope_type": "default", "rope_theta": 1000000.0}},
        attn_logit_softcapping=None, final_logit_softcapping=None, tie_word_embeddings=True,
        pad_token_id=0, eos_token_id=1, bos_token_id=2), "spm-gemma"),
    "qwen2": ("Qwen2ForCausalLM", "Qwen2Config", dict(
        COMMON, num_hidden_layers=2, num_key_value_heads=2, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, use_sliding_window=False,
        tie_word_embeddings=True, bos_token_id=None, eos_token_id=VOCAB - 1), "bpe"),
    "qwen3": ("Qwen3ForCausalLM", "Qwen3Config", dict(
        COMMON, num_hidden_layers=2, num_key_value_heads=2, head_dim=32, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, use_sliding_window=False,
        attention_bias=False, tie_word_embeddings=True, bos_token_id=None, eos_token_id=VOCAB - 1), "bpe"),
    "phi3": ("Phi3ForCausalLM", "Phi3Config", dict(
        COMMON, num_hidden_layers=2, num_key_value_heads=4, rms_norm_eps=1e-5, sliding_window=12,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, partial_rotary_factor=1.0,
        tie_word_embeddings=False, pad_token_id=None, bos_token_id=1, eos_token_id=2), "spm-phi3"),
    "mistral": ("MistralForCausalLM", "MistralConfig", dict(
        COMMON, num_hidden_layers=2, num_key_value_heads=2, head_dim=16, rms_norm_eps=1e-5, sliding_window=8,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0}, tie_word_embeddings=False,
        bos_token_id=1, eos_token_id=2), "spm-llama"),
    "llama3": ("LlamaForCausalLM", "LlamaConfig", dict(
        COMMON, num_hidden_layers=2, num_key_value_heads=2, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                         "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
        tie_word_embeddings=True, bos_token_id=VOCAB - 2, eos_token_id=VOCAB - 1), "bpe"),
    "smollm2": ("LlamaForCausalLM", "LlamaConfig", dict(
        COMMON, num_hidden_layers=2, num_key_value_heads=2, rms_norm_eps=1e-5,
        rope_parameters={"rope_type": "default", "rope_theta": 100000.0}, tie_word_embeddings=True,
        bos_token_id=1, eos_token_id=2), "bpe-smollm"),
    # RoPE scalings (added after the others, so their seeds and files stay as they were). Qwen2.5's YaRN
    # (factor 4 over an original context of 32 here); base 10 000 rather than Qwen's 1 000 000 so that
    # with head_dim 16 the ramp has a blended pair between the kept and the divided ones.
    "qwen2-yarn": ("Qwen2ForCausalLM", "Qwen2Config", dict(
        COMMON, max_position_embeddings=128, num_hidden_layers=2, num_key_value_heads=2, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "yarn", "rope_theta": 10000.0, "factor": 4.0, "original_max_position_embeddings": 32},
        use_sliding_window=False, tie_word_embeddings=True, bos_token_id=None, eos_token_id=VOCAB - 1), "bpe"),
    # Phi-3.5-mini's LongRoPE shrunk: 8 short and 8 long factors (its own are 48 of each for head_dim 96)
    # over an original context of 32 in 128 positions, so the attention factor is sqrt(1 + ln 4 / ln 32).
    # No sliding window (Phi-3.5-mini's is longer than its context).
    "phi3-longrope": ("Phi3ForCausalLM", "Phi3Config", dict(
        COMMON, max_position_embeddings=128, original_max_position_embeddings=32, num_hidden_layers=2,
        num_key_value_heads=4, rms_norm_eps=1e-5, sliding_window=None,
        rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0, "original_max_position_embeddings": 32,
                         "short_factor": [1.0, 1.05, 1.15, 1.3, 1.6, 2.0, 2.5, 3.0],
                         "long_factor": [1.1, 1.5, 2.5, 4.0, 8.0, 16.0, 32.0, 48.0]},
        tie_word_embeddings=False, pad_token_id=None, bos_token_id=1, eos_token_id=2), "spm-phi3"),
}

# Prompts past the original context of the scaled models (32), where the scaling is what it is for; for
# LongRoPE the long factors apply (transformers chooses them by the sequence length, llama.cpp by its
# context size, 128 here; qkv by its session's), and `short_prompt_logits` adds the first
# SHORT_PROMPT_LENGTH positions run alone, within the original context: the short factors.
PROMPT_LENGTHS = {"qwen2-yarn": 40, "phi3-longrope": 40}
SHORT_PROMPT_LENGTH = 20

# Special tokens of the byte-level BPE tokenizers: (token, id).
BPE_SPECIALS = {
    "bpe": [("<|endoftext|>", VOCAB - 1)],                                   # Qwen-like: no BOS
    "bpe-llama3": [("<|begin_of_text|>", VOCAB - 2), ("<|end_of_text|>", VOCAB - 1)],
    "bpe-smollm": [("<|endoftext|>", 0), ("<|im_start|>", 1), ("<|im_end|>", 2)],
}


def build_bpe(folder, kind, bos, eos):
    """A byte-level BPE tokenizer.json (GPT-2 split regex, byte-level alphabet) trained on CORPUS to
    exactly VOCAB entries, with the kind's special tokens at their ids."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    specials = BPE_SPECIALS[kind]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    front = [s for s, i in sorted(specials, key=lambda x: x[1]) if i < VOCAB // 2]
    back = [s for s, i in sorted(specials, key=lambda x: x[1]) if i >= VOCAB // 2]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB - len(back), special_tokens=front, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=1)
    tok.train_from_iterator(CORPUS, trainer=trainer)
    tok.add_special_tokens(back)
    for s, i in specials:
        assert tok.token_to_id(s) == i, (s, i, tok.token_to_id(s))
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    names = {i: s for s, i in specials}
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=names.get(bos), eos_token=names.get(eos),
                                   unk_token=None, pad_token=None, clean_up_tokenization_spaces=False)
    fast.save_pretrained(folder)
    # The converter reads tokenizer_config.json's class; a plain fast tokenizer is what these are.
    return fast


def build_spm(folder, kind, scratch):
    """A SentencePiece BPE model with byte fallback trained on CORPUS to exactly VOCAB pieces
    (tokenizer.model), and transformers' conversion of it (tokenizer.json): GemmaTokenizer for Gemma
    (pad 0, eos 1, bos 2, unk 3, mask 4), LlamaTokenizer for Phi-3 and Mistral (unk 0, bos 1, eos 2)."""
    import sentencepiece as spm
    from transformers import GemmaTokenizer, LlamaTokenizer
    if kind == "spm-gemma":   # Gemma's piece names and ids, <mask> at 4 as in the real vocabulary
        ids = dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3, pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>",
                   unk_piece="<unk>", user_defined_symbols=["<mask>"])
    elif kind == "spm-phi3":   # llama.cpp's phi3 vocabulary loader looks up <|endoftext|> by name
        ids = dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1, user_defined_symbols=["<|endoftext|>"])
    else:
        ids = dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1)
    prefix = os.path.join(scratch, kind)
    if not os.path.exists(prefix + ".model"):
        here = os.getcwd()
        os.chdir(scratch)   # the model stores its model_prefix: keep it a plain name, the same every run
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(CORPUS * 4), model_prefix=kind, vocab_size=VOCAB, model_type="bpe",
                byte_fallback=True, num_threads=1, character_coverage=1.0, split_digits=True,
                add_dummy_prefix=(kind != "spm-gemma"), allow_whitespace_only_pieces=True,
                remove_extra_whitespaces=False, normalization_rule_name="identity", minloglevel=2,
                hard_vocab_limit=True, **ids)
        finally:
            os.chdir(here)
    shutil.copyfile(prefix + ".model", os.path.join(folder, "tokenizer.model"))
    cls = GemmaTokenizer if kind == "spm-gemma" else LlamaTokenizer
    tok = cls.from_pretrained(folder)
    tok.save_pretrained(folder)
    path = os.path.join(folder, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    config.pop("vocab_file", None)   # an absolute path on the machine that made it
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write("\n")
    return tok


# Gemma multiplies the embeddings by sqrt(hidden_size) (8 here): at INIT_STD they swamp the layers and
# the model only echoes its input token; a quarter of that std keeps the greedy continuation varied.
EMBED_SCALE = {"gemma2": 0.25, "gemma3": 0.25}


def make_model(name, cls_name, config_cls_name, kwargs, seed):
    import torch
    import transformers
    config = getattr(transformers, config_cls_name)(**kwargs)
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = getattr(transformers, cls_name)(config).eval()
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for pname, p in sorted(model.named_parameters()):
            if p.dim() == 1:   # norms start at 1 (or 0 for Gemma's 1 + w) and biases at 0: make them matter
                p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
        model.get_input_embeddings().weight.mul_(EMBED_SCALE.get(name, 1.0))
    return model


def run_case(model, ids, steps=GREEDY_STEPS):
    import torch
    with torch.no_grad():
        out = model(torch.tensor([ids]), use_cache=True)
        prompt_logits = out.logits[0].float()
        margins = list(top2_margins(prompt_logits))
        past = out.past_key_values
        rows = [prompt_logits[-1]]
        greedy = [int(prompt_logits[-1].argmax())]
        for _ in range(steps - 1):
            out = model(torch.tensor([[greedy[-1]]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
            rows.append(out.logits[0, -1].float())
            margins.extend(top2_margins(rows[-1][None]))
            greedy.append(int(rows[-1].argmax()))
        full = model(torch.tensor([ids + greedy[:-1]]), use_cache=False).logits[0].float()
        t = len(ids)
        assert [int(i) for i in full[t - 1:].argmax(-1)] == greedy, "cached and uncached greedy differ"
        difference = max(float((full[t - 1:] - torch.stack(rows)).abs().max()),
                         float((full[:t] - prompt_logits).abs().max()))
    return prompt_logits.numpy().astype(np.float32), greedy, float(min(margins)), difference


def pick_prompt(model, tokenizer, bos, seed0, length=PROMPT_LENGTH):
    """The first seeded prompt of `length` ids whose every prompt position and greedy step has a top-2
    margin >= MIN_MARGIN: BOS (if the model has one) and then ids drawn uniformly from the ordinary tokens."""
    special = set(tokenizer.all_special_ids)
    ordinary = np.array([i for i in range(VOCAB) if i not in special])
    tried = []
    for seed in range(seed0, seed0 + 100):
        n = length - (bos is not None)
        ids = ([bos] if bos is not None else []) + [int(i) for i in ordinary[np.random.RandomState(seed).randint(0, len(ordinary), n)]]
        logits, greedy, margin, difference = run_case(model, ids)
        if margin >= MIN_MARGIN:
            return seed, ids, logits, greedy, margin, difference
        tried.append(round(margin, 5))
    raise SystemExit("no prompt with margin >= %g: %s" % (MIN_MARGIN, tried))


def is_byte_token(tokenizer, kind):
    """A token that stands for exactly one byte: <0xXX> in SentencePiece, one alphabet character in
    byte-level BPE."""
    def check(t):
        piece = tokenizer.convert_ids_to_tokens(t)
        if kind.startswith("spm"):
            return len(piece) == 6 and piece.startswith("<0x") and piece.endswith(">")
        return len(piece) == 1
    return check


CONVERT_DRIVER = r"""
import os, runpy, sys
src = sys.argv[1]
sys.path.insert(0, os.path.join(src, "gguf-py"))
sys.path.insert(0, src)
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
sys.argv = [os.path.join(src, "convert_hf_to_gguf.py")] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def convert_to_gguf(folder, target):
    proc = subprocess.run([sys.executable, "-c", CONVERT_DRIVER, LLAMACPP_SRC, folder, "--outtype", "f32",
                           "--outfile", target], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return "converter failed: " + proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "converter failed"
    return None


def run_llamacpp(gguf_path, ids, paths, steps=GREEDY_STEPS):
    request = {"model": gguf_path, "n_ctx": 128, "requests": [{"prompt_ids": ids, "n_predict": steps}] +
               [{"prompt_ids": ids, "forced_ids": path} for path in paths]}
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "llamacpp_greedy.py")
    proc = subprocess.run([LLAMACPP_PYTHON, script], input=json.dumps(request), capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        lines = [l for l in proc.stderr.splitlines() if " E " in l or "error" in l.lower()]
        return None, (lines[-1] if lines else "llama.cpp failed (exit %d)" % proc.returncode)
    return json.loads(proc.stdout), None


def gguf_summary(path):
    from gguf import GGUFReader
    r = GGUFReader(path)
    arch = r.fields["general.architecture"].contents()
    return {"architecture": arch, "tensor_count": len(r.tensors),
            "tensors": {t.name: [int(d) for d in t.shape] for t in r.tensors}}


def generate(out, scratch, only=None):
    import torch
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore")
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(out, exist_ok=True)
    summary = []
    for index, (name, (cls_name, config_cls_name, kwargs, tok_kind)) in enumerate(MODELS.items()):
        if only and name not in only:
            continue
        if name == "llama3":
            tok_kind = "bpe-llama3"
        folder = os.path.join(out, name)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        model = make_model(name, cls_name, config_cls_name, kwargs, seed=100 * (index + 1))
        if tok_kind.startswith("bpe"):
            tokenizer = build_bpe(folder, tok_kind, kwargs.get("bos_token_id"), kwargs.get("eos_token_id"))
        else:
            tokenizer = build_spm(folder, tok_kind, scratch)
        assert len(tokenizer) == VOCAB == model.config.vocab_size, (name, len(tokenizer))
        model.save_pretrained(folder, safe_serialization=True)
        for f in os.listdir(folder):
            if f in ("generation_config.json", "special_tokens_map.json", "chat_template.jinja"):
                os.remove(os.path.join(folder, f))
        os.chmod(os.path.join(folder, "model.safetensors"), 0o644)
        bos = kwargs.get("bos_token_id")
        seed, ids, logits, greedy, margin, difference = pick_prompt(model, tokenizer, bos, 1000 * (index + 1),
                                                                    PROMPT_LENGTHS.get(name, PROMPT_LENGTH))
        np.save(os.path.join(folder, "prompt-logits.npy"), logits)
        # Reload what save_pretrained wrote: the committed files give the same logits.
        reloaded = getattr(transformers, cls_name).from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
        with torch.no_grad():
            again = reloaded(torch.tensor([ids])).logits[0].float().numpy()
        assert np.array_equal(again, logits), name + ": reloaded model gives other logits"
        ref = {"name": name, "architecture": cls_name, "config_class": config_cls_name, "tokenizer": tok_kind,
               "prompt_seed": seed, "prompt_ids": ids, "prompt_text": tokenizer.decode(ids),
               "logits": "prompt-logits.npy", "logits_shape": list(logits.shape), "greedy_ids": greedy,
               "min_top2_margin": margin, "cache_max_abs_difference": difference}
        if kwargs["rope_parameters"].get("rope_type") == "longrope":
            with torch.no_grad():
                short = model(torch.tensor([ids[:SHORT_PROMPT_LENGTH]])).logits[0].float().numpy()
            np.save(os.path.join(folder, "short-prompt-logits.npy"), short)
            ref["short_prompt_logits"] = "short-prompt-logits.npy"
            ref["short_prompt_length"] = SHORT_PROMPT_LENGTH
        gguf_path = os.path.join(folder, "model.gguf")
        error = convert_to_gguf(folder, gguf_path)
        if error is None:
            ref["gguf"] = "model.gguf"
            ref["gguf_architecture"] = gguf_summary(gguf_path)["architecture"]
            paths = [greedy]
            if kwargs.get("sliding_window") and name in ("mistral", "phi3"):
                # llama.cpp runs these without their sliding window: the same model without one.
                model.config.sliding_window = None
                for layer in model.model.layers:
                    layer.self_attn.sliding_window = None
                _, full_greedy, _, _ = run_case(model, ids)
                ref["greedy_ids_without_sliding_window"] = full_greedy
                paths.append(full_greedy)
            lc, lc_error = run_llamacpp(gguf_path, ids, paths)
            if lc is not None:
                res = lc["results"][0]
                fragment = lambda t: "\ufffd" in tokenizer.decode([t])
                first, unlisted = align(greedy, res["listed_ids"], fragment, is_byte_token(tokenizer, tok_kind))
                ref["llamacpp_listed_ids"] = res["listed_ids"]
                ref["llamacpp_unlisted_steps"] = unlisted
                ref["llamacpp_min_top2_margin"] = round(min(t[0][1] - t[1][1] for t in res["top2"]), 6) if res["top2"] else None
                ref["llamacpp_agrees"] = first is None
                ref["llamacpp_first_difference"] = first
                forced = lc["results"][1]["forced_top2"]
                ref["llamacpp_forced_argmax"] = [t[0][0] if t else None for t in forced]
                ref["llamacpp_forced_unlisted_steps"] = [k for k, t in enumerate(forced) if t is None]
                ref["llamacpp_forced_differing_steps"] = [k for k, t in enumerate(forced) if t and t[0][0] != greedy[k]]
                if len(paths) > 1:
                    forced = lc["results"][2]["forced_top2"]
                    ref["llamacpp_forced_differing_steps_without_sliding_window"] = [
                        k for k, t in enumerate(forced) if t and t[0][0] != paths[1][k]]
                ref["llama_cpp"] = lc["llama_cpp"]
            else:
                ref["llamacpp_error"] = lc_error
        else:
            ref["gguf_error"] = error
        ref["versions"] = versions(("gguf", "tokenizers", "sentencepiece"))
        with open(os.path.join(folder, "references.json"), "w", encoding="utf-8") as f:
            json.dump(ref, f, ensure_ascii=False, indent=1)
            f.write("\n")
        summary.append(ref)
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write(README)
    return summary


README = """# Tiny random models of the new architectures

One folder per architecture, made by `tools/make_arch_references.py` (transformers, PyTorch, float32,
eager attention, one thread; not in CI). Each model keeps its real model's structure with the
dimensions shrunk: hidden 64, 4 heads of 16, MLP 80, vocabulary 512, 2 layers (Gemma 3: 6, so that
layer 5 is global); weights random with a fixed seed (std 0.2; every norm weight and bias offset by
0.1 x N(0, 1) so that they matter; Gemma's embeddings at a quarter of that, because Gemma scales them
by sqrt(64) and at full size the model only echoes its input).

| folder | class | what it keeps |
| --- | --- | --- |
| `gemma2` | Gemma2ForCausalLM | 2 kv heads (GQA), sandwich norms (pre/post attention, pre/post MLP), (1 + w) RMSNorm, embeddings x sqrt(hidden), GELU-tanh, soft-capping (attention 50, final 30), layer 0 sliding (window 8), layer 1 global, query_pre_attn_scalar 16, tied |
| `gemma3` | Gemma3ForCausalLM | as Gemma 2 but no soft-capping, q/k RMSNorm, 6 layers: 5 sliding (window 8, RoPE base 10 000) then 1 global (RoPE base 1 000 000) |
| `qwen2` | Qwen2ForCausalLM | q/k/v biases, GQA, RoPE base 1 000 000, tied |
| `qwen3` | Qwen3ForCausalLM | q/k RMSNorm per head, head_dim 32 (so q is 128 wide on a 64 hidden), no biases, GQA, tied |
| `phi3` | Phi3ForCausalLM | fused `qkv_proj` and `gate_up_proj`, no GQA (4 kv heads, as Phi-3-mini), full rotary, sliding window 12 (Phi-3-mini-4k has 2047), untied |
| `mistral` | MistralForCausalLM | sliding window 8, GQA, untied |
| `llama3` | LlamaForCausalLM | `rope_type: llama3` (theta 500 000, factor 8, low 1, high 4, original context 8192: with head_dim 16 the 4 lowest frequencies are scaled or smoothed), GQA, tied |
| `smollm2` | LlamaForCausalLM | SmolLM2's shape: GQA, RoPE base 100 000, tied, GPT-2-style byte-level BPE |
| `qwen2-yarn` | Qwen2ForCausalLM | as `qwen2` with Qwen2.5's YaRN: `rope_type: yarn`, factor 4, original context 32 of 128 positions, RoPE base 10 000 (so that of the 8 pairs one is kept, one blended and six divided by 4), attention factor 0.1 ln 4 + 1; 40-token prompt |
| `phi3-longrope` | Phi3ForCausalLM | as `phi3` with Phi-3.5-mini's LongRoPE: 8 short and 8 long factors (made up, Phi-3.5's shape), original context 32 of 128 positions, attention factor sqrt(1 + ln 4 / ln 32); no sliding window; 40-token prompt (long factors), and its first 20 tokens alone (short factors) |

Files in each folder:

- `config.json`, `model.safetensors` (float32), written by transformers' `save_pretrained`;
- the tokenizer: `tokenizer.json` + `tokenizer_config.json`; Gemma, Phi-3 and Mistral also
  `tokenizer.model`, a SentencePiece BPE model with byte fallback (Gemma: pad 0, eos 1, bos 2, unk 3,
  mask 4; Phi-3/Mistral: unk 0, bos 1, eos 2, and for Phi-3 `<|endoftext|>` at 3, which llama.cpp's
  phi3 vocabulary loader requires), the others a byte-level BPE (GPT-2 split regex) built
  with the `tokenizers` library; all trained on a few sentences to exactly 512 entries;
- `model.gguf`: the same model converted by llama.cpp's own `convert_hf_to_gguf.py` (llama-cpp-python
  0.3.36's sdist) with `--outtype f32`: llama.cpp's tensor names, Q/K permutation and keys (Mistral,
  Llama 3 and SmolLM2 become GGUF architecture `llama`; Llama 3's scaling becomes a `rope_freqs` tensor);
- `references.json`: `prompt_ids` (20; BOS first where the model has one; `prompt_seed`: ids drawn
  with numpy.random.RandomState(seed) from the non-special tokens, the first seed whose margins are
  >= 0.01), `prompt_text` (decoded), `logits` / `logits_shape`, `greedy_ids` (32, from a KV-cache loop,
  checked against one uncached forward: same argmax; `cache_max_abs_difference`), `min_top2_margin`
  (smallest best-minus-second-best logit over every prompt position and greedy step),
  `gguf_architecture`, and llama.cpp's (xllamacpp's) greedy run of `model.gguf` on the same ids:
  `llamacpp_listed_ids` (xllamacpp leaves out a token that ends inside a UTF-8 character, a
  byte-level or byte-fallback fragment), `llamacpp_unlisted_steps` (steps of `greedy_ids` taken as
  such fragments), `llamacpp_min_top2_margin` (log-probability gap over the listed steps),
  `llamacpp_agrees` (the listed ids are `greedy_ids` less those fragments), `llamacpp_first_difference`;
  and llama.cpp one step at a time along transformers' greedy path (prompt + `greedy_ids[:k]`):
  `llamacpp_forced_argmax` (null where the server listed nothing, a UTF-8 fragment),
  `llamacpp_forced_unlisted_steps`, `llamacpp_forced_differing_steps` (steps where llama.cpp's best
  token is not transformers'; the exact check, where the free runs' alignment is only a heuristic);
  or `llamacpp_error` where llama.cpp cannot load the file;
  `versions`;
- `prompt-logits.npy`: float32 `[20, 512]` (`[40, 512]` for the RoPE-scaled models), the logits at every
  prompt position;
- `short-prompt-logits.npy` (LongRoPE only): float32 `[20, 512]`, the logits of the prompt's first 20
  tokens run alone (`short_prompt_length`), a sequence within the original context, which transformers
  rotates with the short factors; the 40-token prompt and its greedy run are past it, with the long
  factors, as llama.cpp's run at its context size of 128.

llama.cpp is a second, independent implementation, not the reference. It runs Mistral (GGUF
architecture `llama`, which has no sliding window) and Phi-3 (whose window it does not apply here)
without their sliding windows, so it parts from transformers from the first steps there:
`mistral/references.json` and `phi3/references.json` also hold `greedy_ids_without_sliding_window`,
transformers' greedy ids with the window removed, and
`llamacpp_forced_differing_steps_without_sliding_window`, llama.cpp's steps along that path where its
best token is not transformers' (none: llama.cpp matches the model without the window).

Regenerate (byte-identical from run to run; `--check` runs twice and compares): see the docstring of
`tools/make_arch_references.py` for the venvs, then

    ~/.cache/qkv-ref-venv/bin/python tools/make_arch_references.py [--check] [--only qwen2-yarn,phi3-longrope]

(`--only` makes just the named folders, each with the seeds it has in the full run.)
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="generate a second time into a temporary folder and compare")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--only", help="comma-separated model names: make (and with --check compare) only these folders")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    if only and not only <= set(MODELS):
        parser.error("unknown model: %s" % ", ".join(sorted(only - set(MODELS))))
    with tempfile.TemporaryDirectory() as scratch:
        summary = generate(args.out, scratch, only)
    for r in summary:
        if "llamacpp_forced_argmax" in r:
            llama = "steps where llama.cpp's best token differs: %s (without the sliding window: %s)" % (
                r["llamacpp_forced_differing_steps"], r.get("llamacpp_forced_differing_steps_without_sliding_window", "-"))
        else:
            llama = r.get("llamacpp_error") or r.get("gguf_error")
        print("%-8s %-18s T=%d margin=%.4f cache=%.3g gguf=%s %s" % (
            r["name"], r["architecture"], len(r["prompt_ids"]), r["min_top2_margin"], r["cache_max_abs_difference"],
            r.get("gguf_architecture", "-"), llama))
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(args.out) for f in fs)
    print("%s: %.2f MiB" % (os.path.relpath(args.out, REPO), total / 2 ** 20))
    if args.check:
        with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryDirectory() as scratch:
            generate(tmp, scratch, only)
            a, b = tree_digest(args.out), tree_digest(tmp)
            if only:
                a = {k: v for k, v in a.items() if k.split(os.sep)[0] in only}
                b = {k: v for k, v in b.items() if k.split(os.sep)[0] in only}
            print("second run:", "identical" if a == b else "DIFFERENT: %s" % sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)))
            return 0 if a == b else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
