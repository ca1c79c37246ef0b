/// A GGUF file seen through its architecture map as a canonical model (Specs/architectures.md, "GGUF"):
/// llama.cpp's names, its RoPE row order for Q/K undone, its `[D, H·d]` output projection transposed,
/// config and tokenizer from the `llama.*` and `tokenizer.ggml.*` keys.
///
/// Every other GGUF key is kept, typed, under `provenance.gguf.*`, and the order and types of all keys
/// under `provenance.gguf_keys` / `provenance.gguf_types`, so a GGUF written back has the same keys.
public final class GGUFModel: WeightFile, @unchecked Sendable {
    public let path: String
    public var format: ContainerFormat { .gguf }
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    public let file: GGUFFile
    private let plan: [String: (source: String, transform: TensorTransform, target: TensorInfo)]

    public init(path: String) throws {
        self.path = path
        file = try GGUFFile(path: path)
        let architecture = file["general.architecture"]?.stringValue ?? "(none)"
        guard ["llama", "bert", "gpt2"].contains(architecture) else {
            throw ImportError.unknownArchitecture(file: path, modelType: architecture, tensors: file.tensorInfos.map(\.name))
        }
        // What qkv wrote itself (`qkv.metadata`): the canonical config and tokenizer options, exactly.
        let canonical: Metadata? = try file[GGUFMaps.qkvMetadataKey]?.stringValue.map { text in
            guard let m = Metadata(qkvJSON: text) else {
                throw ImportError.notACheckpoint(path: path, reason: "'\(GGUFMaps.qkvMetadataKey)' is not the JSON qkv writes")
            }
            return m
        }
        var config = try canonical.map { try ModelConfig(metadata: $0, file: path) }
            ?? (architecture == "llama" ? GGUFMaps.llamaConfig(file) : architecture == "bert" ? GGUFMaps.bertConfig(file) : GGUFMaps.gpt2Config(file))
        var tokenizer = try GGUFMaps.tokenizer(file, config: &config)
        if let canonical, tokenizer != nil {
            for (key, value) in canonical.values where key.hasPrefix("tokenizer.") && !value.isArray && key != "tokenizer.kind" {
                tokenizer!.options[key] = value
            }
        }

        var plan: [String: (source: String, transform: TensorTransform, target: TensorInfo)] = [:]
        var tensors: [TensorInfo] = []
        var claimed = Set<String>()
        for want in ModelSchema.expectedTensors(for: config) {
            guard let (source, transform) = GGUFMaps.source(for: want.name, config: config) else { continue }
            guard let info = file.tensorInfo(source) else { throw ImportError.missingSourceTensor(file: path, tensor: source) }
            guard let dtype = info.type.dtype, dtype.isModelType else {
                throw ImportError.unsupportedGGMLType(file: path, tensor: source, type: info.type.name)
            }
            let sourceInfo = TensorInfo(name: source, role: nil, dtype: dtype, shape: info.shape)
            // Blocks run along the rows of the file's [D, H·d] output projection; transposed they would not
            // be blocks any more, so that one tensor is dequantized to f32 (exactly as ggml does).
            let transposesBlocks: Bool = if case .transpose = transform { dtype.blockSize > 1 } else { false }
            let target = TensorInfo(name: want.name, role: want.role, dtype: transposesBlocks ? .f32 : dtype, shape: want.shape)
            guard transform.fits(source: sourceInfo, target: target) else {
                throw ImportError.sourceShapeMismatch(file: path, tensor: source, canonical: want.name, expected: want.shape, found: info.shape)
            }
            plan[want.name] = (source, transform, target)
            claimed.insert(source)
            tensors.append(target)
        }
        // llama.cpp's GPT-2 converter stores the tied head as a copy of the token embedding.
        if config.family == .gpt2, config.tiedEmbeddings, file.tensorInfo("output.weight") != nil {
            claimed.insert("output.weight")
        }
        let unclaimed = file.tensorInfos.map(\.name).filter { !claimed.contains($0) }
        guard unclaimed.isEmpty else { throw ImportError.unmappedTensors(file: path, tensors: unclaimed) }
        self.plan = plan
        self.tensors = tensors

        var metadata = Metadata()
        for (key, value) in config.metadata { metadata[key] = value }
        for (key, value) in tokenizer?.metadata ?? [:] { metadata[key] = value }
        if let canonical {
            // A file qkv wrote: its provenance and user keys, as they were.
            for key in canonical.sortedKeys where key.hasPrefix("provenance.") || key.hasPrefix("user.") { metadata[key] = canonical[key] }
        } else {
            GGUFMaps.keepKeys(of: file, in: &metadata)
            metadata["provenance.gguf_tensors"] = .stringArray(file.tensorInfos.map(\.name))
            metadata["provenance.source"] = .string(AtomicOutput.split(path).base)
            metadata["provenance.source_format"] = .string("gguf")
        }
        self.metadata = metadata
    }

