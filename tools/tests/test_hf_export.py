"""`qkv convert X.h5 OUT.safetensors` writes Hugging Face names and layouts: every tensor must equal, byte
for byte, the tensor tools/fixtures_hf.py wrote with numpy for the same model (Fixtures/hf/*), and the
`safetensors` package must load the file.
"""

import json
import os
import subprocess

import pytest
from safetensors import safe_open
from safetensors.numpy import load_file

import make_fixtures as mf
from test_interop import qkv_binary, qkv_convert

HF = os.path.join(mf.DEFAULT_OUT, "hf")

# (canonical fixture, numpy-written reference folder, buffers the reference has and qkv drops)
CASES = [
    ("bert-tiny.h5", "bert-tiny", {"embeddings.position_ids"}),
    ("gpt2-tiny.h5", "gpt2-tiny", None),           # None: every h.{i}.attn.bias mask buffer
    ("llama-tiny.h5", "llama-tiny", set()),
]


@pytest.mark.parametrize("fixture,folder,buffers", CASES)
def test_safetensors_export_matches_the_numpy_reference(tmp_path, fixture, folder, buffers):
    out = qkv_convert(os.path.join(mf.DEFAULT_OUT, fixture), tmp_path / "model.safetensors", "-q")
    ours = load_file(str(out))
    reference = load_file(os.path.join(HF, folder, "model.safetensors"))
    if buffers is None:
        buffers = {name for name in reference if name.endswith(".attn.bias") and reference[name].ndim == 4}
    for name in buffers:
        del reference[name]
    assert set(ours) == set(reference)
    for name, array in reference.items():
        assert ours[name].dtype == array.dtype and ours[name].shape == array.shape, name
        assert ours[name].tobytes() == array.tobytes(), name
    with safe_open(str(out), "np") as f:
        metadata = f.metadata()
    assert metadata["format"] == "pt"
    assert json.loads(metadata["qkv.metadata"])["config.family"] == {"string": fixture.split("-")[0]}


@pytest.mark.parametrize("fixture,folder,_", CASES)
def test_folder_export_writes_a_config_like_transformers(tmp_path, fixture, folder, _):
    result = subprocess.run([qkv_binary(), "convert", os.path.join(mf.DEFAULT_OUT, fixture), str(tmp_path / "out") + "/",
                             "--to", "safetensors", "-q"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with open(tmp_path / "out" / "config.json") as f:
        ours = json.load(f)
    with open(os.path.join(HF, folder, "config.json")) as f:
        reference = json.load(f)
    keys = {"model_type", "vocab_size"} | {k for k in reference if k in ours and k not in ("architectures", "torch_dtype", "transformers_version")}
    for key in sorted(keys):
        assert ours[key] == reference[key], key


def export_folder(tmp_path, fixture):
    out = str(tmp_path / "out") + "/"
    result = subprocess.run([qkv_binary(), "convert", os.path.join(mf.DEFAULT_OUT, fixture), out, "--to", "safetensors", "-q"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return tmp_path / "out"


def test_folder_export_writes_bert_tokenizer_and_sentence_transformers_files(tmp_path):
    out = export_folder(tmp_path, "bert-tiny.h5")
    reference = os.path.join(HF, "bert-tiny")
    assert (out / "vocab.txt").read_text(encoding="utf-8") == open(os.path.join(reference, "vocab.txt"), encoding="utf-8").read()
    for name in ("special_tokens_map.json", "1_Pooling/config.json", "modules.json"):
        with open(out / name) as f, open(os.path.join(reference, name)) as g:
            assert json.load(f) == json.load(g), name
    with open(out / "tokenizer_config.json") as f, open(os.path.join(reference, "tokenizer_config.json")) as g:
        ours, theirs = json.load(f), json.load(g)
    for key in ("do_lower_case", "tokenize_chinese_chars", "tokenizer_class", "model_max_length", "cls_token", "sep_token"):
        assert ours[key] == theirs[key], key
    with open(out / "sentence_bert_config.json") as f, open(os.path.join(reference, "sentence_bert_config.json")) as g:
        assert json.load(f)["max_seq_length"] == json.load(g)["max_seq_length"]


def test_folder_export_writes_gpt2_vocab_and_merges(tmp_path):
    out = export_folder(tmp_path, "gpt2-tiny.h5")
    reference = os.path.join(HF, "gpt2-tiny")
    with open(out / "vocab.json", encoding="utf-8") as f, open(os.path.join(reference, "vocab.json"), encoding="utf-8") as g:
        assert json.load(f) == json.load(g)
    assert (out / "merges.txt").read_text(encoding="utf-8") == open(os.path.join(reference, "merges.txt"), encoding="utf-8").read()
