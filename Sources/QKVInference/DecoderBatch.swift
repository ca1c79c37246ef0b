import QKVFormat

/// Decode steps for several sequences together (continuous batching): each step reads every weight
/// once for all of them, as a matrix times a few vectors instead of a matrix-vector product each.
/// Sequences join and leave between steps; each keeps its own `DecoderSession` (its KV cache), filled
/// by its own prompt `forward` first. Owned by one caller at a time, like a session.
public final class DecoderBatch {
    public let model: DecoderModel
    /// The most sequences one step takes.
    public let maxSequences: Int
    /// The longest sequence a step can take (the workspace's attention scores hold this many positions).
    public let capacity: Int
    private let workspace: DecoderSession
    private let logits: UnsafeMutablePointer<Float>   // [maxSequences, V]

    public init(model: DecoderModel, maxSequences: Int, capacity: Int? = nil) {
        self.model = model
        self.maxSequences = max(1, maxSequences)
        self.capacity = min(capacity ?? model.config.maxPositions, model.config.maxPositions)
        workspace = DecoderSession(config: model.config, capacity: self.capacity, chunkTokens: self.maxSequences, withCache: false,
                                   threads: model.context.threads)
        logits = .allocate(capacity: self.maxSequences * model.config.vocabSize)
    }

    deinit { logits.deallocate() }

    /// A session for a sequence this batch will step (a server makes one per request): the model's
    /// `makeSession(capacity:)`; like every session it holds no threads, and its forward passes and the
    /// batch's steps borrow a team from the model's `ComputeContext`.
    public func makeSession(capacity: Int) -> DecoderSession {
        model.makeSession(capacity: min(capacity, model.config.maxPositions))
    }

    /// Appends `tokens[t]` to `sequences[t]` (distinct sessions of this model, at most `maxSequences`,
    /// none longer than `capacity`) and returns their next-token logits [n, V], valid until the next step.
    public func step(_ tokens: [Int], sequences: [DecoderSession]) throws(InferenceError) -> UnsafeBufferPointer<Float> {
        precondition(tokens.count == sequences.count && tokens.count <= maxSequences, "a batch step takes one token per sequence, at most maxSequences")
        precondition(Set(sequences.map(ObjectIdentifier.init)).count == sequences.count, "a sequence appears twice in one step")
        if let long = sequences.first(where: { $0.length + 1 > capacity }) {
            throw .sequenceTooLong(tokens: long.length + 1, maxPositions: capacity)
        }
        guard !tokens.isEmpty else { return UnsafeBufferPointer(start: logits, count: 0) }
        try model.forwardBatch(tokens, sequences: sequences, workspace: workspace, logits: logits)
        return UnsafeBufferPointer(start: logits, count: tokens.count * model.config.vocabSize)
    }
}
