/// The architecture of a model: the `config.*` keys of Specs/schema.md as Swift values.
///
/// It covers BERT-style encoders and GPT-2 / LLaMA-style decoders; which tensors a file must hold follows
/// from it (`ModelSchema`).
public struct ModelConfig: Equatable, Sendable {
    public enum Family: String, CaseIterable, Sendable { case bert, gpt2, llama }
    public enum Norm: String, CaseIterable, Sendable { case layernorm, rmsnorm }
    public enum NormPlacement: String, CaseIterable, Sendable { case pre, post }
    public enum Activation: String, CaseIterable, Sendable { case geluErf = "gelu_erf", geluTanh = "gelu_tanh", silu }
    public enum PositionEncoding: String, CaseIterable, Sendable { case learned, rope }
    /// Which dimensions RoPE rotates together: `half` pairs i with i + d/2 (Hugging Face), `interleaved`
    /// pairs 2i with 2i+1 (Meta's original, GPT-J).
    public enum RopeLayout: String, CaseIterable, Sendable { case half, interleaved }
    /// How W_O is stored: per-head slabs `[H, d, D]`, or PyTorch's and GGUF's rows `[D, H·d]` (block
    /// types, whose blocks run along H·d, can only be stored that way).
    public enum OutputLayout: String, CaseIterable, Sendable { case heads, rows }
    /// Sentence-transformers' pooling modes.
    public enum Pooling: String, CaseIterable, Sendable { case mean, cls, max, meanSqrtLen = "mean_sqrt_len" }

    /// A sentence-transformers `Dense` module after pooling: `y = activation(W x + b)`, W `dense/{j}/weight`
    /// [outputs, inputs], b `dense/{j}/bias` [outputs] when `bias`.
    public struct Dense: Equatable, Sendable {
        /// The activation after the affine map (PyTorch's `torch.nn` modules of the same names).
        public enum Activation: String, CaseIterable, Sendable { case identity, tanh, relu, geluErf = "gelu_erf", sigmoid, silu }
        /// `out_features`; the inputs are the width before the module.
        public var outputs: Int
        public var activation: Activation
        public var bias: Bool
        public init(outputs: Int, activation: Activation, bias: Bool) {
            self.outputs = outputs
            self.activation = activation
            self.bias = bias
        }
    }

    /// RoPE parameters, present exactly when the position encoding is `rope`.
    public struct Rope: Equatable, Sendable {
        public var theta: Double
        public var layout: RopeLayout
        /// The base on sliding-window layers (Gemma 3's local layers); nil: `theta` everywhere.
        public var slidingTheta: Double?
        /// Dimensions of each head that rotate (partial rotary); nil: all of them.
        public var dimensions: Int?
        /// Divisors of the inverse frequencies, one per rotated pair, on the layers that rotate with `theta`
        /// (linear, Llama 3's and YaRN's scalings; LongRoPE's short factors).
        public var frequencyFactors: [Float]?
        /// LongRoPE's long factors: the divisors a session longer than `originalContext` uses instead of
        /// `frequencyFactors`.
        public var longFrequencyFactors: [Float]?
        /// The longest session that rotates with `frequencyFactors` when there are long factors.
        public var originalContext: Int?
        /// Multiplies cos and sin of the rotation on the layers that rotate with `theta` (YaRN's and
        /// LongRoPE's attention factor); 1: none.
        public var attentionFactor: Double
        public init(theta: Double, layout: RopeLayout, slidingTheta: Double? = nil, dimensions: Int? = nil, frequencyFactors: [Float]? = nil,
                    longFrequencyFactors: [Float]? = nil, originalContext: Int? = nil, attentionFactor: Double = 1) {
            self.theta = theta
            self.layout = layout
            self.slidingTheta = slidingTheta
            self.dimensions = dimensions
            self.frequencyFactors = frequencyFactors
            self.longFrequencyFactors = longFrequencyFactors
            self.originalContext = originalContext
            self.attentionFactor = attentionFactor
        }