    public func tensor(_ name: String) throws -> TensorView {
        guard let step = plan[name] else { throw ModelError.missingTensor(file: path, tensor: name, expectedShape: []) }
        var source = try file.tensor(step.source)
        if source.dtype.isBlockQuantized && step.target.dtype == .f32 { source = DTypeConversion.dequantize(source) }
        let result = try step.transform.apply(source, target: step.target, file: path)
        if result.storage !== source.storage { source.storage.doneReading(source.bytes) }
        return result
    }
}

/// llama.cpp's conventions for LLaMA-family GGUF files, in both directions.
enum GGUFMaps {
    /// The key under which qkv stores a model's canonical metadata (tokenizer arrays left out) in GGUF
    /// files it writes for models that did not come from GGUF; llama.cpp ignores keys it does not know.
    static let qkvMetadataKey = "qkv.metadata"

    /// The GGUF tensor and transform for canonical tensor `name` under the config's family.
    static func source(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        switch config.family {
        case .llama: llamaSource(for: name, config: config)
        case .bert: bertSource(for: name)
        case .gpt2: gpt2Source(for: name)
        }
    }

    /// llama.cpp's GPT-2 (`convert_hf_to_gguf.py` GPT2Model): every Conv1D weight transposed to Linear's
    /// `[out, in]`, so Q|K|V are blocks of rows of `attn_qkv` and O is transposed like LLaMA's.
    static func gpt2Source(for name: String) -> (String, TensorTransform)? {
        let top: [String: String] = [
            "embed/token/weight": "token_embd.weight", "embed/position/weight": "position_embd.weight",
            "final_norm/weight": "output_norm.weight", "final_norm/bias": "output_norm.bias", "lm_head/weight": "output.weight",
        ]
        if let found = top[name] { return (found, .view) }
        let parts = name.split(separator: "/")
        guard parts.count >= 3, parts[0] == "layers", let layer = Int(parts[1]) else { return nil }
        let rows: [String: (String, TensorTransform)] = [
            "attn/q/weight": ("attn_qkv.weight", .fusedRows(part: 0)), "attn/q/bias": ("attn_qkv.bias", .fusedSlice(part: 0)),
            "attn/k/weight": ("attn_qkv.weight", .fusedRows(part: 1)), "attn/k/bias": ("attn_qkv.bias", .fusedSlice(part: 1)),
            "attn/v/weight": ("attn_qkv.weight", .fusedRows(part: 2)), "attn/v/bias": ("attn_qkv.bias", .fusedSlice(part: 2)),
            "attn/o/weight": ("attn_output.weight", .transpose), "attn/o/bias": ("attn_output.bias", .view),
            "attn_norm/weight": ("attn_norm.weight", .view), "attn_norm/bias": ("attn_norm.bias", .view),
            "mlp/up/weight": ("ffn_up.weight", .view), "mlp/up/bias": ("ffn_up.bias", .view),
            "mlp/down/weight": ("ffn_down.weight", .view), "mlp/down/bias": ("ffn_down.bias", .view),
            "mlp_norm/weight": ("ffn_norm.weight", .view), "mlp_norm/bias": ("ffn_norm.bias", .view),
        ]
        return rows[parts.dropFirst(2).joined(separator: "/")].map { ("blk.\(layer)." + $0.0, $0.1) }
    }

