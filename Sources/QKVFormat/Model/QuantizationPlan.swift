/// What `qkv convert --dtype` quantizes to: one block type for every matrix, or one of llama.cpp's
/// K-quant mixes (Specs/quantization.md, "Quantizing").
public enum QuantizationScheme: Hashable, Sendable, CustomStringConvertible {
    /// Every quantizable matrix in this type (q8_0, q4_0 ... q5_1, q2_k ... q6_k).
    case pure(DType)
    /// llama.cpp's per-tensor choices for one of its file types.
    case mix(KQuantMix)

    /// The scheme a `--dtype` name asks for; nil for float dtypes and unknown names.
    public init?(name: String) {
        if let mix = KQuantMix(rawValue: name) {
            self = .mix(mix)
        } else if let dtype = DType(name: name), QuantizationScheme.pureTypes.contains(dtype) {
            self = .pure(dtype)
        } else {
            return nil
        }
    }

    /// The block types `.pure` writes.
    public static let pureTypes: Set<DType> = BlockQuantization.quantizable.union(BlockQuantization.superBlockQuantizable).union([.q8_0])

    public var description: String {
        switch self {
        case .pure(let dtype): dtype.name
        case .mix(let mix): mix.rawValue
        }
    }

    /// The type most matrices get.
    var baseType: DType {
        switch self {
        case .pure(let dtype): dtype
        case .mix(let mix): mix.baseType
        }
    }
}

/// llama.cpp's K-quant file types (`LLAMA_FTYPE_MOSTLY_Q4_K_M` ...): a base type, with the tensors that
/// hurt most when quantized coarsely given more bits.
public enum KQuantMix: String, CaseIterable, Sendable {
    case q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m

    var baseType: DType {
        switch self {
        case .q3_k_s, .q3_k_m, .q3_k_l: .q3_k
        case .q4_k_s, .q4_k_m: .q4_k
        case .q5_k_s, .q5_k_m: .q5_k
        }
    }
}

/// The dtype each tensor of a model gets under a quantization scheme, as `llama_model_quantize` chooses
/// it with no importance matrix (llama.cpp's `llama_tensor_get_type`, for the file types qkv writes).
///
/// Decisions go by role and layer, which name what llama.cpp reads from GGUF tensor names; the row length
/// is the one the tensor is quantized along (W_O's H·d for a decoder: `Converter` stores a quantized W_O as
/// rows, so its blocks are GGUF's).
struct QuantizationPlan {
    let scheme: QuantizationScheme
    let config: ModelConfig
    /// Whether the model has its own output head; without one the token embedding is the head, and gets
    /// the head's type (llama.cpp's `has_tied_embeddings`).
    let hasOutputHead: Bool
    /// Whether the model's GGUF form fuses Q, K and V into `attn_qkv` (Phi-3's does), which llama.cpp treats as V.
    let fusedQKV: Bool
    /// llama.cpp's `LLM_TYPE_70B`: 8 query heads per key/value head make W_V worth a bigger type.
    let isLlama70B: Bool

    /// `architecture`: the one an export of the model is written as, whose GGUF names llama.cpp decides by.
    init(scheme: QuantizationScheme, config: ModelConfig, tensors: [TensorInfo], architecture: (any Architecture.Type)?) {
        self.scheme = scheme
        self.config = config
        hasOutputHead = tensors.contains { $0.role == .lmHead }
        let query = architecture?.ggufSource(for: TensorRole.attentionQuery.tensorName(layer: 0), config: config)?.0
        fusedQKV = query?.hasSuffix("attn_qkv.weight") ?? false
        isLlama70B = architecture?.ggufArchitectures.first == "llama" && config.layerCount == 80 && config.headCount != config.keyValueHeadCount
    }

    /// Whether llama.cpp quantizes a tensor of this role and rank at all: matrices, but not learned
    /// positions or token types (BERT), and never norms or biases.
    static func isQuantizable(_ info: TensorInfo) -> Bool {
        guard info.shape.count >= 2, info.dtype.isFloat, info.name.hasSuffix("/weight") else { return false }
        return info.role != .positionEmbedding && info.role != .tokenTypeEmbedding
    }

    /// The dtype for `info`, whose rows are `rowLength` long when quantized; nil keeps its dtype.
    func dtype(for info: TensorInfo, rowLength: Int) -> DType? {
        guard Self.isQuantizable(info) else { return nil }
        var type = scheme.baseType
        if case .mix(let mix) = scheme { type = mixType(mix, info: info, rowLength: rowLength, base: type) }
        return Self.fallback(type, rowLength: rowLength)
    }

    /// llama.cpp's `tensor_type_fallback`: a type whose blocks do not divide the rows gives way to a
    /// 32-value type of about as many bits, and to f16 when even those do not fit (as llama.cpp's
    /// converter also does).
    static func fallback(_ type: DType, rowLength: Int) -> DType {
        guard rowLength % type.blockSize != 0 else { return type }
        let smaller: DType = switch type {
        case .q2_k, .q3_k: .q4_0
        case .q4_k: .q5_0
        case .q5_k: .q5_1
        case .q6_k: .q8_0
        default: type
        }
        return rowLength % smaller.blockSize == 0 ? smaller : .f16
    }

    /// llama.cpp's `use_more_bits`: the first and last eighth of the layers and every third between.
    static func usesMoreBits(layer: Int, of layers: Int) -> Bool {
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
    }

    /// The mix's choice for one tensor (llama.cpp's `llama_tensor_get_type_impl`, the branches of the
    /// K-quant file types).
    private func mixType(_ mix: KQuantMix, info: TensorInfo, rowLength: Int, base: DType) -> DType {
        let layer = Self.layerIndex(info.name) ?? 0, layers = config.layerCount
        let role = info.role
        let isHead = role == .lmHead || (!hasOutputHead && role == .tokenEmbedding)
        if isHead {
            // The output head: q6_k (q8_0 when its rows are not whole blocks of the base type).
            return rowLength % base.blockSize != 0 ? .q8_0 : .q6_k
        }
        let isValueLike = role == .attentionValue || (fusedQKV && (role == .attentionQuery || role == .attentionKey))
        switch role {
        case _ where isValueLike:
            var type = base
            switch mix {
            case .q3_k_m: type = layer < 2 ? .q5_k : .q4_k
            case .q3_k_l: type = .q5_k
            case .q4_k_m, .q5_k_m: if Self.usesMoreBits(layer: layer, of: layers) { type = .q6_k }
            case .q4_k_s: if layer < 4 { type = .q5_k }
            case .q3_k_s, .q5_k_s: break
            }
            if isLlama70B && (type == .q3_k || type == .q4_k) { type = .q5_k }
            return type
        case .mlpDown?:
            switch mix {
            case .q3_k_m: return layer < layers / 16 ? .q5_k : .q4_k
            case .q3_k_l: return .q5_k
            case .q4_k_m, .q5_k_m: return Self.usesMoreBits(layer: layer, of: layers) ? .q6_k : base
            case .q4_k_s: return layer < layers / 8 ? .q5_k : base
            case .q3_k_s, .q5_k_s: return base
            }
        case .attentionOutput?:
            switch mix {
            case .q3_k_m: return .q4_k
            case .q3_k_l: return .q5_k
            default: return base
            }
        default:
            return base
        }
    }

    /// `i` of `layers/{i}/...`.
    static func layerIndex(_ name: String) -> Int? {
        guard name.hasPrefix("layers/") else { return nil }
        return Int(name.dropFirst("layers/".count).prefix { $0 != "/" })
    }
}