        /// The divisors a session of `capacity` tokens rotates with: the long factors when there are and
        /// the session is longer than `originalContext` (llama.cpp's choice by context size), else
        /// `frequencyFactors`.
        public func frequencyFactors(forCapacity capacity: Int) -> [Float]? {
            if let long = longFrequencyFactors, let original = originalContext, capacity > original { return long }
            return frequencyFactors
        }
    }

    public var family: Family
    public var vocabSize: Int
    public var modelDim: Int
    public var layerCount: Int
    public var headCount: Int
    public var keyValueHeadCount: Int
    public var headDim: Int
    public var ffnDim: Int
    public var maxPositions: Int
    /// BERT token types; 0 means no token-type embedding.
    public var typeVocabSize: Int = 0
    public var norm: Norm
    public var normEpsilon: Double
    public var normPlacement: NormPlacement
    public var embeddingNorm: Bool = false
    public var activation: Activation
    public var gatedMLP: Bool = false
    public var positionEncoding: PositionEncoding
    public var rope: Rope?
    public var tiedEmbeddings: Bool = false
    public var attentionBias: Bool = false
    public var mlpBias: Bool = false
    /// Encoders: how token vectors become one sentence vector (nil: not stated).
    public var pooling: Pooling?
    /// Encoders: L2-normalise the sentence vector (after `dense`).
    public var normalize: Bool = false
    /// Encoders: the `Dense` modules applied to the pooled vector, in order.
    public var dense: [Dense] = []
    /// Learned positions: position p reads row p + `positionOffset` of the position table (RoBERTa's
    /// `padding_idx + 1`); 0 for BERT.
    public var positionOffset: Int = 0
    /// Encoders: outputs of a sequence classification head on the pooled `[CLS]` vector (cross-encoder
    /// rerankers); 0: no head.
    public var labelCount: Int = 0
    /// The function applied to the head's outputs to give scores (sentence-transformers CrossEncoder's
    /// `activation_fn`); set exactly when `labelCount > 0`.
    public var labelActivation: Dense.Activation?
    /// Special token ids by the name of their key without `config.` and `_token_id` (`bos`, `eos`, ...).
    public var specialTokens: [SpecialToken: Int] = [:]

    // The steps of today's decoders (Specs/schema.md, the second config table); each default means the
    // step is absent.

    /// Q, K and V have biases, O none (Qwen2).
    public var qkvBias: Bool = false
    /// Per-head RMSNorm of q and k before RoPE (Qwen3, Gemma 3).
    public var qkNorm: Bool = false
    /// Norms multiply by `offset + weight` (Gemma's `1 + w`).
    public var normWeightOffset: Double = 0
    /// Norms on the attention and MLP outputs before the residual add (Gemma 2/3).
    public var postNorms: Bool = false
    /// Factor on the token embedding (Gemma: √D).
    public var embeddingScale: Double = 1
    /// Factor on QKᵀ; nil: 1/√head_dim.
    public var attentionScale: Double?
    /// `c · tanh(s / c)` on attention scores and on logits; 0: none (Gemma 2).
    public var attentionSoftcap: Double = 0
    public var finalSoftcap: Double = 0
    /// Keys a query sees on sliding layers (itself included); 0: no window.
    public var slidingWindow: Int = 0
    /// Which layers use the window; nil: all of them (when there is a window).
    public var slidingLayers: [Bool]?
    /// W_O as per-head slabs (the default) or as rows.
    public var attentionOutputLayout: OutputLayout = .heads

    /// The special tokens the schema names.
    public enum SpecialToken: String, CaseIterable, Sendable, Comparable {
        case bos, eos, pad, unk, cls, sep, mask
        public var key: String { "config.\(rawValue)_token_id" }
        public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    }