    /// llama.cpp's GPT-2 keys; tied when `output.weight` is absent or a copy of the token embedding.
    static func gpt2Config(_ file: GGUFFile) throws -> ModelConfig {
        let keys = GGUFKeys(file)
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int { try keys.int(key, fallback, minimum: 1) }
        let D = try int("gpt2.embedding_length"), H = try int("gpt2.attention.head_count")
        guard D % H == 0 else { throw ImportError.configField(file: file.path, field: "gpt2.attention.head_count", reason: "does not divide gpt2.embedding_length") }
        guard let embedding = file.tensorInfo("token_embd.weight"), embedding.dims.count == 2 else {
            throw ImportError.missingSourceTensor(file: file.path, tensor: "token_embd.weight")
        }
        var config = ModelConfig(
            family: .gpt2, vocabSize: embedding.dims[1], modelDim: D, layerCount: try int("gpt2.block_count"), headCount: H,
            keyValueHeadCount: H, headDim: D / H, ffnDim: try int("gpt2.feed_forward_length", 4 * D),
            maxPositions: try int("gpt2.context_length", 1024), norm: .layernorm,
            normEpsilon: file["gpt2.attention.layer_norm_epsilon"]?.floatValue ?? 1e-5, normPlacement: .pre,
            activation: .geluTanh, positionEncoding: .learned)
        config.attentionBias = true
        config.mlpBias = true
        if file.tensorInfo("output.weight") == nil {
            config.tiedEmbeddings = true
        } else {
            config.tiedEmbeddings = try file.tensor("output.weight").hasSameBytes(as: file.tensor("token_embd.weight"))
        }
        return config
    }

    /// llama.cpp's BERT (`convert_hf_to_gguf.py` BertModel): Linear weights as they are, O transposed
    /// like LLaMA's, no pooler (llama.cpp has none and refuses extra tensors).
    static func bertSource(for name: String) -> (String, TensorTransform)? {
        let top: [String: String] = [
            "embed/token/weight": "token_embd.weight", "embed/position/weight": "position_embd.weight",
            "embed/token_type/weight": "token_types.weight", "embed/norm/weight": "token_embd_norm.weight",
            "embed/norm/bias": "token_embd_norm.bias",
        ]
        if let found = top[name] { return (found, .view) }
        let parts = name.split(separator: "/")
        guard parts.count >= 3, parts[0] == "layers", let layer = Int(parts[1]) else { return nil }
        let blk = "blk.\(layer)."
        let rows: [String: (String, TensorTransform)] = [
            "attn/q/weight": ("attn_q.weight", .view), "attn/q/bias": ("attn_q.bias", .view),
            "attn/k/weight": ("attn_k.weight", .view), "attn/k/bias": ("attn_k.bias", .view),
            "attn/v/weight": ("attn_v.weight", .view), "attn/v/bias": ("attn_v.bias", .view),
            "attn/o/weight": ("attn_output.weight", .transpose), "attn/o/bias": ("attn_output.bias", .view),
            "attn_norm/weight": ("attn_output_norm.weight", .view), "attn_norm/bias": ("attn_output_norm.bias", .view),
            "mlp/up/weight": ("ffn_up.weight", .view), "mlp/up/bias": ("ffn_up.bias", .view),
            "mlp/down/weight": ("ffn_down.weight", .view), "mlp/down/bias": ("ffn_down.bias", .view),
            "mlp_norm/weight": ("layer_output_norm.weight", .view), "mlp_norm/bias": ("layer_output_norm.bias", .view),
        ]
        return rows[parts.dropFirst(2).joined(separator: "/")].map { (blk + $0.0, $0.1) }
    }

