#!/usr/bin/env bash
# Runs the Swift test suite under a sanitizer once: tools/sanitize.sh thread|address [swift test --filter ...]
#
# Builds into its own scratch directory (.build-tsan / .build-asan), runs every test (or the --filter
# given), and fails on any ThreadSanitizer or AddressSanitizer report. LeakSanitizer's leak reports
# fail only when a leaked block was allocated from the project's own code (a frame in Sources/): the
# XCTest harness keeps its test-case objects alive to the end of the process, and LSan lists those too.
# OpenBLAS and libhdf5 are not instrumented, so races or overflows inside them are not seen.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:?usage: tools/sanitize.sh thread|address [--filter PATTERN]}
shift
case "$kind" in thread) scratch=.build-tsan ;; address) scratch=.build-asan ;; *) echo "thread or address" >&2; exit 2 ;; esac
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch" >&2
status=0
swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" "$@" >"$log" 2>&1 || status=$?
python3 - "$log" "$status" "$kind" <<'PY'
import re, sys
text, status, kind = open(sys.argv[1], errors="replace").read(), int(sys.argv[2]), sys.argv[3]
reports = re.findall(r"^(?:WARNING: ThreadSanitizer|==\d+==ERROR: AddressSanitizer)[^\n]*", text, re.M)
blocks = [b for b in re.split(r"\n(?=(?:Direct|Indirect) leak of)", text) if b.startswith(("Direct leak", "Indirect leak"))]
ours = [b for b in blocks if "/Sources/" in b]
executed = re.findall(r"Executed (\d+) tests?, with (\d+) failures?", text)
total = executed[-1] if executed else ("?", "?")
print("%s sanitizer: %s tests, %s failures; %d sanitizer reports; %d leak reports, %d from the project's code" % (
    kind, total[0], total[1], len(reports), len(blocks), len(ours)))
for line in reports[:20]:
    print("  " + line)
for block in ours[:5]:
    print(block[:2000])
# A leak report alone makes swift test exit non-zero; judge by the reports and the failures instead.
failed = total[1] not in ("0", "?") or reports or ours or (status != 0 and not blocks)
sys.exit(1 if failed else 0)
PY
