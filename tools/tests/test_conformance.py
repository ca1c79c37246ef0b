"""The conformance corpus (Fixtures/conformance/manifest.json) through `qkv validate --deep`: exit 0 for
every good file, 1 for every bad one, and the message names the file. The Swift test
(Tests/QKVFormatTests/ConformanceTests.swift) checks the exact error case of each through the library.

QKV_BIN names the binary (default .build/debug/qkv)."""

import json
import os
import subprocess

import pytest

from test_interop import FIXTURES, qkv_binary

MANIFEST = os.path.join(FIXTURES, "conformance", "manifest.json")


def load():
    if not os.path.exists(MANIFEST):
        pytest.fail("%s is missing: run `python3 tools/make_fixtures.py`" % MANIFEST, pytrace=False)
    with open(MANIFEST, encoding="utf-8") as f:
        return json.load(f)["files"]


CASES = load()


def test_corpus_size():
    bad = [c for c in CASES if c["expect"] != "valid"]
    assert len(bad) >= 60
    for reader in ("qkv", "safetensors", "gguf", "hdf5", "pytorch"):
        assert any(c["reader"] == reader and c["expect"] == "valid" for c in CASES), reader
        assert sum(c["reader"] == reader for c in bad) >= 10, reader


@pytest.mark.parametrize("case", CASES, ids=[c["path"] for c in CASES])
def test_validate(case):
    path = os.path.join(FIXTURES, case["path"])
    result = subprocess.run([qkv_binary(), "validate", "--deep", "--quiet", path],
                            capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == case["exit"], "%s (%s): exit %d, expected %d\n%s" % (
        case["path"], case["why"], result.returncode, case["exit"], output)
    if case["expect"] != "valid":
        # Every problem line names the file it is about.
        assert path in output, output
        assert "Fatal error" not in output and "Sanitizer" not in output, output
