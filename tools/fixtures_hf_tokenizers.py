#!/usr/bin/env python3
"""tokenizer.json fixtures in the styles real models use, and what Hugging Face `tokenizers` makes of
test strings with each, so qkv's choice of tokenizer from the file itself is held to the library id for
id.

Each style is a small BPE trained here with `tokenizers` on a fixed corpus, then given the normalizer,
pre-tokenizer, decoder, post-processor and added tokens of the model family it stands for:

    llama3      Split(Llama 3's regex, isolated) + ByteLevel(use_regex=False), ignore_merges,
                TemplateProcessing adding <|begin_of_text|>
    qwen2       NFC normalizer, Split(Qwen2's regex) + ByteLevel(use_regex=False), <|im_start|> etc.
    smollm2     Digits(individual_digits) + ByteLevel(use_regex=True)
    gemma       Replace(" ", "▁") normalizer (no dummy prefix), byte fallback, <bos> template
    llama2      Prepend("▁") + Replace(" ", "▁") normalizers, byte fallback, <s> template
    phi3        llama2's, with added tokens that take the whitespace after (rstrip) or around them (lstrip)
    metaspace   Metaspace(prepend_scheme="first", split=False) pre-tokenizer, byte fallback

Usage: python3 tools/fixtures_hf_tokenizers.py [--out DIR]   (also run by tools/make_fixtures.py)

It writes DIR/tokenizers/hf/STYLE.json (the tokenizer.json) and DIR/tokenizers/hf-cases.json (for
each style and string: ids with and without special tokens, and the tokens), and
DIR/tokenizers/pre-splits.json: for every llama.cpp pre-tokenizer name in qkv's table
(Sources/QKVSchema/Schema/PreTokenizerTable.swift), the words tokenizers' Split chain of its regexes
cuts test strings into, so Swift's Regex is held to Oniguruma's reading of each regex. Deterministic for one
`tokenizers` version, which the cases file records.
"""

import argparse
import json
import os
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO_ROOT, "Fixtures")

LLAMA3_REGEX = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_REGEX = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's a dog's life, isn't it? We'll see, they'd say.",
    "Hello world! Hello World! hello, world. HELLO WORLD. Hello there, hello again.",
    "def main(args):\n    for i in range(10):\n        print(i * 2, 'done')\n    return 0\n",
    "int x = 12345; float y = 3.14159; x += 1000000; // the numbers 2024 and 1999",
    "Café, naïve, résumé, façade, jalapeño, über, Straße, Ærø, Œuvre, Ünïcödé.",
    "中文字符和日本語のテキスト、그리고 한국어 텍스트도 있습니다。漢字かな交じり文。",
    "Emoji: 🦙 🚀 ✅ 😁 and symbols: ©®™ ± ≤ ≥ → ← ∞ √ π.",
    "    indented with spaces\n\tand tabs\n\n\nand blank lines  \r\n windows line\r\n",
    "!!! ??? ... --- *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}}",
    "The year 1984, the number 42, pi 3.14, phone 555-0123, version v1.2.3-beta.",
]

CASES = [
    "Hello world", " Hello world", "  two leading spaces", "trailing  ", "it's I'M we'LL they'D",
    "1234567 3.14159", "x=1;y=22;z=333;w=4444", "def f(x):\n    return x**2\n", "\n\n\t tabs\tand\nnewlines",
    "Café naïve résumé", "Cafe\u0301 decomposed", "中文字符和日本語のテキスト", "한국어 텍스트", "emoji 🦙🚀 and ✅",
    "!!!??? ... ---", "   ", "", "Ünïcödé ÀÉÎ", "a\u00a0b", "line1\r\nline2", "SPECIALS",
    "<|user|>\n  Hi there <|end|>  \n <|assistant|>  Hello\t<|end|>x", "a <|assistant|>b\u3000<|assistant|>\u00a0c",
]


