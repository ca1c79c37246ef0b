"""`qkv serve` as a child process for the tests that drive it over HTTP (test_serve*.py and the tests
that import test_serve's helpers): started on a free loopback port and handed over once its models are
loaded."""

import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from test_interop import qkv_binary

KEY = "test-key-123"


def start_server(*args, key=KEY, threads=2):
    """`qkv serve ARGS` on a free loopback port with `--api-key KEY` (none when `key` is None) and
    `--threads THREADS`, once /health says the models are loaded: (process, url).

    Standard error goes to a file, which a long run of request logs cannot fill as it would a pipe
    nobody reads, and is shown when the server does not start."""
    command = [qkv_binary(), "serve", *args, "--port", "0", "--threads", str(threads)]
    if key is not None:
        command += ["--api-key", key]
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    line = process.stdout.readline()
    if "on http://" not in line:
        process.kill()
        process.wait()
        log.seek(0)
        raise AssertionError(f"{' '.join(command)} did not start: {line}{log.read()}")
    url = line.strip().split(" on ")[-1]
    for _ in range(600):
        try:
            # /health answers at once while the models load (503), never waiting for them.
            with urllib.request.urlopen(url + "/health", timeout=5) as response:
                if response.status == 200:
                    return process, url
        except urllib.error.HTTPError as error:
            assert error.code == 503
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"{' '.join(command)}: the models were not loaded after 60 s")


def stop_server(process):
    """SIGTERM, which the server answers with a graceful shutdown and exit status 0."""
    assert process.poll() is None, "the server died"
    process.terminate()
    assert process.wait(timeout=30) == 0
