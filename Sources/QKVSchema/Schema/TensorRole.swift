/// What a tensor is in the model, for weight and bias alike (Specs/schema.md, "Roles").
///
/// `.qkv` stores the code beside each tensor so a reader can check that name and role agree.
public enum TensorRole: UInt16, CaseIterable, Sendable, CustomStringConvertible {
    case tokenEmbedding = 1
    case positionEmbedding = 2
    case tokenTypeEmbedding = 3
    case embeddingNorm = 4
    case attentionQuery = 10
    case attentionKey = 11
    case attentionValue = 12
    case attentionOutput = 13
    case attentionNorm = 14
    case attentionQueryNorm = 15
    case attentionKeyNorm = 16
    case attentionPostNorm = 17
    case mlpUp = 20
    case mlpGate = 21
    case mlpDown = 22
    case mlpNorm = 23
    case mlpPostNorm = 24
    case finalNorm = 30
    case lmHead = 31
    case pooler = 32
    /// A sentence-transformers `Dense` module's weight and bias (`dense/{j}/...`).
    case dense = 33
    /// A sequence classification head's output layer (`classifier/weight`, `classifier/bias`).
    case classifier = 34

    /// The name in Specs/schema.md.
    public var name: String {
        switch self {
        case .tokenEmbedding: "token_embedding"
        case .positionEmbedding: "position_embedding"
        case .tokenTypeEmbedding: "token_type_embedding"
        case .embeddingNorm: "embedding_norm"
        case .attentionQuery: "attn_q"
        case .attentionKey: "attn_k"
        case .attentionValue: "attn_v"
        case .attentionOutput: "attn_o"
        case .attentionNorm: "attn_norm"
        case .attentionQueryNorm: "attn_q_norm"
        case .attentionKeyNorm: "attn_k_norm"
        case .attentionPostNorm: "attn_post_norm"
        case .mlpUp: "mlp_up"
        case .mlpGate: "mlp_gate"
        case .mlpDown: "mlp_down"
        case .mlpNorm: "mlp_norm"
        case .mlpPostNorm: "mlp_post_norm"
        case .finalNorm: "final_norm"
        case .lmHead: "lm_head"
        case .pooler: "pooler"
        case .dense: "dense"
        case .classifier: "classifier"
        }
    }

    public var description: String { name }

    /// Where tensors of this role live in the canonical names (Specs/schema.md, "Tensors"): a path at the
    /// top (`embed/token`) or inside each layer (`attn/q` of `layers/{i}/attn/q/weight`).
    public var path: String {
        switch self {
        case .tokenEmbedding: "embed/token"
        case .positionEmbedding: "embed/position"
        case .tokenTypeEmbedding: "embed/token_type"
        case .embeddingNorm: "embed/norm"
        case .attentionQuery: "attn/q"
        case .attentionKey: "attn/k"
        case .attentionValue: "attn/v"
        case .attentionOutput: "attn/o"
        case .attentionQueryNorm: "attn/q_norm"
        case .attentionKeyNorm: "attn/k_norm"
        case .attentionNorm: "attn_norm"
        case .attentionPostNorm: "attn_post_norm"
        case .mlpUp: "mlp/up"
        case .mlpGate: "mlp/gate"
        case .mlpDown: "mlp/down"
        case .mlpNorm: "mlp_norm"
        case .mlpPostNorm: "mlp_post_norm"
        case .finalNorm: "final_norm"
        case .lmHead: "lm_head"
        case .pooler: "pooler"
        case .dense: "dense"
        case .classifier: "classifier"
        }
    }

    /// Whether each layer has its own tensor of this role.
    public var isPerLayer: Bool {
        switch self {
        case .tokenEmbedding, .positionEmbedding, .tokenTypeEmbedding, .embeddingNorm, .finalNorm, .lmHead, .pooler, .dense, .classifier: false
        default: true
        }
    }

    /// The canonical name of this role's weight (or bias) in `layer` (nil for the tensors outside layers);
    /// for `dense`, `layer` is the module's index (`dense/{j}/weight`).
    public func tensorName(layer: Int? = nil, bias: Bool = false) -> String {
        let leaf = bias ? "bias" : "weight"
        if let layer { return isPerLayer ? "layers/\(layer)/\(path)/\(leaf)" : "\(path)/\(layer)/\(leaf)" }
        return "\(path)/\(leaf)"
    }

    /// The component a parameter count is reported under by `inspect`.
    public var component: Component {
        switch self {
        case .tokenEmbedding, .positionEmbedding, .tokenTypeEmbedding: .embeddings
        case .attentionQuery, .attentionKey, .attentionValue, .attentionOutput: .attention
        case .mlpUp, .mlpGate, .mlpDown: .mlp
        case .embeddingNorm, .attentionNorm, .attentionQueryNorm, .attentionKeyNorm, .attentionPostNorm, .mlpNorm, .mlpPostNorm, .finalNorm: .norms
        case .lmHead, .pooler, .dense, .classifier: .head
        }
    }

    /// Groups of roles for parameter counts.
    public enum Component: String, CaseIterable, Sendable {
        case embeddings, attention, mlp, norms, head
    }
}
