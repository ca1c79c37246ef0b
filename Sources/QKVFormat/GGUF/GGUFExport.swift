import Foundation

/// Writes canonical models as GGUF in llama.cpp's naming and layout (the `GGUFMaps` rows read
/// backwards: LLaMA's Q/K rows permuted for ggml's RoPE, output projections transposed to `[D, H·d]`,
/// GPT-2's Q, K and V fused into `attn_qkv`), with llama.cpp's keys and types. Keys a GGUF import kept
/// (`provenance.gguf_*`) come back in their order and types, so GGUF -> .qkv -> GGUF keeps every key.
final class GGUFExportWriter: ContainerWriter {
    /// One GGUF tensor and the canonical tensors it is made of (three for a fused Q|K|V).
    private struct Output {
        var tensor: GGUFWriter.Tensor
        var sources: [String]
        var transform: TensorTransform
        /// Added to every element of a norm weight, written as f32: the difference between the model's
        /// `norm_weight_offset` and GGUF's 0 (llama.cpp's Gemma norms hold `1 + w`).
        var normShift: Float = 0
        /// A tensor made from the config rather than from canonical tensors (llama.cpp's `rope_freqs`).
        var constant: [Float]? = nil
        /// Leading rows left out: the position table of a model whose positions start at
        /// `position_offset` (XLM-R), which llama.cpp holds from position 0.
        var droppedRows = 0
    }

