#!/usr/bin/env bash
# ThreadSanitizer over the code whose threads share state: tools/tsan.sh
#
# 1. The Swift tests that run compute teams, batches and the asynchronous entry points
#    (tools/sanitize.sh thread: its own .build-tsan, fails on any report).
# 2. The server, which has no Swift test target: the TSan-built `qkv serve` under the HTTP tests of
#    tools/tests/test_serve.py that run requests at once (shared batches, continuous batching, a full
#    queue and a client leaving), each report written to a file and any report a failure.
# OpenBLAS and libhdf5 are not instrumented, so a race inside them is not seen; none is suppressed.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$SECONDS

bash tools/sanitize.sh thread --filter \
    'EncoderThreadingTests|ComputeContextTests|BertEncoderTests|DecoderTests|DecoderBatchTests|AsyncGenerationTests|BPETests.testGPT2_concurrentEncode'

reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
# The server's exit status becomes 66 on a report, which the fixture's teardown also checks.
TSAN_OPTIONS="log_path=$reports/tsan" QKV_BIN="$PWD/.build-tsan/debug/qkv" python3 -m pytest -q tools/tests/test_serve.py \
    -k 'concurrent or full_queue or streams_the_same'
if compgen -G "$reports/tsan*" >/dev/null; then
    cat "$reports"/tsan* | grep -E '^(WARNING|SUMMARY): ThreadSanitizer' >&2
    echo "tsan: ThreadSanitizer reports from qkv serve (above)" >&2
    exit 1
fi
echo "tsan: no ThreadSanitizer report; $((SECONDS - start)) s"
