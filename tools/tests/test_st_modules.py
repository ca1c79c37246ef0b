"""sentence-transformers' Dense modules, prompts and max_seq_length, against the embeddings
sentence-transformers computed (Fixtures/reference/st-modules.json, made once by
tools/make_st_modules_references.py in the reference venv), and carried through qkv's own files and back
to a folder sentence-transformers loads."""

import json
import math
import os
import shutil
import subprocess

import numpy as np
import pytest
from safetensors.numpy import load_file

from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = json.load(open(os.path.join(REPO, "Fixtures", "reference", "st-modules.json"), encoding="utf-8"))
MODELS = sorted(REFERENCE["models"])


def fixture(name):
    return os.path.join(REPO, "Fixtures", "st-modules", name)


def qkv(*args, check=True):
    result = subprocess.run([qkv_binary(), *map(str, args)], capture_output=True, text=True)
    if check:
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


def embed(model, texts, case):
    args = ["embed", model, *texts, "--format", "json", "-q"]
    if case["prompt_name"] is not None:
        args += ["--prompt-name", case["prompt_name"]]
    if case["prompt"] is not None:
        args += ["--prompt", case["prompt"]]
    return np.array(json.loads(qkv(*args).stdout), dtype=np.float64)


def compare(model, name):
    """The cosine and largest difference of qkv's vectors from sentence-transformers' over every case."""
    reference = REFERENCE["models"][name]
    worst_cosine, worst_difference = 1.0, 0.0
    for case in reference["cases"]:
        ours = embed(model, REFERENCE["texts"], case)
        theirs = np.array(case["embeddings"], dtype=np.float64)
        assert ours.shape == theirs.shape == (len(REFERENCE["texts"]), reference["dimension"]), case["prompt_name"]
        for a, b in zip(ours, theirs):
            worst_cosine = min(worst_cosine, float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-30)))
        worst_difference = max(worst_difference, float(np.abs(ours - theirs).max()))
    return worst_cosine, worst_difference


@pytest.mark.parametrize("name", MODELS)
def test_embeddings_equal_sentence_transformers(name):
    cosine, difference = compare(fixture(name), name)
    print(f"{name}: min cosine {cosine:.9f}, max abs difference {difference:.3g}")
    assert cosine >= 0.9999 and difference < 1e-5, (cosine, difference)


def test_the_references_exercise_truncation_and_prompts():
    for name, reference in REFERENCE["models"].items():
        ids = [len(row) for case in reference["cases"] for row in case["token_ids"]]
        assert max(ids) == reference["max_seq_length"] < 64, name   # a text was cut at max_seq_length
        texts = [c["prompt_text"] for c in reference["cases"]]
        assert "" in texts and len(set(texts)) >= 3, name


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("via", [".qkv", ".h5"])
def test_round_trip_keeps_the_modules(tmp_path, name, via):
    source = fixture(name)
    middle = tmp_path / f"m{via}"
    qkv("convert", source, middle, "-q")
    back = str(tmp_path / "back") + "/"
    qkv("convert", middle, back, "--to", "safetensors", "-q")
    reference = REFERENCE["models"][name]

    # The same vectors from the file in between and from the folder written back.
    for model in (middle, back):
        cosine, difference = compare(str(model), name)
        assert cosine >= 0.9999 and difference < 1e-5, (model, cosine, difference)

    # modules.json in sentence-transformers' order, each Dense as it was.
    original = json.load(open(os.path.join(source, "modules.json")))
    written = json.load(open(os.path.join(back, "modules.json")))
    kind = lambda m: m["type"].rsplit(".", 1)[1]
    assert [kind(m) for m in written] == [kind(m) for m in original]
    assert [m["idx"] for m in written] == list(range(len(written)))
    dense_before = [m["path"] for m in original if kind(m) == "Dense"]
    dense_after = [m["path"] for m in written if kind(m) == "Dense"]
    assert len(dense_after) == len(dense_before) >= 1
    for before, after in zip(dense_before, dense_after):
        a = json.load(open(os.path.join(source, before, "config.json")))
        b = json.load(open(os.path.join(back, after, "config.json")))
        for key in ("in_features", "out_features", "bias", "activation_function"):
            assert a[key] == b[key], (before, key)
        tensors = load_file(os.path.join(back, after, "model.safetensors"))
        assert sorted(tensors) == (["linear.bias", "linear.weight"] if a["bias"] else ["linear.weight"])
        assert tensors["linear.weight"].shape == (a["out_features"], a["in_features"])
        if os.path.exists(os.path.join(source, before, "model.safetensors")):
            original_tensors = load_file(os.path.join(source, before, "model.safetensors"))
            for key, value in original_tensors.items():
                assert np.array_equal(value, tensors[key]), (before, key)

    # Prompts and the maximum length.
    st = json.load(open(os.path.join(back, "config_sentence_transformers.json")))
    assert st["prompts"] == reference["prompts"]
    assert st.get("default_prompt_name") == reference["default_prompt_name"]
    assert json.load(open(os.path.join(back, "sentence_bert_config.json")))["max_seq_length"] == reference["max_seq_length"]


