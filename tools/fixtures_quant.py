#!/usr/bin/env python3
"""Generate the block-quantization fixtures (Specs/quantization.md), with gguf-py as the reference.

Writes into DIR/quant/ (default <repo>/Fixtures):

    blocks.gguf      for every block type qkv reads, a tensor named after the type (ROWS rows of
                     random blocks, special values planted: zero, -0, negative, subnormal, largest,
                     infinite and NaN f16 scales; all-zero and all-ones quant bytes), and beside it
                     "<type>.f32": gguf-py's `gguf.quants.dequantize` of those bytes, the reference
                     the Swift tests compare with bit for bit; and "<type>.matrix": 13 rows of 2
                     (k-quants) or 3 (32-value types) blocks with finite scales, for the products
                     from the mapping. Architecture "qkv-quant-blocks" (no model: read with GGUFFile).
    llama-quant.gguf a one-layer LLaMA (d_model 256, 4 heads of 64, 2 key/value heads, d_ff 256,
                     llama-tiny's tokenizer) whose matrices each have another block type (Q4_0 and
                     Q8_0 by gguf-py's `quantize` of random weights, the k-quants as random blocks with
                     finite moderate scales) but W_O, F16: qkv dequantizes a block-quantized W_O on
                     import, so only an F16 one comes back byte-identical from GGUF -> .qkv/HDF5 ->
                     GGUF; the decoder runs it from the mapping.

Usage: python3 tools/fixtures_quant.py [--out DIR]; make_fixtures.py calls write_all().
Deterministic: fixed seeds, and gguf-py writes no timestamps.
"""

import argparse
import os
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as QT

import make_fixtures as mf
import fixtures_gguf as fg

QUANT_DIR = "quant"
ROWS = 4

# qkv dtype name -> ggml type, in qkv's dtype-code order (Specs/schema.md).
TYPES = [
    ("q8_0", QT.Q8_0), ("q4_0", QT.Q4_0), ("q4_1", QT.Q4_1), ("q5_0", QT.Q5_0), ("q5_1", QT.Q5_1),
    ("q2_k", QT.Q2_K), ("q3_k", QT.Q3_K), ("q4_k", QT.Q4_K), ("q5_k", QT.Q5_K), ("q6_k", QT.Q6_K),
    ("iq4_nl", QT.IQ4_NL), ("iq4_xs", QT.IQ4_XS), ("iq1_s", QT.IQ1_S), ("iq1_m", QT.IQ1_M),
    ("iq2_xxs", QT.IQ2_XXS), ("iq2_xs", QT.IQ2_XS), ("iq2_s", QT.IQ2_S), ("iq3_xxs", QT.IQ3_XXS),
    ("iq3_s", QT.IQ3_S), ("tq1_0", QT.TQ1_0), ("tq2_0", QT.TQ2_0), ("mxfp4", QT.MXFP4),
]

# Byte offsets of the f16 scales inside each block (ggml-common.h's block_* structs).
F16_SCALES = {
    QT.Q8_0: [0], QT.Q4_0: [0], QT.Q5_0: [0], QT.IQ4_NL: [0], QT.IQ4_XS: [0], QT.IQ2_XXS: [0],
    QT.IQ2_XS: [0], QT.IQ2_S: [0], QT.IQ3_XXS: [0], QT.IQ3_S: [0], QT.IQ1_S: [0],
    QT.Q4_1: [0, 2], QT.Q5_1: [0, 2], QT.Q4_K: [0, 2], QT.Q5_K: [0, 2],
    QT.Q2_K: [80, 82], QT.Q3_K: [108], QT.Q6_K: [208], QT.TQ1_0: [52], QT.TQ2_0: [64],
    QT.MXFP4: [], QT.IQ1_M: [],
}

# f16 bit patterns planted as scales: 0, -0, -1.5, smallest subnormal, largest, inf, -inf, quiet NaN,
# signalling NaN, negative NaN with a payload.
SPECIAL_SCALES = [0x0000, 0x8000, 0xBE00, 0x0001, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE55]


def block_bytes(qtype):
    return gguf.GGML_QUANT_SIZES[qtype]


