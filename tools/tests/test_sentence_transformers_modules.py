"""A sentence-transformers folder whose modules.json lists a module qkv does not compute (LayerNorm,
WeightedLayerPooling, and any other but Transformer, Pooling, Dense and Normalize) is refused naming the
module, never embedded without it. Dense is computed: tools/tests/test_st_modules.py."""

import json
import os
import shutil
import subprocess

import pytest

from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("module", ["sentence_transformers.models.LayerNorm", "sentence_transformers.models.WeightedLayerPooling",
                                    "sentence_transformers.base.modules.layer_norm.LayerNorm"])
def test_a_module_qkv_does_not_compute_is_refused(tmp_path, module):
    folder = tmp_path / "st"
    shutil.copytree(os.path.join(REPO, "Fixtures", "hf", "bert-tiny"), folder)
    modules = json.load(open(folder / "modules.json"))
    modules.insert(2, {"idx": 2, "name": "2", "path": "2_Other", "type": module})
    json.dump(modules, open(folder / "modules.json", "w"))
    for command in (["validate", folder], ["embed", folder, "hello"]):
        result = subprocess.run([qkv_binary(), *map(str, command)], capture_output=True, text=True)
        assert result.returncode == 1, (command, result.stdout, result.stderr)
        said = result.stdout + result.stderr
        assert module in said and "modules.json" in said


def test_the_modules_qkv_computes_are_accepted(tmp_path):
    result = subprocess.run([qkv_binary(), "validate", os.path.join(REPO, "Fixtures", "hf", "bert-tiny")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