def train(pre_tokenizer, normalizer, byte_level, vocab_size=600):
    """A BPE trained on CORPUS with the given pipeline: (vocab dict, merges list)."""
    from tokenizers import Tokenizer, models, trainers, pre_tokenizers
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    alphabet = pre_tokenizers.ByteLevel.alphabet() if byte_level else []
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, initial_alphabet=alphabet, show_progress=False)
    tok.train_from_iterator(CORPUS * 3, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return model["vocab"], merges


def byte_level_style(name, pre_tokenizer, normalizer=None, ignore_merges=False, specials=(), template=None):
    from tokenizers import Tokenizer, models, decoders, processors, AddedToken, pre_tokenizers
    vocab, merges = train(pre_tokenizer, normalizer, byte_level=True)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=ignore_merges))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if template:
        tok.post_processor = processors.TemplateProcessing(single=template + " $A", special_tokens=[(template, tok.token_to_id(template))])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return tok


def sentencepiece_style(name, normalizer, pre_tokenizer, specials, template, stripped=()):
    """SentencePiece-like BPE: `▁` for spaces, `<0xNN>` byte tokens, byte fallback."""
    from tokenizers import Tokenizer, models, decoders, processors, AddedToken, normalizers
    vocab, merges = train(pre_tokenizer, normalizer or normalizers.Replace(" ", "\u2581"), byte_level=False, vocab_size=500)
    full = {}
    for s in specials:
        full[s] = len(full)
    for b in range(256):
        full["<0x%02X>" % b] = len(full)
    for token in sorted(vocab, key=vocab.get):
        if token not in full:
            full[token] = len(full)
    tok = Tokenizer(models.BPE(vocab=full, merges=merges, byte_fallback=True, unk_token=specials[0], fuse_unk=True))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
    steps = [decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()]
    if normalizer is not None and "Prepend" in normalizer.__getstate__().decode() or pre_tokenizer is not None:
        steps.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(steps)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False, lstrip=l, rstrip=r) for s, l, r in stripped])
    tok.post_processor = processors.TemplateProcessing(single=template + " $A", special_tokens=[(template, tok.token_to_id(template))])
    return tok


def styles():
    from tokenizers import pre_tokenizers, normalizers, Regex
    split = lambda regex: pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)
    return {
        "llama3": byte_level_style("llama3", pre_tokenizers.Sequence([split(LLAMA3_REGEX), byte_level]), ignore_merges=True,
                                   specials=("<|begin_of_text|>", "<|end_of_text|>"), template="<|begin_of_text|>"),
        "qwen2": byte_level_style("qwen2", pre_tokenizers.Sequence([split(QWEN2_REGEX), byte_level]), normalizer=normalizers.NFC(),
                                  specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>")),
        "smollm2": byte_level_style("smollm2", pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                                        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
                                    specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>")),
        "gemma": sentencepiece_style("gemma", normalizers.Replace(" ", "\u2581"), None, ["<pad>", "<eos>", "<bos>", "<unk>"], "<bos>"),
        "llama2": sentencepiece_style("llama2", normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")]), None,
                                      ["<unk>", "<s>", "</s>"], "<s>"),
        "phi3": sentencepiece_style("phi3", normalizers.Sequence([normalizers.Prepend("\u2581"), normalizers.Replace(" ", "\u2581")]), None,
                                    ["<unk>", "<s>", "</s>"], "<s>",
                                    stripped=[("<|user|>", False, True), ("<|end|>", False, True), ("<|assistant|>", True, True)]),
        "metaspace": sentencepiece_style("metaspace", None, pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=False),
                                         ["<unk>", "<s>", "</s>"], "<s>"),
    }


SPLIT_CASES = [
    "Hello world, it's I'M we'LL they'D", "  leading and trailing  ", "x=1;y=22;z=333;w=4444;v=1234567",
    "def f(x):\n    return x**2\r\n\n\n\tok", "Café e\u0301 naïve Straße ǅemal ΣΊΣΥΦΟΣ ꭰꮿ", "中文字符，日本語のテキスト、カタカナ。한국어 텍스트",
    "emoji 🦙🚀 ✅ and 👨‍👩‍👧 family", "$100 + ^~|` <tag/> (a|b) [c]", "<sentinel:12> IMGIMGABZ x  y    z",
    "हिन्दी देवनागरी ภาษาไทย العربية", "camelCaseWord HTTPServer iPhone X11", "a\u00a0b\u2009c\u3000d \u00b2\u00bd\u2460",
    "\n", "", "3.14 1e10 0xFF ١٢٣ ²³",
]


def llama_cpp_table():
    """{name: [regex, ...]} read from Sources/QKVSchema/Schema/PreTokenizerTable.swift, the table qkv
    uses: the regexes are data; what is checked is how Oniguruma and Swift's Regex read them."""
    import re
    path = os.path.join(REPO_ROOT, "Sources", "QKVSchema", "Schema", "PreTokenizerTable.swift")
    text = open(path, encoding="utf-8").read()
    strings = []

    def literal(match):
        strings.append(match.group(2))
        return "__S%d__" % (len(strings) - 1)
    text = re.sub(r'(#+)"(.*?)"\1', literal, text)
    namespace = {"__builtins__": {}}
    for i, s in enumerate(strings):
        namespace["__S%d__" % i] = s
    table = {}

    def add(names, patterns, ignoreMerges=False):
        for name in names:
            table[name] = list(patterns)
    namespace["add"] = add
    statement = ""
    for line in text.splitlines():
        line = line.strip()
        if not statement and not (line.startswith("add(") or line.startswith("private let ") or line.startswith("public let gpt2SplitPattern")):
            continue
        statement += " " + line
        if statement.count("(") == statement.count(")") and statement.count("[") == statement.count("]"):
            code = statement.strip().replace("private let ", "").replace("public let ", "").replace("ignoreMerges:", "ignoreMerges=").replace("true", "True")
            exec(code, namespace)
            statement = ""
    return table


def pre_splits():
    """{name: {text: words}} as tokenizers' Split(regex, isolated) chain cuts SPLIT_CASES."""
    from tokenizers import pre_tokenizers, Regex
    out = {}
    for name, patterns in sorted(llama_cpp_table().items()):
        chain = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(p), behavior="isolated", invert=False) for p in patterns])
        out[name] = [[w for w, _ in chain.pre_tokenize_str(text)] for text in SPLIT_CASES]
    return out