    public init(
        family: Family, vocabSize: Int, modelDim: Int, layerCount: Int, headCount: Int,
        keyValueHeadCount: Int, headDim: Int, ffnDim: Int, maxPositions: Int, norm: Norm,
        normEpsilon: Double, normPlacement: NormPlacement, activation: Activation,
        positionEncoding: PositionEncoding
    ) {
        self.family = family
        self.vocabSize = vocabSize
        self.modelDim = modelDim
        self.layerCount = layerCount
        self.headCount = headCount
        self.keyValueHeadCount = keyValueHeadCount
        self.headDim = headDim
        self.ffnDim = ffnDim
        self.maxPositions = maxPositions
        self.norm = norm
        self.normEpsilon = normEpsilon
        self.normPlacement = normPlacement
        self.activation = activation
        self.positionEncoding = positionEncoding
    }

    /// Decoders predict the next token and have an LM head (stored, or tied to the token embedding).
    public var isDecoder: Bool { family != .bert }

    /// Query heads that share one key/value head.
    public var queriesPerKeyValueHead: Int { headCount / keyValueHeadCount }

    /// The key/value head that query head `head` reads (GQA, as Hugging Face groups them).
    public func keyValueHead(forQueryHead head: Int) -> Int { head / queriesPerKeyValueHead }

    /// The width of an encoder's sentence vector: the last `Dense` module's outputs, else D.
    public var sentenceDimension: Int { dense.last?.outputs ?? modelDim }

    /// Q, K and V have biases (with or without O's).
    public var hasQKVBias: Bool { attentionBias || qkvBias }

    /// The factor on QKᵀ.
    public var effectiveAttentionScale: Double { attentionScale ?? 1 / Double(headDim).squareRoot() }

    /// Whether layer `layer` attends through the sliding window.
    public func isSliding(layer: Int) -> Bool {
        guard slidingWindow > 0 else { return false }
        return slidingLayers?[layer] ?? true
    }

    // MARK: Metadata

    /// The integer keys and how to read them, in one place for reading and writing.
    package static let dimensionKeys: [(key: String, path: WritableKeyPath<ModelConfig, Int> & Sendable)] = [
        ("config.vocab_size", \.vocabSize), ("config.model_dim", \.modelDim),
        ("config.layer_count", \.layerCount), ("config.head_count", \.headCount),
        ("config.kv_head_count", \.keyValueHeadCount), ("config.head_dim", \.headDim),
        ("config.ffn_dim", \.ffnDim), ("config.max_positions", \.maxPositions),
    ]

    package static let flagKeys: [(key: String, path: WritableKeyPath<ModelConfig, Bool> & Sendable)] = [
        ("config.embedding_norm", \.embeddingNorm), ("config.gated_mlp", \.gatedMLP),
        ("config.tied_embeddings", \.tiedEmbeddings), ("config.attention_bias", \.attentionBias),
        ("config.mlp_bias", \.mlpBias), ("config.normalize", \.normalize),
    ]

    /// Every key the schema defines in the `config` section.
    public static let knownKeys: Set<String> = {
        var keys = Set(dimensionKeys.map(\.key) + flagKeys.map(\.key) + SpecialToken.allCases.map(\.key))
        keys.formUnion([
            "config.family", "config.type_vocab_size", "config.norm", "config.norm_epsilon",
            "config.norm_placement", "config.activation", "config.position_encoding", "config.rope_theta",
            "config.rope_layout", "config.pooling", "config.dense_dims", "config.dense_activations", "config.dense_bias",
        ])
        keys.formUnion(stepKeys)
        return keys
    }()

    /// The keys of the second config table: written only when they differ from their defaults.
    package static let stepKeys: Set<String> = [
        "config.qkv_bias", "config.qk_norm", "config.norm_weight_offset", "config.post_norms", "config.embedding_scale",
        "config.attention_scale", "config.attention_softcap", "config.final_softcap", "config.sliding_window",
        "config.sliding_layers", "config.rope_theta_sliding", "config.rope_dims", "config.rope_freq_factors",
        "config.rope_freq_factors_long", "config.rope_original_context", "config.rope_attention_factor", "config.attn_output_layout",
        "config.position_offset", "config.label_count", "config.label_activation",
    ]

