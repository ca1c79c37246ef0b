import QKVFormat
import QKVTokenizers

/// Everything `qkv attention` shows for one text: the tokens, every head's attention and updates as
/// the model computed them, each head's profile and role, and the stored weights' per-head norms (the
/// numbers `qkv inspect --heads` prints).
public struct AttentionReport: Sendable {
    public var modelPath: String
    public var config: ModelConfig
    public var tokenIDs: [Int]
    /// Each token as text, for labels: WordPiece pieces as stored (`##s`), BPE pieces decoded (` the`).
    public var tokens: [String]
    public var record: AttentionRecord
    public var profiles: [HeadProfile]
    public var weights: [ModelSummary.Head]
    /// Each head's effect when removed (`--ablate`), or nil.
    public var ablation: AblationReport?
    /// What each head's update writes through the unembedding (`--writes`), or nil.
    public var writes: HeadWrites?
    /// The text of every token id in `writes` (decoded as the labels of `tokens` are).
    public var writeLabels: [Int: String] = [:]

    public init(modelPath: String, config: ModelConfig, tokenIDs: [Int], tokens: [String], record: AttentionRecord,
                profiles: [HeadProfile], weights: [ModelSummary.Head]) {
        self.modelPath = modelPath
        self.config = config
        self.tokenIDs = tokenIDs
        self.tokens = tokens
        self.record = record
        self.profiles = profiles
        self.weights = weights
    }
}