    /// The file, or gguf-split's shards as they are written (`WriteOptions.split`).
    private let writer: any GGUFTensorSink
    private let outputs: [Output]
    private var next = 0
    private var pending: [String: TensorView] = [:]
    /// For blocks of fused weights: the first row each canonical tensor takes.
    private var rowFirst: [String: Int] = [:]
    /// Canonical tensors grouped by the GGUF tensor they make, in the file's order.
    let tensorOrder: [String]?
    /// Canonical tensors pending as the bytes of their transpose (`appendTransposed`).
    private var alreadyTransposed: Set<String> = []
    /// Where `writeBands` makes each band of a transformed tensor.
    private var bandBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 64)
    /// The size of a band: small enough to stay in the L2 cache between the transform that makes it and
    /// the write that copies it out.
    static let bandBytes = 512 << 10

    /// `config` and `tokenizer` are the model's, as checked when it was read; `metadata` is what the file
    /// embeds (`config` and `tokenizer` as entries, provenance, and the keys a GGUF import kept).
    init(target: String, inputs: [String], config: ModelConfig, tokenizer: TokenizerData?, metadata: Metadata,
         tensors: [TensorInfo], options: WriteOptions) throws {
        if let tokenizer, tokenizer.kind == .bpe, tokenizer.options["tokenizer.pre_split"] != nil, tokenizer.options["tokenizer.pre"] == nil {
            throw ConversionError.unsupportedTarget(output: target, reason: "its pre-tokenizer (tokenizer.pre_split) has no llama.cpp name for tokenizer.ggml.pre")
        }
        guard let arch = Architectures.forExport(config, metadata: metadata) else {
            throw ConversionError.unsupportedTarget(output: target, reason: "no GGUF architecture qkv writes holds this model (Specs/architectures.md)")
        }
        // llama.cpp's BERT graph applies no projection after pooling: a GGUF holding the Dense modules
        // would embed differently there (Specs/schema.md, "Sentence vectors").
        if !config.dense.isEmpty {
            throw ConversionError.unsupportedTarget(output: target, reason: "the model has \(config.dense.count) sentence-transformers Dense module\(config.dense.count == 1 ? "" : "s") after pooling, which GGUF has no place for (llama.cpp's BERT applies no projection after pooling, so its vectors would differ); keep it as .qkv, HDF5 or a Hugging Face folder")
        }
        // BertForSequenceClassification's head reads BERT's pooler, which llama.cpp's converter drops: llama.cpp
        // has no form of that head to match. XLM-R's (its own dense layer) is `cls` + `cls.output`; a head
        // that came from GGUF (llama.cpp's, or XLM-R's read back as BERT) goes back as it came.
        if config.labelCount > 0, arch == Bert.self, metadata["provenance.source_format"] != .string("gguf"),
           metadata[Architectures.provenanceKey] != .string(XLMRoberta.name) {
            throw ConversionError.unsupportedTarget(output: target, reason: "qkv does not write a BERT classification head to GGUF (llama.cpp's converter writes BertForSequenceClassification without the pooler its head reads, so there is no llama.cpp form of it to match); XLM-RoBERTa rerankers go to GGUF")
        }
        // An encoder with byte-level BPE (English RoBERTa): llama.cpp's converter writes it with a `gpt2`
        // vocabulary, which qkv's BERT export does not (it writes WordPiece's or XLM-R's Unigram).
        if config.family == .bert, let tokenizer, tokenizer.kind == .bpe || tokenizer.kind == .sentencepieceBPE {
            throw ConversionError.unsupportedTarget(output: target, reason: "qkv does not write an encoder with a \(tokenizer.kind.rawValue) tokenizer (RoBERTa's) to GGUF; keep it as .qkv, HDF5 or a Hugging Face folder")
        }
        if let problem = arch.ggufProblem(config) {
            throw ConversionError.unsupportedTarget(output: target, reason: problem)
        }
        // llama.cpp's norms hold `offset + w` (offset 0): the embedded config says so too.
        let normShift = Float(config.normWeightOffset)
        var metadata = metadata
        if normShift != 0 { metadata["config.norm_weight_offset"] = nil }
        var outputs: [Output] = []
        var byName: [String: Int] = [:]
        for info in tensors {
            // llama.cpp's BERT has no pooler and refuses tensors it does not expect: left out, and said
            // (a classification head's dense layer is its `cls`).
            if config.family == .bert, config.labelCount == 0, info.role == .pooler { continue }
            guard let (name, transform) = Architectures.ggufSource(arch, for: info.name, config: config), var type = GGMLType(info.dtype) else {
                throw ConversionError.unsupportedTarget(output: target, reason: "tensor '\(info.name)' (\(info.dtype)) has no GGUF form")
            }
            if case .rowRange(let first, _, _) = transform { rowFirst[info.name] = first }
            if let i = byName[name] {
                outputs[i].sources.append(info.name)
                continue
            }
            // The file's shape is Hugging Face's (head dimensions merged, transposed where the row says
            // so), three times as many rows for a fused Q|K|V.
            // A transposed block-quantized weight (the output projection: blocks along D here, along H·d in
            // GGUF) goes as f32, dequantized as ggml does, as the import does the other way: re-quantizing
            // would lose.
            if case .transpose = transform, info.dtype.isBlockQuantized { type = .f32 }
            var shape = HFExportWriter.hfShape(of: info, transform: transform)
            switch transform {
            case .fusedRows, .fusedSlice: shape[0] *= 3
            case .rowRange(_, _, let total): shape[0] = total
            default: break
            }
            let isNormWeight = info.role?.component == .norms && info.name.hasSuffix("/weight")
            if isNormWeight && normShift != 0 { type = .f32 }
            // llama.cpp has no position offset: XLM-R's table starts at its first used row, as its converter cuts it.
            let droppedRows = info.name == "embed/position/weight" ? config.positionOffset : 0
            shape[0] -= droppedRows
            byName[name] = outputs.count
            outputs.append(Output(tensor: GGUFWriter.Tensor(name: name, type: type, dims: shape.reversed()), sources: [info.name], transform: transform,
                                  normShift: isNormWeight ? normShift : 0, droppedRows: droppedRows))
        }
        // Tensors llama.cpp keeps config in (Llama 3's `rope_freqs`) go first, as its converter writes them.
        let constants = arch.ggufConfigTensors(config).map { name, values in
            Output(tensor: GGUFWriter.Tensor(name: name, type: .f32, dims: [values.count]), sources: [], transform: .view, constant: values)
        }
        outputs.insert(contentsOf: constants, at: 0)
        // llama.cpp's GPT-2 converter writes the tied head as a copy of the token embedding, right after it.
        if config.family == .gpt2, config.tiedEmbeddings, let embedding = byName["token_embd.weight"] {
            var copy = outputs[embedding + constants.count]
            copy.tensor.name = "output.weight"
            outputs.insert(copy, at: embedding + constants.count + 1)
        }
        // A GGUF import recorded its tensor order: keep it, so the file comes back the same.
        if case .stringArray(let original)? = metadata["provenance.gguf_tensors"] {
            let rank = Dictionary(original.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a })
            outputs.sort { (rank[$0.tensor.name] ?? Int.max) < (rank[$1.tensor.name] ?? Int.max) }
        }
        self.outputs = outputs
        tensorOrder = outputs.flatMap(\.sources)
        let scalingKeys = try arch.ggufScalingKeys(config, metadata: metadata, target: target)
        let keys = GGUFExportWriter.keys(arch, config, tokenizer, metadata, tensors, scalingKeys: scalingKeys)
        if let limit = options.split {
            writer = try GGUFShardWriter(prefix: GGUFSplit.prefix(of: target), inputs: inputs, metadata: keys, tensors: outputs.map(\.tensor), limit: limit)
        } else {
            writer = try GGUFWriter(target: target, inputs: inputs, metadata: keys, tensors: outputs.map(\.tensor))
        }
        try writeConstants()
    }

    /// Writes the config-made tensors that come next in the file's order.
    private func writeConstants() throws {
        while next < outputs.count, let values = outputs[next].constant {
            try values.withUnsafeBytes { try writer.append(name: outputs[next].tensor.name, bytes: $0) }
            next += 1
        }
    }

    /// Whether the file holds canonical tensor `name` transposed, with the shape and type `stored` has:
    /// then a checkpoint that stores it so (Hugging Face's W_O `[D, H·d]`) can hand its bytes to
    /// `appendTransposed` as they are, and neither side transposes.
    func storesTransposed(_ name: String, as stored: TensorInfo) -> Bool {
        guard let output = outputs.first(where: { $0.sources == [name] }), case .transpose = output.transform else { return false }
        return output.tensor.dims == stored.shape.reversed() && output.tensor.type == GGMLType(stored.dtype) && output.normShift == 0
    }

    /// Appends canonical tensor `name` as `transposed`, the bytes its transpose makes (`storesTransposed`).
    func appendTransposed(_ transposed: TensorView, for name: String) throws {
        alreadyTransposed.insert(name)
        try append(transposed, as: name)
    }

    func append(_ view: TensorView) throws {
        try append(view, as: view.name)
    }

    private func append(_ view: TensorView, as canonicalName: String) throws {
        pending[canonicalName] = view
        let output = outputs[next]
        guard output.sources.allSatisfy({ pending[$0] != nil }) else { return }
        let parts = output.sources.map { pending.removeValue(forKey: $0)! }
        let name = output.tensor.name
        let rows = output.tensor.dims.count == 2 ? output.tensor.dims[1] : 1
        next += 1
        switch output.transform {
        case .view where output.normShift != 0:
            let shifted = parts[0].floats().map { $0 + output.normShift }
            try shifted.withUnsafeBytes { try writer.append(name: name, bytes: $0) }
        case .view where output.droppedRows > 0:
            let rowBytes = parts[0].bytes.count / (rows + output.droppedRows)
            try parts[0].withUnsafeBytes { try writer.append(name: name, bytes: UnsafeRawBufferPointer(rebasing: $0[(output.droppedRows * rowBytes)...])) }
        case .view:
            // In pieces whose mapped pages are dropped once written, as the .qkv writer does: a mapped
            // source's largest tensor is then never resident whole.
            try writer.append(name: name, byteCount: parts[0].bytes.count) { write in try parts[0].forEachChunk(write) }
        case .transpose where alreadyTransposed.remove(output.sources[0]) != nil:
            try parts[0].withUnsafeBytes { try writer.append(name: name, bytes: $0) }
        case .transpose:
            // canonical [H, d, D] read as [H·d, D] -> GGUF's row-major [D, H·d]; blocks dequantized to f32 first
            let source = parts[0].dtype.isBlockQuantized ? DTypeConversion.dequantize(parts[0]) : parts[0]
            let (sourceRows, columns) = (output.tensor.dims[0], output.tensor.dims[1])
            let element = source.dtype.blockBytes
            try writeBands(name: name, rows: columns, rowBytes: sourceRows * element) { first, count, band in
                transposeBlock(source.bytes, rows: sourceRows, columns: columns, firstColumn: first, columnCount: count, elementSize: element, into: band)
            }
        case .unpermuteRope(let heads):
            let rowBytes = parts[0].bytes.count / rows
            try writeBands(name: name, rows: rows, rowBytes: rowBytes) { first, count, band in
                permuteRopeRows(parts[0].bytes, rows: rows, heads: heads, rowBytes: rowBytes, undo: false, firstRow: first, rowCount: count, into: band)
            }
        case .fusedRows, .fusedSlice:
            // Q, K, V one after another: rows of a [3n, D] weight, or elements of a [3n] bias.
            try writer.append(name: name, byteCount: parts.reduce(0) { $0 + $1.bytes.count }) { write in
                for part in parts { try write(part.bytes) }
            }
        case .rowRange:
            // The blocks of a fused weight, each at its own rows (whole rows: any dtype, blocks included),
            // written in row order; rows no block covers stay zero.
            let total = parts.reduce(0) { $0 + $1.bytes.count }
            let rowBytes = total / rows
            let placed = zip(parts, output.sources).map { (at: rowFirst[$1]! * rowBytes, part: $0) }.sorted { $0.at < $1.at }
            try writer.append(name: name, byteCount: total) { write in
                var at = 0
                for (start, part) in placed {
                    precondition(start >= at, "blocks of '\(name)' overlap")
                    if start > at { try [UInt8](repeating: 0, count: start - at).withUnsafeBytes { try write($0) } }
                    try write(part.bytes)
                    at = start + part.bytes.count
                }
                if total > at { try [UInt8](repeating: 0, count: total - at).withUnsafeBytes { try write($0) } }
            }
        case .fusedColumns, .permuteRope:
            preconditionFailure("not a GGUF transform")
        }
        try writeConstants()
    }

    /// Writes the next tensor, `rows` rows of `rowBytes` each, a band of rows at a time: `fill(first,
    /// count, band)` makes rows `first ..< first + count` in `band`. The band buffer is the writer's,
    /// reused for every tensor, so a transformed tensor never exists whole in memory.
    private func writeBands(name: String, rows: Int, rowBytes: Int, fill: (Int, Int, UnsafeMutableRawBufferPointer) -> Void) throws {
        let bandRows = max(1, GGUFExportWriter.bandBytes / max(rowBytes, 1))
        if bandBuffer.count < bandRows * rowBytes {
            bandBuffer.deallocate()
            bandBuffer = .allocate(byteCount: bandRows * rowBytes, alignment: 64)
        }
        try writer.append(name: name, byteCount: rows * rowBytes) { write in
            var first = 0
            while first < rows {
                let count = min(bandRows, rows - first)
                let band = UnsafeMutableRawBufferPointer(rebasing: bandBuffer[0..<count * rowBytes])
                fill(first, count, band)
                try write(UnsafeRawBufferPointer(band))
                first += count
            }
        }
    }

    deinit { bandBuffer.deallocate() }

    func finish() throws {
        try writeConstants()
        try writer.finish()
    }
    func abandon() { writer.abandon() }

    /// The shards written, in order, when the output is split; else empty.
    var shardPaths: [String] { (writer as? GGUFShardWriter)?.paths ?? [] }

    // MARK: Keys

    /// llama.cpp's keys for `config` and `tokenizer`; for a model a GGUF import produced, exactly the keys
    /// it kept, in their order and types, with values from the config where it has them.
    static func keys(_ arch: any Architecture.Type, _ config: ModelConfig, _ tokenizer: TokenizerData?, _ metadata: Metadata,
                     _ tensors: [TensorInfo], scalingKeys: [(String, GGUFValue)] = []) -> [(key: String, value: GGUFValue)] {
        mergedWithKeptKeys(generatedKeys(arch, config, tokenizer, scalingKeys: scalingKeys), storedMetadata(arch, config, metadata), tensors)
    }

    /// The canonical metadata as the file's tensors hold it: a `half` model whose Q and K rows the export
    /// permutes into llama.cpp's order reads back as the `interleaved` model those rows are, mapped
    /// without a copy.
    static func storedMetadata(_ arch: any Architecture.Type, _ config: ModelConfig, _ metadata: Metadata) -> Metadata {
        // XLM-R's position table is cut to start at position 0 (the writer's `droppedRows`): the file holds
        // the BERT those rows make, the same computation.
        if config.positionOffset > 0 {
            var stored = metadata
            stored["config.position_offset"] = nil
            return stored
        }
        guard config.layerCount > 0,
              case .unpermuteRope? = Architectures.ggufSource(arch, for: TensorRole.attentionQuery.tensorName(layer: 0), config: config)?.1
        else { return metadata }
        var stored = metadata
        stored["config.rope_layout"] = .string(ModelConfig.RopeLayout.interleaved.rawValue)
        return stored
    }

    /// The keys the export makes from the config and tokenizer (and `scalingKeys`, the architecture's
    /// `ggufScalingKeys`, made from the kept RoPE scaling): what an import of `config` maps (every other
    /// key of a GGUF is kept as it is, `provenance.gguf.*`; an import, which has no scaling keys to pass,
    /// keeps a YaRN's keys that way).
    static func generatedKeys(_ arch: any Architecture.Type, _ config: ModelConfig, _ tokenizer: TokenizerData?,
                              scalingKeys: [(String, GGUFValue)] = []) -> [(String, GGUFValue)] {
        if arch == Bert.self || arch == XLMRoberta.self { return bertKeys(config, tokenizer) }
        if arch == GPT2.self { return gpt2Keys(config, tokenizer) }
        var generated: [(String, GGUFValue)] = [("general.architecture", .string(arch.ggufArchitectures[0]))] + arch.ggufKeys(config) + scalingKeys
        if let tokenizer {
            let model = switch tokenizer.kind { case .sentencepieceBPE: "llama"; case .bpe: "gpt2"; case .wordpiece: "bert"; case .unigram: "t5" }
            generated.append(("tokenizer.ggml.model", .string(model)))
            if tokenizer.kind == .bpe { generated.append(("tokenizer.ggml.pre", .string(preTokenizerName(tokenizer)))) }
            generated.append(("tokenizer.ggml.tokens", .array(.string(tokenizer.tokens))))
            if let scores = tokenizer.scores { generated.append(("tokenizer.ggml.scores", .array(.float32(scores)))) }
            if let types = tokenizer.tokenTypes { generated.append(("tokenizer.ggml.token_type", .array(.int32(types)))) }
            if let merges = tokenizer.merges { generated.append(("tokenizer.ggml.merges", .array(.string(merges)))) }
            for (token, key) in GGUFMaps.specialKeys {
                if let id = config.specialTokens[token] { generated.append((key, .uint32(UInt32(id)))) }
            }
            if case .bool(let b)? = tokenizer.options["tokenizer.add_bos"] { generated.append(("tokenizer.ggml.add_bos_token", .bool(b))) }
            if case .bool(let b)? = tokenizer.options["tokenizer.add_eos"] { generated.append(("tokenizer.ggml.add_eos_token", .bool(b))) }
            if tokenizer.kind == .sentencepieceBPE, case .bool(let b)? = tokenizer.options["tokenizer.add_prefix_space"] {
                generated.append(("tokenizer.ggml.add_space_prefix", .bool(b)))
            }
            if tokenizer.kind == .unigram { generated += unigramKeys(tokenizer) }
        }
        return generated
    }

    /// `tokenizer.ggml.pre` for a byte-level BPE tokenizer: its llama.cpp name, else GPT-2's.
    static func preTokenizerName(_ tokenizer: TokenizerData) -> String {
        if case .string(let name)? = tokenizer.options["tokenizer.pre"] { name } else { "gpt-2" }
    }

    /// llama.cpp's file type (`llama_ftype`): 0 all f32, 1 mostly f16, 32 mostly bf16, or the block type
    /// holding the most parameters among the matrices (7 q8_0, 2 q4_0, 3 q4_1, 8 q5_0, 9 q5_1, 10 q2_k,
    /// 12 q3_k, 15 q4_k, 17 q5_k, 18 q6_k, ...: the `_M` variants for the k-quants, as llama.cpp's own).
    static func fileType(_ tensors: [TensorInfo]) -> UInt32 {
        let big = tensors.filter { $0.shape.count >= 2 }
        let codes: [DType: UInt32] = [
            .q8_0: 7, .q4_0: 2, .q4_1: 3, .q5_0: 8, .q5_1: 9, .q2_k: 10, .q3_k: 12, .q4_k: 15, .q5_k: 17, .q6_k: 18,
            .iq2_xxs: 19, .iq2_xs: 20, .iq3_xxs: 23, .iq1_s: 24, .iq4_nl: 25, .iq3_s: 26, .iq2_s: 28, .iq4_xs: 30,
            .iq1_m: 31, .tq1_0: 36, .tq2_0: 37, .mxfp4: 38,
        ]
        var parameters: [DType: Int] = [:]
        for t in big where t.dtype.isBlockQuantized { parameters[t.dtype, default: 0] += t.elementCount }
        if let most = parameters.max(by: { ($0.value, $1.key.rawValue) < ($1.value, $0.key.rawValue) }), let code = codes[most.key] {
            return code
        }
        let dtypes = big.map(\.dtype)
        return dtypes.contains(.f16) ? 1 : dtypes.contains(.bf16) ? 32 : 0
    }

    /// The canonical metadata without the tokenizer arrays (GGUF has those under `tokenizer.ggml.*`), so
    /// a GGUF that qkv wrote reads back exactly: the activation, normalisation and tokenizer options GGUF
    /// has no keys for included.
    static func qkvMetadata(_ metadata: Metadata) -> String {
        var kept = Metadata()
        for key in metadata.sortedKeys where !(key.hasPrefix("tokenizer.") && metadata[key]!.isArray) { kept[key] = metadata[key] }
        return HFExportWriter.metadataJSON(kept)
    }

    /// llama.cpp's GPT-2 keys (`convert_hf_to_gguf.py` GPT2Model), or a GGUF import's own.
    static func gpt2Keys(_ config: ModelConfig, _ tokenizer: TokenizerData?) -> [(String, GGUFValue)] {
        var generated: [(String, GGUFValue)] = [("general.architecture", .string("gpt2"))] + GPT2.ggufKeys(config)
        if let tokenizer {
            generated.append(("tokenizer.ggml.model", .string("gpt2")))
            generated.append(("tokenizer.ggml.pre", .string(preTokenizerName(tokenizer))))
            generated.append(("tokenizer.ggml.tokens", .array(.string(tokenizer.tokens))))
            let special = Set(config.specialTokens.values)
            generated.append(("tokenizer.ggml.token_type", .array(.int32(tokenizer.tokenTypes ?? tokenizer.tokens.indices.map { special.contains($0) ? 3 : 1 }))))
            if let merges = tokenizer.merges { generated.append(("tokenizer.ggml.merges", .array(.string(merges)))) }
            for (token, key) in GGUFMaps.specialKeys {
                if let id = config.specialTokens[token] { generated.append((key, .uint32(UInt32(id)))) }
            }
        }
        return generated
    }

    /// `generated` as it is, or for a model a GGUF import produced, exactly the keys it kept (in their
    /// order and types, values from `generated` where it has them).
    static func mergedWithKeptKeys(_ generated: [(String, GGUFValue)], _ metadata: Metadata, _ tensors: [TensorInfo]) -> [(key: String, value: GGUFValue)] {
        guard case .stringArray(let keys)? = metadata["provenance.gguf_keys"], case .stringArray(let types)? = metadata["provenance.gguf_types"],
              keys.count == types.count else {
            return generated.map { (key: $0.0, value: $0.1) } + [("general.file_type", .uint32(fileType(tensors))),
                                                              (GGUFMaps.qkvMetadataKey, .string(qkvMetadata(metadata)))]
        }
        let values = Dictionary(generated, uniquingKeysWith: { a, _ in a })
        var out: [(key: String, value: GGUFValue)] = []
        for (key, typeName) in zip(keys, types) {
            let type = GGUFStoredType(name: typeName)
            if let value = values[key] {
                out.append((key, type.flatMap { value.converted(to: $0) } ?? value))
            } else if let kept = metadata["provenance.gguf.\(key)"], let type, let value = GGUFValue(kept, type: type) {
                out.append((key, value))
            }
        }
        return out
    }

    /// llama.cpp's `t5` tokenizer keys beyond tokens, scores and types: the charsmap as bytes,
    /// `add_space_prefix` and `remove_extra_whitespaces` (SentencePiece's; qkv's strip plus collapse).
    static func unigramKeys(_ tokenizer: TokenizerData) -> [(String, GGUFValue)] {
        var out: [(String, GGUFValue)] = []
        let addPrefix: Bool = if case .bool(let b)? = tokenizer.options["tokenizer.add_prefix_space"] { b } else { true }
        out.append(("tokenizer.ggml.add_space_prefix", .bool(addPrefix)))
        out.append(("tokenizer.ggml.remove_extra_whitespaces", .bool(tokenizer.options["tokenizer.collapse_spaces"] != nil)))
        if case .string(let text)? = tokenizer.options["tokenizer.precompiled_charsmap"], let data = Data(base64Encoded: text) {
            out.append(("tokenizer.ggml.precompiled_charsmap", .array(.uint8([UInt8](data)))))
        }
        return out
    }

    /// llama.cpp's BERT keys (`convert_hf_to_gguf.py` BertModel), tokens in its "phantom space" spelling;
    /// or a GGUF import's own.
    static func bertKeys(_ config: ModelConfig, _ tokenizer: TokenizerData?) -> [(String, GGUFValue)] {
        var out: [(String, GGUFValue)] = [("general.architecture", .string("bert"))] + Bert.ggufKeys(config)
        if let tokenizer, tokenizer.kind == .unigram {
            // XLM-R's SentencePiece vocabulary, as llama.cpp's converter writes it for its `bert` XLM-R.
            out.append(("tokenizer.ggml.model", .string("t5")))
            out.append(("tokenizer.ggml.pre", .string("default")))
            out.append(("tokenizer.ggml.tokens", .array(.string(tokenizer.tokens))))
            if let scores = tokenizer.scores { out.append(("tokenizer.ggml.scores", .array(.float32(scores)))) }
            // llama.cpp's converter types the unknown token UNKNOWN (2), also where tokenizer.json adds it as special.
            if var types = tokenizer.tokenTypes {
                if let unk = config.specialTokens[.unk], types.indices.contains(unk) { types[unk] = 2 }
                out.append(("tokenizer.ggml.token_type", .array(.int32(types))))
            }
            out.append(("tokenizer.ggml.token_type_count", .uint32(UInt32(config.typeVocabSize))))
            for (token, key) in GGUFMaps.specialKeys {
                if let id = config.specialTokens[token] { out.append((key, .uint32(UInt32(id)))) }
            }
            if case .bool(let b)? = tokenizer.options["tokenizer.add_bos"] { out.append(("tokenizer.ggml.add_bos_token", .bool(b))) }
            if case .bool(let b)? = tokenizer.options["tokenizer.add_eos"] { out.append(("tokenizer.ggml.add_eos_token", .bool(b))) }
            // XLM-R's pair template, `<s> A </s> </s> B </s>`: llama.cpp puts the separator between the
            // query's end and the document for a rerank when this is set, as its converter sets it.
            if case .bool(true)? = tokenizer.options["tokenizer.add_eos"], config.specialTokens[.sep] != nil {
                out.append(("tokenizer.ggml.add_sep_token", .bool(true)))
            }
            return out + unigramKeys(tokenizer)
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
        return out
    }
}

