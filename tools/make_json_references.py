#!/usr/bin/env python3
"""Python's `json` module as the reference for qkv's JSON parser: each document below read by
`json.loads` (its bytes decoded as UTF-8 first, as qkv's parser reads them), with Python's verdict and,
where it accepts, the value it reads, into Fixtures/json/python-json.json.

QKVFormatTests' JSONReferenceTests parse the same bytes with `JSONParser` and compare; test_serve_json.py
posts them to `qkv serve` inside a request body and checks 200 against 400 with `json.loads` there and then.
Two places where qkv reads stricter than Python, on purpose, are told apart in the fixture:
`NaN`/`Infinity` (a Python extension, not JSON: `"constant": true`) and unpaired surrogates (a Python
str holds one, a Swift String cannot: a string's code points in D800-DFFF).

The fixture is written so that reading it needs only ASCII strings, integers and arrays: documents as
hex, strings as lists of code points, numbers as text, so the parser under test decodes nothing of what it
is checked against. Values are tagged: {"object": [[key, value], ...]} (every member, in order, duplicates
kept), {"array": [...]}, {"string": [code points]}, {"int": "digits"}, {"float": repr}, {"bool": 0|1}, {"null": 0}.

    python3 tools/make_json_references.py
"""

import json
import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Fixtures", "json", "python-json.json")

DOCUMENTS = [
    # Numbers: integers stay integers, anything with a fraction or exponent is a float.
    b"0", b"-0", b"5", b"5.0", b"5e0", b"5E+2", b"-1.5e-3", b"0.1", b"1e400", b"-1e400", b"1e-400",
    b"9223372036854775807", b"9223372036854775808", b"-9223372036854775809", b"123456789012345678901234567890",
    b"01", b"-", b"1.", b".5", b"1e", b"1e+", b"+1", b"0x10", b"1.5.2", b"--1", b"- 1",
    # Literals and Python's extensions.
    b"true", b"false", b"null", b"True", b"nul", b"NaN", b"Infinity", b"-Infinity",
    # Strings and escapes.
    b'""', b'"abc"', rb'"\"\\\/\b\f\n\r\t"', rb'"\u00e9\u4e2d"', rb'"\u0000"', rb'"\uD83D\uDE00"', rb'"\ud83d\ude00"',
    rb'"\ud800"', rb'"\udc00"', rb'"\ud800x"', rb'"\ud800\u0041"', rb'"\udc00\ud800"',
    rb'"\q"', rb'"\u12"', rb'"\u12g4"', rb'"\U00e9"', b'"abc', b'"a\x01b"', b'"a\tb"', b'"a\x7fb"',
    "é€😀".encode(), b'"' + "é€😀".encode() + b'"', b'"\xff"', b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'"\xe2\x82"',
    b'"\xf4\x90\x80\x80"', b'"\xef\xbf\xbe"',
    # Arrays and objects.
    b"[]", b"{}", b"[1,2,[3,[4]]]", b'{"a":1,"b":[true,null]}', b'{"a":1,"a":2}', b'{"b":1,"a":2,"b":3}',
    b"[1,]", b'{"a":1,}', b"[,1]", b"[1 2]", b'{"a" 1}', b'{a:1}', b"{'a':1}", b'{"a":1', b"[1", b"]", b"}",
    b'{"a":}', b'{1:2}', b'{"":0}', b'{"\\u0061":1,"a":2}',
    # White space and what surrounds the value.
    b" \t\r\n[ 1 , 2 ] \t\r\n", b"", b"   ", b"[1] x", b"[1][2]", b"1 2", b"[1]\x00", b"\x0b[1]", b"\xc2\xa0[1]",
    b"\xef\xbb\xbf[1]", b"/*c*/[1]", b"[1]//c",
]


def tag(value):
    if isinstance(value, Pairs):
        return {"object": [[codepoints(k), tag(v)] for k, v in value.pairs]}
    if isinstance(value, list):
        return {"array": [tag(v) for v in value]}
    if isinstance(value, str):
        return {"string": codepoints(value)}
    if isinstance(value, bool):
        return {"bool": int(value)}
    if isinstance(value, int):
        return {"int": str(value)}
    if isinstance(value, float):
        return {"float": repr(value)}
    assert value is None
    return {"null": 0}


def codepoints(text):
    return [ord(c) for c in text]


class Pairs:
    def __init__(self, pairs):
        self.pairs = pairs


class Constant(Exception):
    pass


def python_reads(document):
    """(verdict, tagged value or None, whether Python needed its NaN/Infinity extension)."""
    def constant(name):
        raise Constant(name)
    try:
        text = document.decode("utf-8")
        value = json.loads(text, object_pairs_hook=Pairs, parse_constant=constant)
    except Constant:
        return "accept", None, True
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "reject", None, False
    return "accept", tag(value), False


def main():
    entries = []
    for document in DOCUMENTS:
        verdict, value, constant = python_reads(document)
        entry = {"hex": document.hex(), "python": verdict}
        if constant:
            entry["constant"] = True
        elif value is not None:
            entry["value"] = value
        entries.append(entry)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as out:
        out.write("[\n" + ",\n".join(json.dumps(e, separators=(",", ":")) for e in entries) + "\n]\n")
    print(f"{len(entries)} documents -> {os.path.relpath(OUT, REPO)}")


if __name__ == "__main__":
    main()
