#!/usr/bin/env python3
"""A GGUF with another GGUF's tokenizer: every key and tensor of MODEL (tensors byte for byte, keys in
their order and types) but its `tokenizer.*` keys, which come from VOCAB. For the benchmark models made
without a tokenizer (tools/bench/random_models.py's llama-134m), which llama.cpp will not load without
one; qkv runs them from token ids either way.

    gguf_with_vocab.py MODEL.gguf VOCAB.gguf OUT.gguf
"""

import sys

import gguf


def copy_fields(reader, writer, keep):
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or not keep(key):
            continue
        vtype = field.types[0]
        sub = field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub_type=sub)


def main():
    model, vocab, out = sys.argv[1:4]
    source, words = gguf.GGUFReader(model), gguf.GGUFReader(vocab)
    arch = source.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(out, arch)
    copy_fields(source, writer, lambda key: not key.startswith("tokenizer."))
    copy_fields(words, writer, lambda key: key.startswith("tokenizer."))
    for t in source.tensors:
        writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
