"""`qkv serve` reads request bodies as Python's `json` module does: every document of
Fixtures/json/python-json.json (tools/make_json_references.py) posted inside a /tokenize body, and as a
whole body, is answered 200 where `json.loads` reads the same bytes and 400 "not valid JSON" where it
refuses them, apart from Python's two extensions the server refuses on purpose (NaN/Infinity, and unpaired
surrogates, which a Swift String cannot hold); the same for seeded random documents made of JSON's
pieces and mutations of valid ones. Also: UTF-16 and UTF-32 bodies (which `json.loads` reads
too), nesting up to 512 levels and no deeper, and a wrong field type named in the 400."""

import http.client
import json
import os
import random
import urllib.error
import urllib.request

import pytest

from server_process import start_server, stop_server

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(REPO, "Fixtures", "json", "python-json.json")


@pytest.fixture(scope="module")
def server():
    # No key, so that every body reaches the parser; one thread for the tiny model.
    process, url = start_server("llama=" + os.path.join(REPO, "Fixtures", "hf", "llama-tiny"), key=None, threads=1)
    yield url
    stop_server(process)


def post(url, data):
    request = urllib.request.Request(url + "/tokenize", data=data, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def strict_python_verdict(data):
    """Whether the server should read `data`: `json.loads` reads it, with no NaN or Infinity and no
    unpaired surrogate in what it read."""
    def constant(name):
        raise ValueError(name)
    try:
        value = json.loads(data, parse_constant=constant)
    except (ValueError, RecursionError):   # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return False
    return not has_surrogate(value)


def has_surrogate(value):
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(has_surrogate(v) for v in value)
    if isinstance(value, dict):
        return any(has_surrogate(k) or has_surrogate(v) for k, v in value.items())
    return False


def documents():
    return [bytes.fromhex(entry["hex"]) for entry in json.load(open(FIXTURE))]


def test_fixture_holds_pythons_current_verdicts():
    for entry in json.load(open(FIXTURE)):
        document = bytes.fromhex(entry["hex"])
        try:
            json.loads(document.decode("utf-8"), parse_constant=float)
            verdict = "accept"
        except ValueError:
            verdict = "reject"
        assert verdict == entry["python"], document


@pytest.mark.parametrize("where", ["inside", "whole"])
def test_bodies_are_read_where_pythons_json_reads_them(server, where):
    disagreements = []
    for document in documents():
        if where == "inside":
            data = b'{"model":"llama","content":"x","extra":' + document + b"}"
        else:
            # The document as the whole body: an object is answered, anything else is refused for its type.
            data = document
        status, body = post(server, data)
        readable = strict_python_verdict(data)
        if where == "whole" and readable and not isinstance(json.loads(data), dict):
            want = (400, "The request body must be a JSON object")
        elif where == "whole" and readable:
            want = (400, "'content' is required")
        elif readable:
            want = (200, None)
        elif data.strip() == b"":
            want = (400, "The request body is empty; expected a JSON object" if data == b"" else "The request body is not valid JSON")
        else:
            want = (400, "The request body is not valid JSON")
        got = (status, body["error"]["message"] if status != 200 else None)
        if got != want:
            disagreements.append((data, got, want))
    assert not disagreements


# Pieces of JSON and of near-JSON, and valid documents to mutate with them.
PIECES = [b"[", b"]", b"{", b"}", b",", b":", b'"', b'"a"', b"1", b"9", b"-", b"0", b".", b"e", b"E", b"+", b"true", b"null", b"false",
          b" ", b"\n", b"\\", b"\\u", b"d800", b"dc00", b"00e9", b"\\n", b'\\"', b"\xc3\xa9", b"\xff", b"\x01", b"\\ud83d\\ude00", b"NaN"]
VALID = [b'{"a":[1,2.5e3,"x\\u00e9"],"b":{"c":null}}', b'[true,false,null,-0.0,"\\"\\\\"]', b'"\\ud83d\\ude00"']


def random_document(rng):
    if rng.random() < 0.5:
        return b"".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))
    text = bytearray(rng.choice(VALID))
    for _ in range(rng.randint(1, 3)):
        i = rng.randrange(len(text) + 1)
        op = rng.random()
        if op < 0.4:
            del text[min(i, len(text) - 1)]
        elif op < 0.8:
            text[i:i] = rng.choice(PIECES)
        else:
            text[min(i, len(text) - 1)] = rng.randrange(256)
    return bytes(text)


def test_random_documents_are_read_where_pythons_json_reads_them(server):
    rng = random.Random(17)
    connection = http.client.HTTPConnection(server.split("//")[1])
    disagreements = []
    for _ in range(3000):
        data = b'{"model":"llama","content":"x","extra":' + random_document(rng) + b"}"
        connection.request("POST", "/tokenize", body=data)
        response = connection.getresponse()
        response.read()
        if response.status != (200 if strict_python_verdict(data) else 400):
            disagreements.append((data, response.status))
    connection.close()
    assert not disagreements


def test_utf16_and_utf32_bodies_are_read_as_pythons_json_reads_them(server):
    text = '{"model":"llama","content":"h\u00e9llo \U0001F600"}'
    want = post(server, text.encode())
    assert want[0] == 200
    for encoding in ["utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"]:
        data = text.encode(encoding)
        assert json.loads(data) == json.loads(text)
        assert post(server, data) == want, encoding


def test_nesting_is_read_to_512_levels_and_refused_past(server):
    def nested(levels):
        return b'{"model":"llama","content":"x","extra":' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"
    assert post(server, nested(512))[0] == 200
    status, body = post(server, nested(513))
    assert status == 400 and body["error"]["message"] == "The request body is not valid JSON"
    status, body = post(server, nested(200000))
    assert status == 400 and body["error"]["message"] == "The request body is not valid JSON"


def test_a_wrong_field_type_is_named(server):
    status, body = post(server, b'{"model":"llama","content":5}')
    assert status == 400 and body["error"]["param"] == "content" and body["error"]["message"] == "'content' must be a string"
    status, body = post(server, b'{"model":"llama","content":"x","add_special":"yes"}')
    assert status == 400 and body["error"]["param"] == "add_special"