    /// The GGUF tensor and transform for canonical tensor `name` (nil for tensors GGUF has no row for).
    static func llamaSource(for name: String, config: ModelConfig) -> (String, TensorTransform)? {
        switch name {
        case "embed/token/weight": return ("token_embd.weight", .view)
        case "final_norm/weight": return ("output_norm.weight", .view)
        case "lm_head/weight": return ("output.weight", .view)
        default: break
        }
        let parts = name.split(separator: "/")
        guard parts.count >= 3, parts[0] == "layers", let layer = Int(parts[1]) else { return nil }
        let rest = parts.dropFirst(2).joined(separator: "/")
        let blk = "blk.\(layer)."
        switch rest {
        case "attn/q/weight": return (blk + "attn_q.weight", .unpermuteRope(heads: config.headCount))
        case "attn/k/weight": return (blk + "attn_k.weight", .unpermuteRope(heads: config.keyValueHeadCount))
        case "attn/v/weight": return (blk + "attn_v.weight", .view)
        case "attn/o/weight": return (blk + "attn_output.weight", .transpose)
        case "attn_norm/weight": return (blk + "attn_norm.weight", .view)
        case "mlp/gate/weight": return (blk + "ffn_gate.weight", .view)
        case "mlp/up/weight": return (blk + "ffn_up.weight", .view)
        case "mlp/down/weight": return (blk + "ffn_down.weight", .view)
        case "mlp_norm/weight": return (blk + "ffn_norm.weight", .view)
        default: return nil
        }
    }

    /// Keys the import turns into the canonical config and tokenizer (the export regenerates them).
    static func isMapped(_ key: String) -> Bool {
        key == "general.architecture" || key.hasPrefix("llama.") || key.hasPrefix("bert.") || key.hasPrefix("gpt2.")
            || key.hasPrefix("tokenizer.ggml.") || key == qkvMetadataKey
    }

    /// llama.cpp's BERT keys. GGUF does not record the activation (BERT's is exact GELU) or whether
    /// embeddings are normalised; `bert.pooling_type` 1 is mean, 2 CLS.
    static func bertConfig(_ file: GGUFFile) throws -> ModelConfig {
        let keys = GGUFKeys(file)
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int { try keys.int(key, fallback, minimum: 0) }
        let D = try int("bert.embedding_length"), H = try int("bert.attention.head_count")
        guard H > 0, D % H == 0 else { throw ImportError.configField(file: file.path, field: "bert.attention.head_count", reason: "does not divide bert.embedding_length") }
        guard let embedding = file.tensorInfo("token_embd.weight"), embedding.dims.count == 2 else {
            throw ImportError.missingSourceTensor(file: file.path, tensor: "token_embd.weight")
        }
        let epsilon = file["bert.attention.layer_norm_epsilon"]?.floatValue ?? 1e-12
        var config = ModelConfig(
            family: .bert, vocabSize: embedding.dims[1], modelDim: D, layerCount: try int("bert.block_count"), headCount: H,
            keyValueHeadCount: H, headDim: D / H, ffnDim: try int("bert.feed_forward_length"),
            maxPositions: try int("bert.context_length", 512), norm: .layernorm, normEpsilon: epsilon, normPlacement: .post,
            activation: .geluErf, positionEncoding: .learned)
        config.typeVocabSize = file.tensorInfo("token_types.weight")?.dims.last ?? 0
        config.embeddingNorm = true
        config.attentionBias = true
        config.mlpBias = true
        switch try int("bert.pooling_type", 0) {
        case 1: config.pooling = .mean
        case 2: config.pooling = .cls
        default: break
        }
        return config
    }