def write_all(out):
    import tokenizers
    folder = os.path.join(out, "tokenizers", "hf")
    os.makedirs(folder, exist_ok=True)
    cases = {}
    for name, tok in styles().items():
        path = os.path.join(folder, name + ".json")
        tok.save(path, pretty=False)
        specials = [t.content for t in tok.get_added_tokens_decoder().values()]
        rows = []
        for text in CASES:
            if text == "SPECIALS":
                text = "".join(s + " x" for s in specials)
            with_specials = tok.encode(text)
            plain = tok.encode(text, add_special_tokens=False)
            # tokens by id (an added token's `tokens` entry would carry the whitespace it stripped).
            rows.append({"text": text, "ids": with_specials.ids, "ids_without_specials": plain.ids,
                         "tokens": [tok.id_to_token(i) for i in with_specials.ids]})
        cases[name] = rows
        print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))
    path = os.path.join(out, "tokenizers", "hf-cases.json")
    with open(path, "w", encoding="utf-8") as f:
        # One case per line: readable diffs, small file.
        f.write('{"about": %s,\n"styles": {\n' % json.dumps("tools/fixtures_hf_tokenizers.py with Hugging Face tokenizers %s" % tokenizers.__version__))
        f.write(",\n".join("%s: [\n%s]" % (json.dumps(name), ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows))
                           for name, rows in cases.items()))
        f.write("}}\n")
    print("wrote %s" % path)
    path = os.path.join(out, "tokenizers", "pre-splits.json")
    splits = pre_splits()
    with open(path, "w", encoding="utf-8") as f:
        # One name per line.
        f.write('{"about": %s,\n"texts": %s,\n"names": {\n' % (json.dumps(
            "tools/fixtures_hf_tokenizers.py: every llama.cpp name of PreTokenizerTable.swift as Hugging Face tokenizers %s "
            "splits the texts (Split, isolated, in order)" % tokenizers.__version__), json.dumps(SPLIT_CASES, ensure_ascii=False)))
        f.write(",\n".join("%s: %s" % (json.dumps(name), json.dumps(words, ensure_ascii=False)) for name, words in splits.items()))
        f.write("}}\n")
    print("wrote %s (%d names)" % (path, len(splits)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="output directory (default: %(default)s)")
    args = parser.parse_args(argv)
    write_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