extension GGUFValue {
    /// A kept metadata value in the GGUF type an import recorded.
    init?(_ value: MetadataValue, type: GGUFStoredType) {
        switch value {
        case .bool(let b): self = .bool(b)
        case .string(let s): self = .string(s)
        case .float(let f): self = type == .scalar(.float32) ? .float32(Float(f)) : .float64(f)
        case .int(let i):
            guard case .scalar(let scalar) = type, let v = GGUFValue.integer(i, type: scalar) else { return nil }
            self = v
        case .stringArray(let a): self = .array(.string(a))
        case .float32Array(let a): self = .array(.float32(a))
        case .float64Array(let a): self = .array(.float64(a))
        case .int32Array(let a): self = .array(.int32(a))
        case .int64Array(let a):
            guard case .array(let element) = type else { return nil }
            let items = a.compactMap { GGUFValue.integer($0, type: element) }
            guard items.count == a.count, let array = GGUFArray(items, type: element) else { return nil }
            self = .array(array)
        }
    }

    /// This value in another numeric GGUF type, when it fits; nil otherwise. Non-numbers stay as they are.
    func converted(to type: GGUFStoredType) -> GGUFValue? {
        switch (self, type) {
        case (.float32(let f), .scalar(.float64)): return .float64(Double(f))
        case (.float32, .scalar(.float32)), (.float64, .scalar(.float64)): return self
        case (.float64(let f), .scalar(.float32)): return .float32(Float(f))
        case (.float32, _), (.float64, _): return nil
        case (.string, _), (.bool, _), (.array, _): return self
        case (_, .scalar(let scalar)): return integerValue.flatMap { GGUFValue.integer($0, type: scalar) }
        case (_, .array): return nil
        }
    }