    static func llamaConfig(_ file: GGUFFile) throws -> ModelConfig {
        let keys = GGUFKeys(file)
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int { try keys.int(key, fallback, minimum: 1) }
        func float(_ key: String, _ fallback: Double) throws -> Double { try keys.float(key, fallback) }
        let D = try int("llama.embedding_length"), H = try int("llama.attention.head_count")
        let d = try int("llama.attention.key_length", D / H)
        guard let embedding = file.tensorInfo("token_embd.weight"), embedding.dims.count == 2 else {
            throw ImportError.missingSourceTensor(file: file.path, tensor: "token_embd.weight")
        }
        var config = ModelConfig(
            family: .llama, vocabSize: embedding.dims[1], modelDim: D, layerCount: try int("llama.block_count"),
            headCount: H, keyValueHeadCount: try int("llama.attention.head_count_kv", H), headDim: d,
            ffnDim: try int("llama.feed_forward_length"), maxPositions: try int("llama.context_length", 2048),
            norm: .rmsnorm, normEpsilon: try float("llama.attention.layer_norm_rms_epsilon", 1e-5), normPlacement: .pre,
            activation: .silu, positionEncoding: .rope)
        // Keys stored as f32 in GGUF come back as the nearest double of that f32 (1e-6 -> 9.99999997e-07).
        config.rope = .init(theta: try float("llama.rope.freq_base", 10000), layout: .half)
        let ropeDims = try int("llama.rope.dimension_count", d)
        guard ropeDims == d else {
            throw ImportError.configField(file: file.path, field: "llama.rope.dimension_count", reason: "is \(ropeDims) but heads have \(d) dimensions; partial RoPE is not supported")
        }
        config.gatedMLP = true
        config.tiedEmbeddings = file.tensorInfo("output.weight") == nil
        return config
    }

    static func tokenizer(_ file: GGUFFile, config: inout ModelConfig) throws -> TokenizerData? {
        guard let model = file["tokenizer.ggml.model"]?.stringValue else { return nil }
        func strings(_ key: String) -> [String]? { if case .array(.string(let v))? = file[key] { v } else { nil } }
        guard let tokens = strings("tokenizer.ggml.tokens") else {
            throw ImportError.tokenizer(file: file.path, reason: "tokenizer.ggml.tokens is missing or not an array of strings")
        }
        let kind: TokenizerData.Kind
        switch model {
        case "llama": kind = .sentencepieceBPE
        case "gpt2": kind = .bpe
        case "bert": kind = .wordpiece
        default: throw ImportError.tokenizer(file: file.path, reason: "tokenizer.ggml.model '\(model)' is not one of llama, gpt2, bert")
        }
        var data = TokenizerData(kind: kind, tokens: tokens)
        if kind == .wordpiece {
            // llama.cpp's "phantom space" spelling undone: control tokens as they are, a leading U+2581
            // marks a word start, anything else was a `##` continuation.
            let types: [Int32]? = if case .array(.int32(let v))? = file["tokenizer.ggml.token_type"] { v } else { nil }
            data.tokens = tokens.enumerated().map { i, token in
                if types?[i] == 3 { return token }
                if token.hasBytePrefix("\u{2581}") { return token.droppingBytePrefix("\u{2581}") }
                return "##" + token
            }
        }
        if case .array(.float32(let v))? = file["tokenizer.ggml.scores"] { data.scores = v }
        if case .array(.int32(let v))? = file["tokenizer.ggml.token_type"] { data.tokenTypes = v }
        data.merges = strings("tokenizer.ggml.merges")
        if kind == .sentencepieceBPE { data.options["tokenizer.byte_fallback"] = .bool(tokens.contains("<0x00>")) }
        if kind == .wordpiece {
            for (key, value) in [("tokenizer.lowercase", true), ("tokenizer.strip_accents", true), ("tokenizer.clean_text", true), ("tokenizer.chinese_chars", true)] {
                data.options[key] = .bool(value)
            }
            data.options["tokenizer.continuing_prefix"] = .string("##")
            data.options["tokenizer.max_word_chars"] = .int(100)
        }
        if let add = file["tokenizer.ggml.add_bos_token"]?.boolValue { data.options["tokenizer.add_bos"] = .bool(add) }
        if let add = file["tokenizer.ggml.add_eos_token"]?.boolValue { data.options["tokenizer.add_eos"] = .bool(add) }
        // SentencePiece's dummy prefix (`▁` before the text); absent means on, as in llama.cpp.
        if let add = file["tokenizer.ggml.add_space_prefix"]?.boolValue { data.options["tokenizer.add_prefix_space"] = .bool(add) }
        for (token, key) in specialKeys {
            if let id = file[key]?.integerValue { config.specialTokens[token] = Int(id) }
        }
        return data
    }