def moderate_scales(blocks, qtype, rng):
    """Overwrite every f16 scale with a finite value of magnitude 1e-3..1e-1, either sign."""
    values = (rng.uniform(1e-3, 1e-1, size=blocks.shape[0]) * rng.choice([-1, 1], size=blocks.shape[0]))
    for offset in F16_SCALES[qtype]:
        blocks[:, offset:offset + 2] = values.astype("<f2").view(np.uint8).reshape(-1, 2)
    if qtype == QT.IQ1_M:
        # The f16 d sits in the top nibbles of the four u16 scale words (bytes 48..55).
        bits = values.astype("<f2").view(np.uint16)
        words = blocks[:, 48:56].copy().view("<u2")
        for k in range(4):
            words[:, k] = (words[:, k] & 0x0FFF) | (((bits >> (4 * k)) & 0xF) << 12)
        blocks[:, 48:56] = words.view(np.uint8)
    if qtype == QT.MXFP4:
        blocks[:, 0] = rng.integers(110, 130, size=blocks.shape[0], dtype=np.uint8)


def random_blocks(qtype, count, rng, special=True):
    """count random blocks of qtype, [count, block bytes] uint8; with `special`, the scales of the first
    blocks are the special values and two blocks have all-zero and all-0xFF quants."""
    _, size = block_bytes(qtype)
    blocks = rng.integers(0, 256, size=(count, size), dtype=np.uint8)
    moderate_scales(blocks, qtype, rng)
    if not special:
        return blocks
    offsets = F16_SCALES[qtype]
    if offsets:
        # Block i gets special value i % 10; with room for it, each scale of a two-scale block in turn.
        for i in range(min(count, len(SPECIAL_SCALES) * len(offsets))):
            offset = offsets[(i // len(SPECIAL_SCALES)) % len(offsets)] if count >= 2 * len(SPECIAL_SCALES) else offsets[i % len(offsets)]
            bits = SPECIAL_SCALES[i % len(SPECIAL_SCALES)]
            blocks[i, offset:offset + 2] = np.array([bits], dtype="<u2").view(np.uint8)
    scale_bytes = set()
    for offset in offsets:
        scale_bytes |= {offset, offset + 1}
    quants = [b for b in range(size) if b not in scale_bytes]
    if qtype == QT.MXFP4:
        quants = list(range(1, size))
        blocks[:4, 0] = [0, 1, 254, 255]   # e8m0: subnormal halves, 2^126, 2^127
    if count >= 2:
        blocks[count - 2, quants] = 0x00
        blocks[count - 1, quants] = 0xFF
    return blocks


def write_blocks(path):
    """blocks.gguf: every type's random blocks and gguf-py's dequantization of them."""
    rng = np.random.default_rng(15015)
    writer = gguf.GGUFWriter(path, "qkv-quant-blocks")
    for name, qtype in TYPES:
        block_size, size = block_bytes(qtype)
        per_row = 3 if block_size == 256 else 8
        blocks = random_blocks(qtype, ROWS * per_row, rng)
        raw = blocks.reshape(ROWS, per_row * size)
        with np.errstate(invalid="ignore", over="ignore"):
            reference = gguf.quants.dequantize(raw, qtype)
        assert reference.shape == (ROWS, per_row * block_size) and reference.dtype == np.float32
        writer.add_tensor(name, raw, raw_dtype=qtype)
        writer.add_tensor(name + ".f32", np.ascontiguousarray(reference, dtype="<f4"))
        per_row = 2 if block_size == 256 else 3
        matrix = random_blocks(qtype, 13 * per_row, rng, special=False).reshape(13, per_row * size)
        writer.add_tensor(name + ".matrix", matrix, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# Each matrix of llama-quant.gguf in its own type (gguf name suffix -> ggml type).
LLAMA_TYPES = {
    "token_embd.weight": QT.Q6_K, "attn_q.weight": QT.Q4_K, "attn_k.weight": QT.Q5_0,
    "attn_v.weight": QT.Q8_0, "attn_output.weight": QT.F16, "ffn_gate.weight": QT.Q4_0,
    "ffn_up.weight": QT.Q5_K, "ffn_down.weight": QT.Q6_K, "output.weight": QT.Q3_K,
}
QUANTIZABLE = {QT.Q4_0, QT.Q4_1, QT.Q5_0, QT.Q5_1, QT.Q8_0}


def llama_quant_model():
    model = mf.llama_model()
    model["name"] = "llama-quant"
    model["config"] = dict(model["config"], model_dim=256, layer_count=1, head_count=4, kv_head_count=2,
                           head_dim=64, ffn_dim=256)
    return model


def llama_quant_tensors(model, types):
    """[(gguf name, data, raw type or None)]: norms f32, matrices in `types`' block type."""
    c = model["config"]
    rng = np.random.default_rng(15016)
    H, K, d, D, F, V = c["head_count"], c["kv_head_count"], c["head_dim"], c["model_dim"], c["ffn_dim"], c["vocab_size"]
    shapes = [("token_embd.weight", (V, D))]
    for i in range(c["layer_count"]):
        b = "blk.%d." % i
        shapes += [(b + "attn_q.weight", (H * d, D)), (b + "attn_k.weight", (K * d, D)),
                   (b + "attn_v.weight", (K * d, D)), (b + "attn_output.weight", (D, H * d)),
                   (b + "ffn_gate.weight", (F, D)), (b + "ffn_up.weight", (F, D)), (b + "ffn_down.weight", (D, F)),
                   (b + "attn_norm.weight", (D,)), (b + "ffn_norm.weight", (D,))]
    shapes += [("output_norm.weight", (D,)), ("output.weight", (V, D))]
    out = []
    for name, shape in shapes:
        if len(shape) == 1:
            out.append((name, (1 + 0.1 * rng.standard_normal(shape)).astype("<f4"), None))
            continue
        qtype = types[name.split(".", 2)[-1] if name.startswith("blk.") else name]
        if qtype == QT.F16:
            out.append((name, (0.05 * rng.standard_normal(shape)).astype("<f2"), None))
            continue
        block_size, size = block_bytes(qtype)
        if qtype in QUANTIZABLE:
            data = gguf.quants.quantize((0.05 * rng.standard_normal(shape)).astype(np.float32), qtype)
        else:
            blocks = random_blocks(qtype, shape[0] * shape[1] // block_size, rng, special=False)
            data = blocks.reshape(shape[0], shape[1] // block_size * size)
        out.append((name, data, qtype))
    return out


def write_llama(path, types=LLAMA_TYPES):
    model = llama_quant_model()
    writer = gguf.GGUFWriter(path, "llama")
    meta = fg.llama_metadata(model, 15, True)   # llama.cpp's file type 15: mostly Q4_K_M
    fg.add_metadata(writer, meta)
    for name, data, qtype in llama_quant_tensors(model, types):
        writer.add_tensor(name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


# The f32 LLaMA sources of the K-quant checks (tools/make_kquant_references.py runs llama.cpp's
# llama-quantize on them; tools/tests/test_kquant.py runs `qkv convert --dtype`). Written when needed,
# not committed (a few MB each): RandomState streams are fixed by numpy's compatibility policy, and the
# references record every source tensor's SHA-256 so a changed stream is caught, not blamed on qkv.
#   a: 8 layers (llama.cpp's layer-dependent choices), rows of 256 (every K type fits), GQA 2, own head;
#      blk.0.attn_q.weight's first rows are the special blocks of KQUANT_SPECIAL_ROWS.
#   b: 2 layers, d_model 320 (K types fall back to 32-value types), GQA 5, tied embeddings.
KQUANT_SOURCES = {
    "a": dict(model_dim=256, layer_count=8, head_count=4, kv_head_count=2, head_dim=64, ffn_dim=256, tied=False),
    "b": dict(model_dim=320, layer_count=2, head_count=5, kv_head_count=1, head_dim=64, ffn_dim=512, tied=True),
}


def kquant_special_rows():
    """Rows of 256 values that reach the quantizers' corner cases: all zero, constant, one outlier,
    below f16's range, large, one-signed, alternating, ramps, sparse, zero sub-blocks, exact ties."""
    rng = np.random.RandomState(25601)
    n = rng.standard_normal(256)
    ramp = np.linspace(-1, 1, 256)
    rows = [
        np.zeros(256),
        np.full(256, 0.01), np.full(256, -0.01),
        np.where(np.arange(256) == 37, 1.0, 0.0),
        n * 1e-20,
        n * 1e3,
        np.abs(n) * 0.02, -np.abs(n) * 0.02,
        np.where(np.arange(256) % 2 == 0, 0.02, -0.02),
        ramp, ramp ** 3,
        np.where(rng.uniform(size=256) < 0.9, 0.0, n * 0.05),
        np.where((np.arange(256) // 16) % 2 == 0, 0.0, n * 0.02),
        np.where((np.arange(256) // 32) % 3 == 1, 0.0, n * 0.02),
        (rng.randint(-4, 4, size=256)) * 0.01,
        (rng.randint(-32, 32, size=256)) * 0.5,
        np.where(np.arange(256) == 200, 100.0, n * 0.02),
        rng.uniform(0, 1, size=256),
        rng.uniform(-1, 0, size=256) * 1e-3,
        np.concatenate([np.full(128, 0.3), n[:128] * 1e-4]),
    ]
    return np.stack(rows).astype(np.float32)


def kquant_source_model(variant):
    c = KQUANT_SOURCES[variant]
    model = mf.llama_model()
    model["name"] = "kquant-" + variant
    model["config"] = dict(model["config"], **{k: v for k, v in c.items() if k != "tied"}, tied_embeddings=c["tied"])
    return model


def kquant_source_tensors(variant):
    """[(gguf name, f32 data)] in llama.cpp's order, Q/K rows as llama.cpp stores them (permuted)."""
    model = kquant_source_model(variant)
    c = model["config"]
    H, K, d, D, F, V = c["head_count"], c["kv_head_count"], c["head_dim"], c["model_dim"], c["ffn_dim"], c["vocab_size"]
    shapes = [("token_embd.weight", (V, D))]
    for i in range(c["layer_count"]):
        b = "blk.%d." % i
        shapes += [(b + "attn_norm.weight", (D,)), (b + "attn_q.weight", (H * d, D)), (b + "attn_k.weight", (K * d, D)),
                   (b + "attn_v.weight", (K * d, D)), (b + "attn_output.weight", (D, H * d)),
                   (b + "ffn_norm.weight", (D,)), (b + "ffn_gate.weight", (F, D)), (b + "ffn_up.weight", (F, D)),
                   (b + "ffn_down.weight", (D, F))]
    shapes.append(("output_norm.weight", (D,)))
    if not c["tied_embeddings"]:
        shapes.append(("output.weight", (V, D)))
    out = []
    for name, shape in shapes:
        rng = mf.tensor_rng(7001 if variant == "a" else 7002, name)
        values = rng.standard_normal(shape) * 0.02
        if len(shape) == 1:
            values = values + 1.0
        values = values.astype(np.float32)
        if variant == "a" and name == "blk.0.attn_q.weight":
            special = kquant_special_rows()
            values[:len(special)] = special
        out.append((name, np.ascontiguousarray(values, dtype="<f4")))
    return out


def write_kquant_source(path, variant):
    model = kquant_source_model(variant)
    writer = gguf.GGUFWriter(path, "llama")
    fg.add_metadata(writer, fg.llama_metadata(model, 0, False))   # llama.cpp's file type 0: all f32
    for name, data in kquant_source_tensors(variant):
        writer.add_tensor(name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_all(fixtures_dir):
    out = os.path.join(fixtures_dir, QUANT_DIR)
    os.makedirs(out, exist_ok=True)
    for filename, write in (("blocks.gguf", write_blocks), ("llama-quant.gguf", write_llama)):
        path = os.path.join(out, filename)
        write(path)
        print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=mf.DEFAULT_OUT, help="fixtures directory (default: %(default)s)")
    args = parser.parse_args(argv)
    write_all(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
