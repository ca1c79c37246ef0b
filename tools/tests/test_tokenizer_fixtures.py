"""Fixtures/tokenizers/ and Sources/QKVTokenizers/BertCharacterTables.swift against a fresh run of
tools/fixtures_tokenizers.py: Hugging Face `tokenizers` on the real all-MiniLM-L6-v2 tokenizer.json must
still give the committed ids, normalizations and character tables.

Nothing is skipped: without the `tokenizers` package or the fetched MiniLM (tools/fetch-models.sh),
every test fails saying so.
"""

import json
import os

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO_ROOT, "Fixtures", "tokenizers")
TABLES = os.path.join(REPO_ROOT, "Sources", "QKVTokenizers", "BertCharacterTables.swift")
GOLDEN = ("this is a test sentence", [101, 2023, 2003, 1037, 3231, 6251, 102])


@pytest.fixture(scope="module")
def generator():
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        pytest.fail("the tokenizers package is missing: pip install tokenizers", pytrace=False)
    import fixtures_tokenizers
    if not os.path.isfile(fixtures_tokenizers.MINILM_TOKENIZER):
        pytest.fail("MiniLM is missing at %s: run tools/fetch-models.sh" % fixtures_tokenizers.MINILM_TOKENIZER, pytrace=False)
    return fixtures_tokenizers


def committed(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module")
def committed_cases():
    return committed("wordpiece-minilm.json")


def test_regenerated_ids_are_the_committed_ids(generator, committed_cases):
    fresh = json.loads(generator.dump(generator.cases_document()))
    assert [c["name"] for c in fresh["cases"]] == [c["name"] for c in committed_cases["cases"]]
    for new, old in zip(fresh["cases"], committed_cases["cases"]):
        assert new == old, "case %s: tokenizers %s now gives %s" % (old["name"], generator.tokenizers.__version__, new)
    assert fresh["max_length"] == committed_cases["max_length"] == 256


def test_golden_sentence(committed_cases):
    text, ids = GOLDEN
    case = next(c for c in committed_cases["cases"] if c["text"] == text)
    assert case["ids"] == case["ids_untruncated"] == ids


def test_cases_cover_what_the_brief_asks(committed_cases):
    cases = committed_cases["cases"]
    assert len(cases) >= 80
    texts = [c["text"] for c in cases]
    assert "" in texts
    assert any(len(c["ids_untruncated"]) > 256 for c in cases), "a text longer than 256 word pieces"
    for needle in ("café", "中文字符", "日本語のテキスト", "한국어", "Привет", "Καλημέρα", "مرحبا", "हिन्दी", "\u200d",
                   "\U0001f3fd", "\u00a0", "\u2003", "\u3000", "\u200b", "\ufeff", "\ufffd", "\t", "1,234.56", "‘curly’",
                   "https://", "@example", "[MASK]"):
        assert any(needle in t for t in texts), needle
    assert any(len(w) > 100 for t in texts for w in t.split()), "a word longer than 100 characters"


def test_truncation_keeps_cls_254_pieces_and_sep(committed_cases):
    """tokenizers truncates the pieces to max_length - 2, then adds [CLS] and [SEP]."""
    for c in committed_cases["cases"]:
        full = c["ids_untruncated"]
        assert full[0] == 101 and full[-1] == 102, c["name"]
        assert c["ids"] == [101] + full[1:-1][:254] + [102], c["name"]
        assert len(c["tokens"]) == len(c["ids"]), c["name"]


def test_regenerated_scalar_table_is_the_committed_one(generator):
    assert json.loads(generator.dump(generator.scalar_table())) == committed("bert-normalizer-scalars.json")


def test_regenerated_swift_tables_are_the_committed_ones(generator):
    with open(TABLES, encoding="utf-8") as f:
        assert generator.swift_tables() == f.read(), "regenerate with python3 tools/fixtures_tokenizers.py"

