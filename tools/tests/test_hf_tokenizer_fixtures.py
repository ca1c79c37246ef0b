"""The tokenizer.json style fixtures (tools/fixtures_hf_tokenizers.py) are what the installed Hugging Face
`tokenizers` writes and says today: regenerated, every file is byte for byte the committed one (the
pre-tokenizer splits of every llama.cpp name included), and each committed tokenizer.json still gives the
committed ids."""

import json
import os

import fixtures_hf_tokenizers as fht
from tokenizers import Tokenizer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO_ROOT, "Fixtures", "tokenizers")


def test_regenerated_fixtures_are_the_committed_ones(tmp_path):
    fht.write_all(str(tmp_path))
    names = sorted(os.listdir(tmp_path / "tokenizers" / "hf"))
    assert names == sorted(os.listdir(os.path.join(FIXTURES, "hf")))
    for name in names:
        with open(os.path.join(FIXTURES, "hf", name), "rb") as committed:
            assert (tmp_path / "tokenizers" / "hf" / name).read_bytes() == committed.read(), name
    for name in ["hf-cases.json", "pre-splits.json"]:
        with open(os.path.join(FIXTURES, name), "rb") as committed:
            assert (tmp_path / "tokenizers" / name).read_bytes() == committed.read(), name


def test_committed_ids_are_what_tokenizers_gives():
    with open(os.path.join(FIXTURES, "hf-cases.json"), encoding="utf-8") as f:
        styles = json.load(f)["styles"]
    assert sorted(styles) == ["gemma", "llama2", "llama3", "metaspace", "phi3", "qwen2", "smollm2"]
    for style, cases in styles.items():
        tok = Tokenizer.from_file(os.path.join(FIXTURES, "hf", style + ".json"))
        for case in cases:
            assert tok.encode(case["text"]).ids == case["ids"], (style, case["text"])
            assert tok.encode(case["text"], add_special_tokens=False).ids == case["ids_without_specials"], (style, case["text"])
