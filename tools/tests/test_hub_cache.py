"""Models named as in the Hugging Face hub cache (Sources/QKVFormat/Import/HubCache.swift): a cache laid out
as huggingface_hub lays it out (refs/<branch> holding a commit, snapshots/<commit>/ of symlinks into
blobs/), built here from Fixtures/hf/llama-tiny. `org/name`, `org/name@revision` and the
`models--org--name` folder resolve through $HF_HUB_CACHE, $HF_HOME or ~/.cache/huggingface/hub, read
only, and give the same model as the folder itself; a name not in the cache fails listing where it looked.
"""

import hashlib
import os
import shutil
import subprocess

import pytest

from qkv_numpy import read_qkv
from test_interop import qkv_binary

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SOURCE = os.path.join(REPO, "Fixtures", "hf", "llama-tiny")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OLDER = "fedcba9876543210fedcba9876543210fedcba98"


def make_cache(root):
    """models--tiny-org--llama-tiny with refs/main -> COMMIT and a second snapshot OLDER (no ref)."""
    repo = os.path.join(root, "models--tiny-org--llama-tiny")
    os.makedirs(os.path.join(repo, "blobs"))
    os.makedirs(os.path.join(repo, "refs"))
    for commit in (COMMIT, OLDER):
        snapshot = os.path.join(repo, "snapshots", commit)
        os.makedirs(snapshot)
        for name in sorted(os.listdir(SOURCE)):
            data = open(os.path.join(SOURCE, name), "rb").read()
            blob = os.path.join(repo, "blobs", hashlib.sha256(data).hexdigest())
            if not os.path.exists(blob):
                with open(blob, "wb") as f:
                    f.write(data)
            os.symlink(os.path.relpath(blob, snapshot), os.path.join(snapshot, name))
    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(COMMIT)
    return repo


def run(args, env):
    return subprocess.run([qkv_binary(), *map(str, args)], capture_output=True, text=True, env=env)


@pytest.fixture
def cache(tmp_path):
    root = tmp_path / "hub"
    repo = make_cache(str(root))
    env = dict(os.environ, HF_HUB_CACHE=str(root), HOME=str(tmp_path / "home"))
    env.pop("HF_HOME", None)
    return root, repo, env


def tensors(path):
    return {name: t["array"].tobytes() for name, t in read_qkv(str(path))[1].items()}


@pytest.mark.parametrize("reference", ["tiny-org/llama-tiny", "tiny-org/llama-tiny@main", "tiny-org/llama-tiny@" + OLDER, "REPO"])
def test_references_resolve_to_the_snapshot(cache, tmp_path, reference):
    root, repo, env = cache
    reference = repo if reference == "REPO" else reference
    result = run(["convert", reference, tmp_path / "m.qkv", "--quiet"], env)
    assert result.returncode == 0, result.stderr
    run(["convert", SOURCE, tmp_path / "want.qkv", "--quiet"], env)
    assert tensors(tmp_path / "m.qkv") == tensors(tmp_path / "want.qkv")
    for command in (["inspect", reference], ["validate", reference], ["generate", reference, "hello", "--max-tokens", "3"],
                    ["tokenize", reference, "hello"]):
        result = run(command, env)
        assert result.returncode == 0, (command, result.stderr)


def test_hf_home_is_searched_and_the_cache_is_not_written(tmp_path):
    root = tmp_path / "home-hf" / "hub"
    repo = make_cache(str(root))
    env = dict(os.environ, HF_HOME=str(tmp_path / "home-hf"), HOME=str(tmp_path / "home"))
    env.pop("HF_HUB_CACHE", None)
    before = sorted(os.walk(repo))
    result = run(["inspect", "tiny-org/llama-tiny"], env)
    assert result.returncode == 0, result.stderr
    assert sorted(os.walk(repo)) == before


def test_a_name_not_in_the_cache_lists_where_it_looked(cache):
    root, _, env = cache
    result = run(["inspect", "other-org/missing"], env)
    assert result.returncode != 0
    assert "models--other-org--missing" in result.stderr and str(root) in result.stderr
    assert "never downloads" in result.stderr


def test_an_unknown_revision_lists_the_snapshots(cache):
    _, _, env = cache
    result = run(["inspect", "tiny-org/llama-tiny@v9"], env)
    assert result.returncode != 0
    assert "revision 'v9'" in result.stderr and COMMIT in result.stderr


def test_the_revision_option_selects_that_snapshot_in_every_command(cache, tmp_path):
    """--revision picks a snapshot other than refs/main's: with main's snapshot emptied, the default fails
    and --revision OLDER reads the older one, through org/name and the cache folder."""
    root, repo, env = cache
    for name in os.listdir(os.path.join(repo, "snapshots", COMMIT)):
        os.unlink(os.path.join(repo, "snapshots", COMMIT, name))
    assert run(["inspect", "tiny-org/llama-tiny"], env).returncode != 0
    run(["convert", SOURCE, tmp_path / "want.qkv", "--quiet"], env)
    for reference in ("tiny-org/llama-tiny", repo):
        result = run(["convert", reference, tmp_path / "m.qkv", "--revision", OLDER, "--quiet"], env)
        assert result.returncode == 0, result.stderr
        assert tensors(tmp_path / "m.qkv") == tensors(tmp_path / "want.qkv")
        for command in (["inspect", reference], ["validate", reference], ["generate", reference, "hello", "--max-tokens", "3"],
                        ["tokenize", reference, "hello"], ["score", reference, "hello there"], ["attention", reference, "hello"]):
            result = run(command + ["--revision", OLDER], env)
            assert result.returncode == 0, (command, result.stderr)


@pytest.mark.parametrize("case", ["own-path", "twice", "not-a-revision", "unknown"])
def test_a_revision_that_cannot_apply_is_a_clear_error(cache, case):
    _, _, env = cache
    reference, revision, message = {
        "own-path": (SOURCE, "main", "is a file or folder of its own"),
        "twice": ("tiny-org/llama-tiny@main", OLDER, "give the revision once"),
        "not-a-revision": ("tiny-org/llama-tiny", "refs/../main", "is not a revision"),
        "unknown": ("tiny-org/llama-tiny", "v9", "revision 'v9'"),
    }[case]
    result = run(["inspect", reference, "--revision", revision], env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert message in result.stderr, result.stderr
