"""A byte-level BPE whose split is not GPT-2's (Llama 3's regex, ignore_merges) survives `qkv convert` to a
Hugging Face folder: the folder gets a tokenizer.json that Hugging Face `tokenizers` splits and runs as it
does the source tokenizer.json, and qkv reads the folder back to the same ids too."""

import json
import os
import shutil
import subprocess

from tokenizers import Tokenizer

from test_interop import qkv_binary

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LLAMA3_REGEX = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
TEXTS = ["Hello world", "it's 12345 I'M", "  spaced   out\n\nlines", "x=1;y=22;z=333", "Café 中文 🦙", "<|endoftext|> after"]


def qkv(*args):
    result = subprocess.run([qkv_binary(), *map(str, args)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_llama3_split_survives_a_folder_export(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(os.path.join(REPO_ROOT, "Fixtures", "hf", "gpt2-tiny"), source)
    with open(source / "tokenizer.json", encoding="utf-8") as f:
        spec = json.load(f)
    spec["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_REGEX}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    spec["model"]["ignore_merges"] = True
    with open(source / "tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(spec, f)
    original = Tokenizer.from_file(str(source / "tokenizer.json"))
    expected = [original.encode(t).ids for t in TEXTS]
    words = [original.pre_tokenizer.pre_tokenize_str(t) for t in TEXTS]
    gpt2 = Tokenizer.from_file(os.path.join(REPO_ROOT, "Fixtures", "hf", "gpt2-tiny", "tokenizer.json"))
    # The tiny vocabulary has too few merges for the ids to tell the splits apart; the words do.
    assert words[1] != gpt2.pre_tokenizer.pre_tokenize_str(TEXTS[1])

    out = tmp_path / "out"
    qkv("convert", source, str(out) + "/", "--to", "safetensors", "-q")
    exported = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert [exported.encode(t).ids for t in TEXTS] == expected
    assert [exported.pre_tokenizer.pre_tokenize_str(t) for t in TEXTS] == words
    with open(out / "tokenizer.json", encoding="utf-8") as f:
        assert json.load(f)["model"]["ignore_merges"] is True
    for folder in (source, out):
        got = [json.loads(line)["ids"] for line in qkv("tokenize", folder, "--json", "--", *TEXTS).splitlines()]
        assert got == expected, folder
