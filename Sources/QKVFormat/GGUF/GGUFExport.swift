/// Writes canonical LLaMA-family models as GGUF in llama.cpp's naming and layout (the `GGUFMaps` rows
/// read backwards: Q/K rows permuted for ggml's RoPE, the output projection transposed to `[D, H·d]`),
/// with llama.cpp's keys and types. Keys a GGUF import kept (`provenance.gguf_*`) come back in their
/// order and types, so GGUF -> .qkv -> GGUF keeps every key.
final class GGUFExportWriter: ContainerWriter {
    private let writer: GGUFWriter
    private let steps: [String: (gguf: String, transform: TensorTransform, info: GGUFWriter.Tensor)]
    let tensorOrder: [String]?

    init(target: String, inputs: [String], metadata: Metadata, tensors: [TensorInfo], options: WriteOptions) throws {
        let config = try ModelConfig(metadata: metadata, file: target)
        guard config.family != .gpt2 else {
            throw ConversionError.unsupportedTarget(output: target, reason: "GGUF output is written for llama and bert models; this is \(config.family.rawValue)")
        }
        let tokenizer = try TokenizerData(metadata: metadata, config: config, file: target)
        var steps: [String: (gguf: String, transform: TensorTransform, info: GGUFWriter.Tensor)] = [:]
        var list: [GGUFWriter.Tensor] = []
        for info in tensors {
            // llama.cpp's BERT has no pooler and refuses tensors it does not expect: left out, and said.
            if config.family == .bert, info.role == .pooler { continue }
            guard let (name, transform) = GGUFMaps.source(for: info.name, config: config), let type = GGMLType(info.dtype) else {
                throw ConversionError.unsupportedTarget(output: target, reason: "tensor '\(info.name)' (\(info.dtype)) has no GGUF form")
            }
            // The file's shape: attention weights with their head dimensions merged, O transposed.
            var shape = info.shape.count == 3 ? [info.shape[0] * info.shape[1], info.shape[2]] : info.shape
            if case .transpose = transform {
                guard info.dtype.blockSize == 1 else {
                    throw ConversionError.unsupportedTarget(output: target, reason: "tensor '\(info.name)' is \(info.dtype), which cannot be transposed into GGUF's layout")
                }
                shape = [shape[1], shape[0]]
            }
            let tensor = GGUFWriter.Tensor(name: name, type: type, dims: shape.reversed())
            steps[info.name] = (name, transform, tensor)
            list.append(tensor)
        }
        // A GGUF import recorded its tensor order: keep it, so the file comes back the same.
        if case .stringArray(let original)? = metadata["provenance.gguf_tensors"] {
            let rank = Dictionary(original.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            list.sort { (rank[$0.name] ?? Int.max, 0) < (rank[$1.name] ?? Int.max, 0) }
            let canonical = Dictionary(steps.map { ($1.gguf, $0) }, uniquingKeysWith: { a, _ in a })
            tensorOrder = list.map { canonical[$0.name]! }
        } else {
            let canonical = Dictionary(steps.map { ($1.gguf, $0) }, uniquingKeysWith: { a, _ in a })
            tensorOrder = list.map { canonical[$0.name]! }
        }
        self.steps = steps
        writer = try GGUFWriter(target: target, inputs: inputs, metadata: GGUFExportWriter.keys(config, tokenizer, metadata, tensors), tensors: list)
    }

    func append(_ view: TensorView) throws {
        let step = steps[view.name]!
        let dims = step.info.dims
        switch step.transform {
        case .view:
            try view.withUnsafeBytes { try writer.append(name: step.gguf, bytes: $0) }
        case .transpose:
            // canonical [H, d, D] read as [H·d, D] -> GGUF's row-major [D, H·d]
            let (rows, columns) = (dims[0], dims[1])
            let out = OwnedStorage(count: view.bytes.count)
            transposeBlock(view.bytes, rows: rows, columns: columns, firstColumn: 0, columnCount: columns, elementSize: view.dtype.blockBytes, into: out.mutableBytes)
            try writer.append(name: step.gguf, bytes: out.bytes)
        case .unpermuteRope(let heads):
            let rows = dims[1]
            let out = OwnedStorage(count: view.bytes.count)
            permuteRopeRows(view.bytes, rows: rows, heads: heads, rowBytes: view.bytes.count / rows, undo: false, into: out.mutableBytes)
            try writer.append(name: step.gguf, bytes: out.bytes)
        default:
            preconditionFailure("not a GGUF transform")
        }
    }

    func finish() throws { try writer.finish() }
    func abandon() { writer.abandon() }

    // MARK: Keys

    /// llama.cpp's keys for `config` and `tokenizer`; for a model a GGUF import produced, exactly the keys
    /// it kept, in their order and types, with values from the config where it has them.
    static func keys(_ config: ModelConfig, _ tokenizer: TokenizerData?, _ metadata: Metadata, _ tensors: [TensorInfo]) -> [(key: String, value: GGUFValue)] {
        if config.family == .bert { return bertKeys(config, tokenizer, metadata, tensors) }
        var generated: [(String, GGUFValue)] = [
            ("general.architecture", .string("llama")),
            ("llama.context_length", .uint32(UInt32(config.maxPositions))),
            ("llama.embedding_length", .uint32(UInt32(config.modelDim))),
            ("llama.block_count", .uint32(UInt32(config.layerCount))),
            ("llama.feed_forward_length", .uint32(UInt32(config.ffnDim))),
            ("llama.rope.dimension_count", .uint32(UInt32(config.headDim))),
            ("llama.attention.head_count", .uint32(UInt32(config.headCount))),
            ("llama.attention.head_count_kv", .uint32(UInt32(config.keyValueHeadCount))),
            ("llama.attention.layer_norm_rms_epsilon", .float32(Float(config.normEpsilon))),
            ("llama.rope.freq_base", .float32(Float(config.rope?.theta ?? 10000))),
            ("llama.vocab_size", .uint32(UInt32(config.vocabSize))),
        ]
        if config.headDim != config.modelDim / config.headCount {
            generated.append(("llama.attention.key_length", .uint32(UInt32(config.headDim))))
            generated.append(("llama.attention.value_length", .uint32(UInt32(config.headDim))))
        }
        if let tokenizer {
            let model = switch tokenizer.kind { case .sentencepieceBPE: "llama"; case .bpe: "gpt2"; case .wordpiece: "bert" }
            generated.append(("tokenizer.ggml.model", .string(model)))
            generated.append(("tokenizer.ggml.tokens", .array(.string(tokenizer.tokens))))
            if let scores = tokenizer.scores { generated.append(("tokenizer.ggml.scores", .array(.float32(scores)))) }
            if let types = tokenizer.tokenTypes { generated.append(("tokenizer.ggml.token_type", .array(.int32(types)))) }
            if let merges = tokenizer.merges { generated.append(("tokenizer.ggml.merges", .array(.string(merges)))) }
            for (token, key) in GGUFMaps.specialKeys {
                if let id = config.specialTokens[token] { generated.append((key, .uint32(UInt32(id)))) }
            }
            if case .bool(let b)? = tokenizer.options["tokenizer.add_bos"] { generated.append(("tokenizer.ggml.add_bos_token", .bool(b))) }
            if case .bool(let b)? = tokenizer.options["tokenizer.add_eos"] { generated.append(("tokenizer.ggml.add_eos_token", .bool(b))) }
        }
        let values = Dictionary(generated, uniquingKeysWith: { a, _ in a })

        var out: [(key: String, value: GGUFValue)] = []
        var done = Set<String>()
        if case .stringArray(let keys)? = metadata["provenance.gguf_keys"], case .stringArray(let types)? = metadata["provenance.gguf_types"],
           keys.count == types.count {
            for (key, type) in zip(keys, types) {
                let value: GGUFValue?
                if let generatedValue = values[key] {
                    value = generatedValue.converted(to: type) ?? generatedValue
                } else if GGUFMaps.isMapped(key) {
                    value = nil   // a mapped key the model no longer has (e.g. scores of a changed tokenizer)
                } else if let kept = metadata["provenance.gguf.\(key)"] {
                    value = GGUFValue(kept, type: type)
                } else {
                    value = nil
                }
                if let value { out.append((key, value)); done.insert(key) }
            }
        }
        // A file from a GGUF import gets exactly its keys back; any other gets llama.cpp's set.
        guard metadata["provenance.gguf_keys"] == nil else { return out }
        for (key, value) in generated { out.append((key, value)) }
        // llama.cpp's file type: 0 all f32, 1 mostly f16, 7 mostly q8_0, 32 mostly bf16.
        out.append(("general.file_type", .uint32(fileType(tensors))))
        out.append((GGUFMaps.qkvMetadataKey, .string(qkvMetadata(metadata))))
        return out
    }

    /// llama.cpp's file type: 0 all f32, 1 mostly f16, 7 mostly q8_0, 32 mostly bf16.
    static func fileType(_ tensors: [TensorInfo]) -> UInt32 {
        let big = tensors.filter { $0.shape.count >= 2 }.map(\.dtype)
        return big.contains(.q8_0) ? 7 : big.contains(.f16) ? 1 : big.contains(.bf16) ? 32 : 0
    }

    /// The canonical metadata without the tokenizer arrays (GGUF has those under `tokenizer.ggml.*`), so
    /// a GGUF that qkv wrote reads back exactly: the activation, normalisation and tokenizer options GGUF
    /// has no keys for included.
    static func qkvMetadata(_ metadata: Metadata) -> String {
        var kept = Metadata()
        for key in metadata.sortedKeys where !(key.hasPrefix("tokenizer.") && metadata[key]!.isArray) { kept[key] = metadata[key] }
        return HFExportWriter.metadataJSON(kept)
    }

    /// llama.cpp's BERT keys (`convert_hf_to_gguf.py` BertModel), tokens in its "phantom space" spelling.
    static func bertKeys(_ config: ModelConfig, _ tokenizer: TokenizerData?, _ metadata: Metadata, _ tensors: [TensorInfo]) -> [(key: String, value: GGUFValue)] {
        var out: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("bert")),
            ("bert.context_length", .uint32(UInt32(config.maxPositions))),
            ("bert.embedding_length", .uint32(UInt32(config.modelDim))),
            ("bert.feed_forward_length", .uint32(UInt32(config.ffnDim))),
            ("bert.block_count", .uint32(UInt32(config.layerCount))),
            ("bert.attention.head_count", .uint32(UInt32(config.headCount))),
            ("bert.attention.layer_norm_epsilon", .float32(Float(config.normEpsilon))),
            ("bert.attention.causal", .bool(false)),
        ]
        switch config.pooling {
        case .mean?: out.append(("bert.pooling_type", .uint32(1)))
        case .cls?: out.append(("bert.pooling_type", .uint32(2)))
        default: break
        }
        if let tokenizer {
            let special = Set(config.specialTokens.values)
            let types = tokenizer.tokenTypes ?? tokenizer.tokens.indices.map { special.contains($0) ? 3 : 1 }
            let prefix = tokenizer.options["tokenizer.continuing_prefix"].flatMap { if case .string(let p) = $0 { p } else { nil } } ?? "##"
            let tokens = tokenizer.tokens.enumerated().map { i, token -> String in
                if types[i] == 3 { return token }
                return token.hasBytePrefix(prefix) ? token.droppingBytePrefix(prefix) : "\u{2581}" + token
            }
            out.append(("tokenizer.ggml.model", .string("bert")))
            out.append(("tokenizer.ggml.tokens", .array(.string(tokens))))
            out.append(("tokenizer.ggml.token_type", .array(.int32(types))))
            out.append(("tokenizer.ggml.token_type_count", .uint32(UInt32(config.typeVocabSize))))
            for (token, key) in GGUFMaps.specialKeys {
                if let id = config.specialTokens[token] { out.append((key, .uint32(UInt32(id)))) }
            }
        }
        out.append(("general.file_type", .uint32(fileType(tensors))))
        out.append((GGUFMaps.qkvMetadataKey, .string(qkvMetadata(metadata))))
        return out
    }
}

