"""The README's command sections and `qkv CMD --help` agree, and `--json` outputs hold what they say.

- Every flag in a README heading `### \\`qkv CMD ...\\`` exists in `qkv CMD --help`; every flag `--help`
  lists is explained in that command's README section (or, for the shared `--quiet`, `--threads`,
  `--help` and `--version`, in the paragraph before the first command).
- `validate --json`, `convert --json` and `generate --json` print one JSON object whose numbers are checked
  against gguf-py, the file system and `qkv generate --ids`; their exit codes are those of the text form.
"""

import json
import os
import re
import subprocess

import gguf
import numpy as np
import pytest

from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = open(os.path.join(REPO, "README.md")).read()
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
TINY_GGUF = os.path.join(REPO, "Fixtures", "gguf", "llama-tiny-q8_0.gguf")


def run(*args):
    return subprocess.run([qkv_binary(), *args], capture_output=True, text=True)


def sections():
    """{command: (heading, section text)} from the README's `### \\`qkv CMD` headings."""
    out = {}
    for part in re.split(r"\n(?=### `qkv )", README)[1:]:
        heading = part.split("\n", 1)[0]
        out[heading.split()[2].strip("`")] = (heading, re.split(r"\n## ", part)[0])
    return out


def shared_flags():
    """The flags the paragraph after `## The command` documents for every command."""
    start = README.index("## The command")
    return set(FLAG.findall(README[start:README.index("### `qkv ", start)]))


def test_every_subcommand_has_a_readme_section():
    listed = run("--help").stdout
    subcommands = set(re.findall(r"^  ([a-z]+)\s", listed.split("SUBCOMMANDS:")[1], re.M)) - {"help"}
    assert subcommands == set(sections()), listed


@pytest.mark.parametrize("command", sorted(sections()))
def test_readme_section_and_help_name_the_same_flags(command):
    heading, text = sections()[command]
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    in_help = set(FLAG.findall(result.stdout))
    assert set(FLAG.findall(heading)) <= in_help, "README heading names flags `qkv %s --help` lacks" % command
    undocumented = in_help - set(FLAG.findall(text)) - shared_flags()
    assert not undocumented, "`qkv %s --help` lists %s, which its README section does not explain" % (command, sorted(undocumented))


def test_shared_flags_paragraph_names_the_shared_flags():
    assert {"--quiet", "--threads", "--help", "--version", "--json"} <= shared_flags()


def test_validate_json_valid_invalid_and_exit_codes(tmp_path):
    result = run("validate", TINY_GGUF, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "valid" and out["problems"] == [] and out["format"] == "gguf"
    assert out["tensors"] == len(gguf.GGUFReader(TINY_GGUF).tensors)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(open(TINY_GGUF, "rb").read()[:-100])
    result = run("validate", str(broken), "--json")
    assert result.returncode == 1
    out = json.loads(result.stdout)
    assert out["status"] == "invalid" and out["problems"] and out["file"] == str(broken)


def test_convert_json_counts_what_gguf_py_reads(tmp_path):
    target = str(tmp_path / "out.gguf")
    result = run("convert", TINY_GGUF, target, "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    reader = gguf.GGUFReader(target)
    assert out["output"] == target and out["format"] == "gguf" and out["shards"] == []
    assert out["tensors"] == len(reader.tensors)
    assert out["parameters"] == sum(int(np.prod(t.shape)) for t in reader.tensors)
    assert out["bytes"] == os.path.getsize(target)


def test_generate_json_holds_the_streamed_ids_and_text(tmp_path):
    model = os.path.join(REPO, "Fixtures", "hf", "llama-tiny")
    ids = run("generate", model, "Hello world", "--max-tokens", "6", "--ids", "-q").stdout.split()
    text = run("generate", model, "Hello world", "--max-tokens", "6", "-q").stdout
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Hello world")
    result = run("generate", model, "--file", str(prompt), "--max-tokens", "6", "--json", "-q")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["ids"] == [int(i) for i in ids]
    assert out["text"] + "\n" == text
    assert out["prompt_ids"] == json.loads(run("tokenize", model, "Hello world", "--json").stdout)["ids"]
    assert out["seed"] is None and out["timings"]["generated_tokens"] == len(ids)
    stdin = subprocess.run([qkv_binary(), "generate", model, "--file", "-", "--max-tokens", "6", "--ids", "-q"],
                           input="Hello world", capture_output=True, text=True)
    assert stdin.stdout.split() == ids
    assert run("generate", model, "Hello", "--file", str(prompt)).returncode == 2   # usage