    static func integer(_ i: Int64, type: GGUFValueType) -> GGUFValue? {
        switch type {
        case .uint8: UInt8(exactly: i).map(GGUFValue.uint8)
        case .int8: Int8(exactly: i).map(GGUFValue.int8)
        case .uint16: UInt16(exactly: i).map(GGUFValue.uint16)
        case .int16: Int16(exactly: i).map(GGUFValue.int16)
        case .uint32: UInt32(exactly: i).map(GGUFValue.uint32)
        case .int32: Int32(exactly: i).map(GGUFValue.int32)
        case .uint64: UInt64(exactly: i).map(GGUFValue.uint64)
        case .int64: .int64(i)
        case .float32, .bool, .string, .array, .float64: nil
        }
    }
}

extension GGUFArray {
    /// An integer array of one element type from scalar values.
    init?(_ items: [GGUFValue], type: GGUFValueType) {
        switch type {
        case .uint8: self = .uint8(items.compactMap { if case .uint8(let v) = $0 { v } else { nil } })
        case .int8: self = .int8(items.compactMap { if case .int8(let v) = $0 { v } else { nil } })
        case .uint16: self = .uint16(items.compactMap { if case .uint16(let v) = $0 { v } else { nil } })
        case .int16: self = .int16(items.compactMap { if case .int16(let v) = $0 { v } else { nil } })
        case .uint32: self = .uint32(items.compactMap { if case .uint32(let v) = $0 { v } else { nil } })
        case .uint64: self = .uint64(items.compactMap { if case .uint64(let v) = $0 { v } else { nil } })
        case .int64: self = .int64(items.compactMap { if case .int64(let v) = $0 { v } else { nil } })
        case .int32, .float32, .bool, .string, .array, .float64: return nil
        }
    }
}