extension GGUFValue {
    /// A kept metadata value in the GGUF type an import recorded (ggml's names: `u32`, `array[f32]`, ...).
    init?(_ value: MetadataValue, type: String) {
        switch value {
        case .bool(let b): self = .bool(b)
        case .string(let s): self = .string(s)
        case .float(let f): self = type == "f32" ? .float32(Float(f)) : .float64(f)
        case .int(let i): guard let v = GGUFValue.integer(i, type: type) else { return nil }; self = v
        case .stringArray(let a): self = .array(.string(a))
        case .float32Array(let a): self = .array(.float32(a))
        case .float64Array(let a): self = .array(.float64(a))
        case .int32Array(let a): self = .array(.int32(a))
        case .int64Array(let a):
            let element = String(type.dropFirst("array[".count).dropLast())
            let items = a.compactMap { GGUFValue.integer($0, type: element) }
            guard items.count == a.count, let array = GGUFArray(items, type: element) else { return nil }
            self = .array(array)
        }
    }

    /// This value in another numeric GGUF type, when it fits; nil otherwise. Non-numbers stay as they are.
    func converted(to type: String) -> GGUFValue? {
        switch self {
        case .float32(let f): return type == "f64" ? .float64(Double(f)) : type == "f32" ? self : nil
        case .float64(let f): return type == "f32" ? .float32(Float(f)) : type == "f64" ? self : nil
        case .string, .bool, .array: return self
        default: return integerValue.flatMap { GGUFValue.integer($0, type: type) }
        }
    }

