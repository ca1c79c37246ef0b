#!/usr/bin/env python3
"""Runs a command and prints its wall time and peak resident memory, split as the kernel counts it:
anonymous (heap, stacks: what the program allocates) and file-backed (pages of mapped files, which the
kernel can drop at will), for tools/bench/scale.sh. Sampled every 20 ms from /proc/PID/status.

    python peak_memory.py COMMAND...    -> one JSON line on stderr: seconds, rss_anon_mib, rss_file_mib, hwm_mib, exit
"""

import json
import subprocess
import sys
import time


def main():
    start = time.perf_counter()
    process = subprocess.Popen(sys.argv[1:])
    peak = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    key = line.split(":")[0]
                    if key in peak:
                        peak[key] = max(peak[key], int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.02)
    print(json.dumps({"seconds": round(time.perf_counter() - start, 2), "rss_anon_mib": peak["RssAnon"] // 1024,
                      "rss_file_mib": peak["RssFile"] // 1024, "hwm_mib": peak["VmHWM"] // 1024, "exit": process.returncode}),
          file=sys.stderr)
    sys.exit(process.returncode)


if __name__ == "__main__":
    main()