def test_inspect_shows_the_dense_modules_and_prompts():
    out = qkv("inspect", fixture("st-dense")).stdout
    assert "Dense to" in out and "tanh" in out and "identity" in out and "query" in out, out


def test_an_unknown_prompt_name_lists_the_names():
    result = qkv("embed", fixture("st-dense"), "hello", "--prompt-name", "nope", check=False)
    assert result.returncode == 1, result.stderr
    assert "nope" in result.stderr and "query" in result.stderr and "doc" in result.stderr


def test_prompt_and_prompt_name_together_are_refused():
    result = qkv("embed", fixture("st-dense"), "hello", "--prompt-name", "query", "--prompt", "x", check=False)
    assert result.returncode != 0 and "--prompt" in result.stderr


def test_an_explicit_empty_prompt_overrides_the_default():
    empty = json.loads(qkv("embed", fixture("st-dense"), "hello world", "--prompt", "", "--format", "json", "-q").stdout)
    default = json.loads(qkv("embed", fixture("st-dense"), "hello world", "--format", "json", "-q").stdout)
    named = json.loads(qkv("embed", fixture("st-dense"), "hello world", "--prompt-name", "query", "--format", "json", "-q").stdout)
    assert default == named and default != empty


def test_gguf_export_of_a_dense_model_is_refused(tmp_path):
    result = qkv("convert", fixture("st-dense"), tmp_path / "m.gguf", check=False)
    assert result.returncode == 2, result.stdout + result.stderr   # a model the output format cannot hold
    assert "Dense" in result.stderr and "GGUF" in result.stderr
    assert not os.path.exists(tmp_path / "m.gguf")


def test_single_file_safetensors_export_of_a_dense_model_is_refused(tmp_path):
    result = qkv("convert", fixture("st-dense"), tmp_path / "m.safetensors", check=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Dense" in result.stderr and "folder" in result.stderr


# Bad Dense modules: each a clear error naming the file, exit 1, for validate, embed and convert.

def broken(tmp_path, change):
    folder = tmp_path / "st"
    shutil.copytree(fixture("st-dense"), folder)
    change(folder)
    return folder


def edit_json(path, **fields):
    data = json.load(open(path))
    data.update(fields)
    json.dump(data, open(path, "w"))


BAD = {
    "in_features": (lambda f: edit_json(f / "2_Dense" / "config.json", in_features=31), "2_Dense/config.json", "in_features"),
    "chained_width": (lambda f: edit_json(f / "3_Dense" / "config.json", in_features=32), "3_Dense/config.json", "in_features"),
    "out_features": (lambda f: (edit_json(f / "2_Dense" / "config.json", out_features=25), edit_json(f / "3_Dense" / "config.json", in_features=25)),
                     "2_Dense/model.safetensors", "linear.weight"),
    "activation": (lambda f: edit_json(f / "2_Dense" / "config.json", activation_function="torch.nn.modules.activation.Softplus"),
                   "2_Dense/config.json", "Softplus"),
    "untrusted_activation": (lambda f: edit_json(f / "2_Dense" / "config.json", activation_function="mypackage.MyActivation"),
                             "2_Dense/config.json", "mypackage.MyActivation"),
    "missing_weights": (lambda f: os.remove(f / "2_Dense" / "model.safetensors"), "2_Dense", "model.safetensors"),
    "missing_bias": (lambda f: edit_json(f / "3_Dense" / "config.json", bias=True), "3_Dense/model.safetensors", "linear.bias"),
    "residual": (lambda f: edit_json(f / "2_Dense" / "config.json", use_residual=True), "2_Dense/config.json", "use_residual"),
    "include_prompt": (lambda f: edit_json(f / "1_Pooling" / "config.json", include_prompt=False), "1_Pooling/config.json", "include_prompt"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_dense_module_is_a_clear_error(tmp_path, case):
    change, file, word = BAD[case]
    folder = broken(tmp_path, change)
    for command in (["validate", folder], ["embed", folder, "hello"], ["convert", folder, tmp_path / "out.qkv"]):
        result = qkv(*command, check=False)
        said = result.stdout + result.stderr
        assert result.returncode == 1, (case, command, said)
        assert file in said and word in said, (case, said)
        assert "Traceback" not in said and "Fatal error" not in said


def test_the_server_embeds_with_the_dense_modules_and_the_default_prompt():
    serve = pytest.importorskip("test_serve")   # its helpers (and its openai and jinja2 imports)
    texts = ["the cat sat on the mat", "hello world"]
    process, url = serve.start_server("st=" + fixture("st-dense"))
    try:
        status, body = serve.http(url + "/v1/embeddings", {"model": "st", "input": texts})
        assert status == 200, body
        got = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
        want = np.array(json.loads(qkv("embed", fixture("st-dense"), *texts, "--format", "json", "-q").stdout), dtype=np.float32)
        assert got.shape == (2, 16) and np.array_equal(got, want)
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