    static func integer(_ i: Int64, type: String) -> GGUFValue? {
        switch type {
        case "u8": UInt8(exactly: i).map(GGUFValue.uint8)
        case "i8": Int8(exactly: i).map(GGUFValue.int8)
        case "u16": UInt16(exactly: i).map(GGUFValue.uint16)
        case "i16": Int16(exactly: i).map(GGUFValue.int16)
        case "u32": UInt32(exactly: i).map(GGUFValue.uint32)
        case "i32": Int32(exactly: i).map(GGUFValue.int32)
        case "u64": UInt64(exactly: i).map(GGUFValue.uint64)
        case "i64": .int64(i)
        default: nil
        }
    }
}

extension GGUFArray {
    /// An integer array of one element type from scalar values.
    init?(_ items: [GGUFValue], type: String) {
        switch type {
        case "u8": self = .uint8(items.compactMap { if case .uint8(let v) = $0 { v } else { nil } })
        case "i8": self = .int8(items.compactMap { if case .int8(let v) = $0 { v } else { nil } })
        case "u16": self = .uint16(items.compactMap { if case .uint16(let v) = $0 { v } else { nil } })
        case "i16": self = .int16(items.compactMap { if case .int16(let v) = $0 { v } else { nil } })
        case "u32": self = .uint32(items.compactMap { if case .uint32(let v) = $0 { v } else { nil } })
        case "u64": self = .uint64(items.compactMap { if case .uint64(let v) = $0 { v } else { nil } })
        case "i64": self = .int64(items.compactMap { if case .int64(let v) = $0 { v } else { nil } })
        default: return nil
        }
    }
}