    /// Reads and checks the config from a file's metadata; `file` names the file in errors.
    public init(metadata: Metadata, file: String) throws(ModelError) {
        let reader = MetadataReader(metadata: metadata, file: file)
        for name in metadata.names(in: .config) where !ModelConfig.knownKeys.contains("config." + name) {
            throw .unknownKey(file: file, key: "config." + name)
        }
        self.init(
            family: try reader.choice("config.family"),
            vocabSize: 0, modelDim: 0, layerCount: 0, headCount: 0, keyValueHeadCount: 0, headDim: 0,
            ffnDim: 0, maxPositions: 0,
            norm: try reader.choice("config.norm"),
            normEpsilon: try reader.float("config.norm_epsilon"),
            normPlacement: try reader.choice("config.norm_placement"),
            activation: try reader.choice("config.activation"),
            positionEncoding: try reader.choice("config.position_encoding")
        )
        for (key, path) in ModelConfig.dimensionKeys {
            self[keyPath: path] = try reader.dimension(key)
        }
        typeVocabSize = try reader.dimension("config.type_vocab_size", allowZero: true, default: 0)
        for (key, path) in ModelConfig.flagKeys {
            self[keyPath: path] = try reader.bool(key, default: false)
        }
        if metadata["config.attn_output_layout"] != nil { attentionOutputLayout = try reader.choice("config.attn_output_layout") }
        qkvBias = try reader.bool("config.qkv_bias", default: false)
        qkNorm = try reader.bool("config.qk_norm", default: false)
        postNorms = try reader.bool("config.post_norms", default: false)
        normWeightOffset = try reader.optionalFloat("config.norm_weight_offset") ?? 0
        embeddingScale = try reader.optionalFloat("config.embedding_scale") ?? 1
        attentionScale = try reader.optionalFloat("config.attention_scale")
        attentionSoftcap = try reader.optionalFloat("config.attention_softcap") ?? 0
        finalSoftcap = try reader.optionalFloat("config.final_softcap") ?? 0
        slidingWindow = try reader.dimension("config.sliding_window", allowZero: true, default: 0)
        if metadata["config.sliding_layers"] != nil {
            let flags = try reader.int32Array("config.sliding_layers")
            if let bad = flags.first(where: { $0 != 0 && $0 != 1 }) {
                throw .invalidValue(file: file, key: "config.sliding_layers", value: "\(bad)", reason: "entries must be 0 or 1")
            }
            slidingLayers = flags.map { $0 == 1 }
        }
        switch positionEncoding {
        case .rope:
            rope = Rope(theta: try reader.float("config.rope_theta"), layout: try reader.choice("config.rope_layout"),
                        slidingTheta: try reader.optionalFloat("config.rope_theta_sliding"),
                        dimensions: metadata["config.rope_dims"] == nil ? nil : try reader.dimension("config.rope_dims"),
                        frequencyFactors: metadata["config.rope_freq_factors"] == nil ? nil : try reader.float32Array("config.rope_freq_factors"),
                        longFrequencyFactors: metadata["config.rope_freq_factors_long"] == nil ? nil : try reader.float32Array("config.rope_freq_factors_long"),
                        originalContext: metadata["config.rope_original_context"] == nil ? nil : try reader.dimension("config.rope_original_context"),
                        attentionFactor: try reader.optionalFloat("config.rope_attention_factor") ?? 1)
        case .learned:
            for key in ["config.rope_theta", "config.rope_layout", "config.rope_theta_sliding", "config.rope_dims", "config.rope_freq_factors",
                        "config.rope_freq_factors_long", "config.rope_original_context", "config.rope_attention_factor"] where metadata[key] != nil {
                throw .invalidValue(file: file, key: key, value: "\(metadata[key]!)",
                                    reason: "RoPE keys are not allowed with learned positions")
            }
        }
        for token in SpecialToken.allCases {
            if let id = try reader.optionalInt(token.key) { specialTokens[token] = Int(clamping: id) }
        }
        if metadata["config.pooling"] != nil { pooling = try reader.choice("config.pooling") }
        dense = try ModelConfig.readDense(reader)
        positionOffset = try reader.dimension("config.position_offset", allowZero: true, default: 0)
        labelCount = try reader.dimension("config.label_count", allowZero: true, default: 0)
        if let name = try reader.optionalString("config.label_activation") {
            guard let activation = Dense.Activation(rawValue: name) else {
                throw .invalidValue(file: file, key: "config.label_activation", value: name,
                                    reason: "expected one of \(Dense.Activation.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            labelActivation = activation
        }
        try check(file: file)
    }

    /// `config.dense_dims`, `dense_activations` and `dense_bias`: all three or none, one entry per module.
    static func readDense(_ reader: MetadataReader) throws(ModelError) -> [Dense] {
        let keys = ["config.dense_dims", "config.dense_activations", "config.dense_bias"]
        let present = keys.filter { reader.metadata[$0] != nil }
        if present.isEmpty { return [] }
        guard present.count == keys.count else {
            throw .missingKey(file: reader.file, key: keys.first { reader.metadata[$0] == nil }!)
        }
        let dims = try reader.int32Array("config.dense_dims"), activations = try reader.stringArray("config.dense_activations"),
            bias = try reader.int32Array("config.dense_bias")
        func invalid(_ key: String, _ value: String, _ reason: String) -> ModelError {
            .invalidValue(file: reader.file, key: key, value: value, reason: reason)
        }
        if dims.isEmpty { throw invalid("config.dense_dims", "[]", "must have one entry per Dense module (at least one)") }
        for (key, count) in [("config.dense_activations", activations.count), ("config.dense_bias", bias.count)] where count != dims.count {
            throw invalid(key, "\(count) entries", "must have as many entries as config.dense_dims (\(dims.count))")
        }
        var out: [Dense] = []
        for j in dims.indices {
            guard dims[j] >= 1 else { throw invalid("config.dense_dims", "\(dims[j]) at index \(j)", "must be in 1..<2^31") }
            guard bias[j] == 0 || bias[j] == 1 else { throw invalid("config.dense_bias", "\(bias[j]) at index \(j)", "entries must be 0 or 1") }
            guard let activation = Dense.Activation(rawValue: activations[j]) else {
                throw invalid("config.dense_activations", "\"\(activations[j])\" at index \(j)",
                              "expected one of \(Dense.Activation.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            out.append(Dense(outputs: Int(dims[j]), activation: activation, bias: bias[j] == 1))
        }
        return out
    }

    /// The rules of Specs/schema.md that tie config values together.
    func check(file: String) throws(ModelError) {
        func invalid(_ key: String, _ value: Any, _ reason: String) -> ModelError {
            .invalidValue(file: file, key: key, value: "\(value)", reason: reason)
        }
        if headCount % keyValueHeadCount != 0 {
            throw invalid("config.kv_head_count", keyValueHeadCount, "must divide config.head_count (\(headCount))")
        }
        if family != .llama && keyValueHeadCount != headCount {
            throw invalid("config.kv_head_count", keyValueHeadCount, "\(family.rawValue) models have one key/value head per query head (\(headCount))")
        }
        if !normEpsilon.isFinite || normEpsilon < 0 {
            throw invalid("config.norm_epsilon", normEpsilon, "must be finite and not negative")
        }
        switch family {
        case .bert where normPlacement != .post:
            throw invalid("config.norm_placement", normPlacement.rawValue, "bert models are post-norm")
        case .gpt2 where normPlacement != .pre, .llama where normPlacement != .pre:
            throw invalid("config.norm_placement", normPlacement.rawValue, "\(family.rawValue) models are pre-norm")
        case .bert where tiedEmbeddings:
            throw invalid("config.tied_embeddings", true, "bert models have no LM head to tie")
        default: break
        }
        if family != .bert && (pooling != nil || normalize) {
            throw invalid(pooling != nil ? "config.pooling" : "config.normalize", pooling?.rawValue ?? "true", "pooling is for encoders (bert) only")
        }
        if family != .bert && !dense.isEmpty {
            throw invalid("config.dense_dims", dense.map(\.outputs), "Dense modules are for encoders (bert) only")
        }
        if positionOffset > 0 && positionEncoding != .learned {
            throw invalid("config.position_offset", positionOffset, "is for learned positions only")
        }
        if labelCount > 0 && family != .bert { throw invalid("config.label_count", labelCount, "a classification head is for encoders (bert) only") }
        if (labelCount > 0) != (labelActivation != nil) {
            throw labelCount > 0 ? .missingKey(file: file, key: "config.label_activation")
                : invalid("config.label_activation", labelActivation!.rawValue, "needs config.label_count > 0")
        }
        if let rope {
            if !(rope.theta.isFinite && rope.theta > 0) { throw invalid("config.rope_theta", rope.theta, "must be finite and positive") }
            if headDim % 2 != 0 { throw invalid("config.head_dim", headDim, "RoPE needs an even head dimension") }
            if let sliding = rope.slidingTheta {
                if !(sliding.isFinite && sliding > 0) { throw invalid("config.rope_theta_sliding", sliding, "must be finite and positive") }
                if slidingWindow == 0 { throw invalid("config.rope_theta_sliding", sliding, "needs config.sliding_window") }
            }
            if let dims = rope.dimensions, dims % 2 != 0 || dims > headDim {
                throw invalid("config.rope_dims", dims, "must be even and at most config.head_dim (\(headDim))")
            }
            for (key, list) in [("config.rope_freq_factors", rope.frequencyFactors), ("config.rope_freq_factors_long", rope.longFrequencyFactors)] {
                guard let factors = list else { continue }
                let pairs = (rope.dimensions ?? headDim) / 2
                if factors.count != pairs { throw invalid(key, "\(factors.count) entries", "must have rope_dims / 2 = \(pairs) entries") }
                if let bad = factors.first(where: { !($0.isFinite && $0 > 0) }) { throw invalid(key, bad, "entries must be finite and positive") }
            }
            if let long = rope.longFrequencyFactors {
                if rope.frequencyFactors == nil { throw invalid("config.rope_freq_factors_long", "\(long.count) entries", "needs config.rope_freq_factors (the divisors of shorter sessions)") }
                if rope.originalContext == nil { throw invalid("config.rope_freq_factors_long", "\(long.count) entries", "needs config.rope_original_context") }
            } else if let original = rope.originalContext {
                throw invalid("config.rope_original_context", original, "needs config.rope_freq_factors_long")
            }
            if !(rope.attentionFactor.isFinite && rope.attentionFactor > 0) {
                throw invalid("config.rope_attention_factor", rope.attentionFactor, "must be finite and positive")
            }
        }
        if !normWeightOffset.isFinite { throw invalid("config.norm_weight_offset", normWeightOffset, "must be finite") }
        for (key, value) in [("config.embedding_scale", embeddingScale), ("config.attention_scale", attentionScale ?? 1)] where !(value.isFinite && value > 0) {
            throw invalid(key, value, "must be finite and positive")
        }
        for (key, value) in [("config.attention_softcap", attentionSoftcap), ("config.final_softcap", finalSoftcap)] where !(value.isFinite && value >= 0) {
            throw invalid(key, value, "must be finite and not negative (0: no soft cap)")
        }
        if let layers = slidingLayers {
            if layers.count != layerCount { throw invalid("config.sliding_layers", "\(layers.count) entries", "must have one entry per layer (\(layerCount))") }
            if slidingWindow == 0 { throw invalid("config.sliding_layers", "\(layers.count) entries", "needs config.sliding_window") }
        }
        if !isDecoder {
            for (key, used) in [("config.qk_norm", qkNorm), ("config.post_norms", postNorms), ("config.norm_weight_offset", normWeightOffset != 0),
                                ("config.sliding_window", slidingWindow != 0), ("config.final_softcap", finalSoftcap != 0)] where used {
                throw invalid(key, "set", "is for decoders (gpt2, llama) only")
            }
        }
        for (token, id) in specialTokens.sorted(by: { $0.key < $1.key }) where id < 0 || id >= vocabSize {
            throw invalid(token.key, id, "must be in 0..<\(vocabSize) (config.vocab_size)")
        }
        // Every expected tensor's element count must fit in 63 bits.
        for tensor in ModelSchema.expectedTensors(for: self) where DType.elementCount(tensor.shape) == nil {
            throw invalid("config.model_dim", modelDim, "tensor '\(tensor.name)' \(tensor.shape) would have more elements than fit in 63 bits")
        }
    }

    /// The config as metadata entries, ready for a writer.
    public var metadata: [String: MetadataValue] {
        var out: [String: MetadataValue] = [
            "config.family": .string(family.rawValue),
            "config.norm": .string(norm.rawValue),
            "config.norm_epsilon": .float(normEpsilon),
            "config.norm_placement": .string(normPlacement.rawValue),
            "config.activation": .string(activation.rawValue),
            "config.position_encoding": .string(positionEncoding.rawValue),
            "config.type_vocab_size": .int(Int64(typeVocabSize)),
        ]
        for (key, path) in ModelConfig.dimensionKeys { out[key] = .int(Int64(self[keyPath: path])) }
        for (key, path) in ModelConfig.flagKeys { out[key] = .bool(self[keyPath: path]) }
        if let rope {
            out["config.rope_theta"] = .float(rope.theta)
            out["config.rope_layout"] = .string(rope.layout.rawValue)
            if let sliding = rope.slidingTheta { out["config.rope_theta_sliding"] = .float(sliding) }
            if let dims = rope.dimensions { out["config.rope_dims"] = .int(Int64(dims)) }
            if let factors = rope.frequencyFactors { out["config.rope_freq_factors"] = .float32Array(factors) }
            if let factors = rope.longFrequencyFactors { out["config.rope_freq_factors_long"] = .float32Array(factors) }
            if let original = rope.originalContext { out["config.rope_original_context"] = .int(Int64(original)) }
            if rope.attentionFactor != 1 { out["config.rope_attention_factor"] = .float(rope.attentionFactor) }
        }
        if attentionOutputLayout != .heads { out["config.attn_output_layout"] = .string(attentionOutputLayout.rawValue) }
        if qkvBias { out["config.qkv_bias"] = .bool(true) }
        if qkNorm { out["config.qk_norm"] = .bool(true) }
        if postNorms { out["config.post_norms"] = .bool(true) }
        if normWeightOffset != 0 { out["config.norm_weight_offset"] = .float(normWeightOffset) }
        if embeddingScale != 1 { out["config.embedding_scale"] = .float(embeddingScale) }
        if let attentionScale { out["config.attention_scale"] = .float(attentionScale) }
        if attentionSoftcap != 0 { out["config.attention_softcap"] = .float(attentionSoftcap) }
        if finalSoftcap != 0 { out["config.final_softcap"] = .float(finalSoftcap) }
        if slidingWindow != 0 { out["config.sliding_window"] = .int(Int64(slidingWindow)) }
        if let layers = slidingLayers { out["config.sliding_layers"] = .int32Array(layers.map { $0 ? 1 : 0 }) }
        for (token, id) in specialTokens { out[token.key] = .int(Int64(id)) }
        if let pooling { out["config.pooling"] = .string(pooling.rawValue) }
        if !dense.isEmpty {
            out["config.dense_dims"] = .int32Array(dense.map { Int32($0.outputs) })
            out["config.dense_activations"] = .stringArray(dense.map(\.activation.rawValue))
            out["config.dense_bias"] = .int32Array(dense.map { $0.bias ? 1 : 0 })
        }
        if family != .bert { out["config.normalize"] = nil }
        if positionOffset != 0 { out["config.position_offset"] = .int(Int64(positionOffset)) }
        if labelCount > 0, let labelActivation {
            out["config.label_count"] = .int(Int64(labelCount))
            out["config.label_activation"] = .string(labelActivation.rawValue)
        }
        return out
    }
}

/// Typed reads of metadata keys that turn absence and wrong types into `ModelError`s naming the key.
struct MetadataReader {
    let metadata: Metadata
    let file: String

    func value(_ key: String) throws(ModelError) -> MetadataValue {
        guard let value = metadata[key] else { throw .missingKey(file: file, key: key) }
        return value
    }

    func int(_ key: String) throws(ModelError) -> Int64 {
        guard case .int(let v) = try value(key) else { throw wrongType(key, "int") }
        return v
    }

    func optionalInt(_ key: String) throws(ModelError) -> Int64? {
        metadata[key] == nil ? nil : try int(key)
    }

    /// A dimension: an int in [1, 2^31), or [0, 2^31) with `allowZero`.
    func dimension(_ key: String, allowZero: Bool = false, default fallback: Int? = nil) throws(ModelError) -> Int {
        if metadata[key] == nil, let fallback { return fallback }
        let v = try int(key)
        let low: Int64 = allowZero ? 0 : 1
        guard v >= low && v < (1 << 31) else {
            throw .invalidValue(file: file, key: key, value: "\(v)", reason: "must be in \(low)..<2^31")
        }
        return Int(v)
    }

    func float(_ key: String) throws(ModelError) -> Double {
        switch try value(key) {
        case .float(let v): return v
        case .int(let v): return Double(v)
        default: throw wrongType(key, "float")
        }
    }

    func bool(_ key: String, default fallback: Bool) throws(ModelError) -> Bool {
        guard let value = metadata[key] else { return fallback }
        guard case .bool(let v) = value else { throw wrongType(key, "bool") }
        return v
    }

    func string(_ key: String) throws(ModelError) -> String {
        guard case .string(let v) = try value(key) else { throw wrongType(key, "string") }
        return v
    }

    func optionalString(_ key: String) throws(ModelError) -> String? {
        metadata[key] == nil ? nil : try string(key)
    }

    func optionalFloat(_ key: String) throws(ModelError) -> Double? {
        metadata[key] == nil ? nil : try float(key)
    }

    func int32Array(_ key: String) throws(ModelError) -> [Int32] {
        switch try value(key) {
        case .int32Array(let v): return v
        case .int64Array(let v) where v.allSatisfy({ Int32(exactly: $0) != nil }): return v.map { Int32($0) }
        default: throw wrongType(key, "int32[]")
        }
    }

    func stringArray(_ key: String) throws(ModelError) -> [String] {
        guard case .stringArray(let v) = try value(key) else { throw wrongType(key, "string[]") }
        return v
    }

    func float32Array(_ key: String) throws(ModelError) -> [Float] {
        switch try value(key) {
        case .float32Array(let v): return v
        case .float64Array(let v): return v.map { Float($0) }
        default: throw wrongType(key, "float32[]")
        }
    }

    func choice<T: RawRepresentable & CaseIterable>(_ key: String) throws(ModelError) -> T where T.RawValue == String {
        let raw = try string(key)
        guard let v = T(rawValue: raw) else {
            throw .invalidValue(file: file, key: key, value: "\"\(raw)\"",
                                reason: "expected one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    func wrongType(_ key: String, _ expected: String) -> ModelError {
        .wrongKeyType(file: file, key: key, expected: expected, found: metadata[key]?.typeName ?? "nothing")
    }
}
