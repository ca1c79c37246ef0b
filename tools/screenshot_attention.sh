#!/bin/sh
# Renders a `qkv attention --html` page in headless Chromium: a screenshot, and optionally the DOM as it
# is after the page's script ran (to check the elements the script builds).
#
# Usage: tools/screenshot_attention.sh PAGE.html SHOT.png [DOM.html]
#   CHROMIUM=path   the browser to use (default: chromium, chromium-browser or google-chrome on PATH)
# Exit status: 0 done, 2 usage error or no browser, else the browser's status.
set -eu
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 PAGE.html SHOT.png [DOM.html]" >&2
    exit 2
fi
page=$1 shot=$2 dom=${3:-}
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$browser" ]; then
    echo "$0: no Chromium on PATH; install it with: apt-get install -y chromium" >&2
    exit 2
fi
[ -f "$page" ] || { echo "$0: $page: no such file" >&2; exit 2; }
page_url="file://$(cd "$(dirname "$page")" && pwd)/$(basename "$page")"
shot_path="$(cd "$(dirname "$shot")" && pwd)/$(basename "$shot")"

# A fresh profile each run: no state from earlier runs, nothing left behind.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT INT TERM
set -- --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --user-data-dir="$profile" \
    --window-size=1400,1000 --virtual-time-budget=3000

"$browser" "$@" --screenshot="$shot_path" "$page_url" >"$profile/screenshot.log" 2>&1 || {
    status=$?; cat "$profile/screenshot.log" >&2; exit $status; }
[ -s "$shot_path" ] || { echo "$0: Chromium wrote no screenshot" >&2; cat "$profile/screenshot.log" >&2; exit 1; }
if [ -n "$dom" ]; then
    "$browser" "$@" --dump-dom "$page_url" >"$dom" 2>"$profile/dom.log" || {
        status=$?; cat "$profile/dom.log" >&2; exit $status; }
fi