    static let specialKeys: [(ModelConfig.SpecialToken, String)] = [
        (.bos, "tokenizer.ggml.bos_token_id"), (.eos, "tokenizer.ggml.eos_token_id"), (.unk, "tokenizer.ggml.unknown_token_id"),
        (.pad, "tokenizer.ggml.padding_token_id"), (.sep, "tokenizer.ggml.seperator_token_id"), (.cls, "tokenizer.ggml.cls_token_id"),
        (.mask, "tokenizer.ggml.mask_token_id"),
    ]

    // MARK: Keeping the keys

    /// Records every key's order and GGUF type, and the values of keys the map does not regenerate.
    static func keepKeys(of file: GGUFFile, in metadata: inout Metadata) {
        var keys: [String] = [], types: [String] = []
        for (key, value) in file.metadata {
            guard Metadata.problem(withKey: "provenance.gguf.\(key)") == nil else { continue }
            keys.append(key)
            types.append(typeName(value))
            if !isMapped(key), let kept = metadataValue(value) { metadata["provenance.gguf.\(key)"] = kept }
        }
        metadata["provenance.gguf_keys"] = .stringArray(keys)
        metadata["provenance.gguf_types"] = .stringArray(types)
    }

    static func typeName(_ value: GGUFValue) -> String {
        if case .array(let a) = value { return "array[\(a.elementType.name)]" }
        return value.type.name
    }

    static func metadataValue(_ value: GGUFValue) -> MetadataValue? {
        switch value {
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .float32(let f): return .float(Double(f))
        case .float64(let f): return .float(f)
        case .uint64(let u): return Int64(exactly: u).map { .int($0) }
        case .array(let a):
            switch a {
            case .string(let v): return .stringArray(v)
            case .float32(let v): return .float32Array(v)
            case .float64(let v): return .float64Array(v)
            case .int32(let v): return .int32Array(v)
            default: return (0..<a.count).compactMap { a[$0].integerValue }.count == a.count ? .int64Array((0..<a.count).map { a[$0].integerValue! }) : nil
            }
        default: return value.integerValue.map { .int($0) }
        }
    }
}

/// Typed reads of GGUF keys that name the key in errors.
struct GGUFKeys {
    let file: GGUFFile
    init(_ file: GGUFFile) { self.file = file }

    /// An integer key of at least `minimum`; `fallback` when absent, else an error.
    func int(_ key: String, _ fallback: Int?, minimum: Int) throws -> Int {
        guard let value = file[key] else {
            if let fallback { return fallback }
            throw ImportError.configField(file: file.path, field: key, reason: "is required but missing")
        }
        guard let v = value.integerValue, let i = Int(exactly: v), i >= minimum else {
            throw ImportError.configField(file: file.path, field: key, reason: "is \(value), expected an integer of at least \(minimum)")
        }
        return i
    }

    func float(_ key: String, _ fallback: Double) throws -> Double {
        guard let value = file[key] else { return fallback }
        guard let v = value.floatValue else { throw ImportError.configField(file: file.path, field: key, reason: "is \(value), expected a number") }
        return v
    }
}
