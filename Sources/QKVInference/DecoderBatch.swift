import QKVFormat

/// Forward steps of several sequences together (continuous batching): each step reads every weight
/// once for all of them, as a matrix times a few vectors instead of a matrix-vector product each.
/// A sequence contributes a segment of consecutive tokens: one for a decode step, more for a chunk of
/// its prompt, so a prompt is read in the same passes as the others' decode steps. Sequences join and
/// leave between steps; each keeps its own `DecoderSession` (its KV cache). Owned by one caller at a
/// time, like a session.
public final class DecoderBatch {
    /// One sequence's part of a step: `tokens` run after what `sequence` holds, each seeing the
    /// sequence's cache and the segment's tokens before it, and appended to its cache.
    public struct Segment {
        public let tokens: [Int]
        public let sequence: DecoderSession

        public init(_ tokens: [Int], sequence: DecoderSession) {
            self.tokens = tokens
            self.sequence = sequence
        }
    }

    public let model: DecoderModel
    /// The most sequences one step takes.
    public let maxSequences: Int
    /// The most tokens one step takes, every segment's together.
    public let maxTokens: Int
    /// The longest sequence a step can take (the workspace's attention scores hold this many positions).
    public let capacity: Int
    private let workspace: DecoderSession
    private let logits: UnsafeMutablePointer<Float>       // [maxSequences, V]: in the order of the step's segments
    private let rowLogits: UnsafeMutablePointer<Float>    // [maxSequences, V]: in the order of the pass's rows

    /// A batch of `model`'s sessions, with the scratch space of a step of up to `maxTokens` rows.
    /// - Parameters:
    ///   - model: the model every step runs.
    ///   - maxSequences: the most sequences (segments) one step takes.
    ///   - maxTokens: the most tokens one step takes (the workspace's rows); at least `maxSequences`,
    ///     which it is when nil (decode steps only).
    ///   - capacity: the longest sequence a step can take; nil: the model's positions.
    public init(model: DecoderModel, maxSequences: Int, maxTokens: Int? = nil, capacity: Int? = nil) {
        self.model = model
        self.maxSequences = max(1, maxSequences)
        self.maxTokens = max(maxTokens ?? self.maxSequences, self.maxSequences)
        self.capacity = min(capacity ?? model.config.maxPositions, model.config.maxPositions)
        workspace = DecoderSession(config: model.config, capacity: self.capacity, chunkTokens: self.maxTokens, withCache: false,
                                   threads: model.context.threads)
        logits = .allocate(capacity: self.maxSequences * model.config.vocabSize)
        rowLogits = .allocate(capacity: self.maxSequences * model.config.vocabSize)
    }

    deinit {
        logits.deallocate()
        rowLogits.deallocate()
    }

    /// A session for a sequence this batch will step (a server makes one per request): the model's
    /// `makeSession(capacity:)`; like every session it holds no threads, and its forward passes and the
    /// batch's steps borrow a team from the model's `ComputeContext`.
    public func makeSession(capacity: Int) -> DecoderSession {
        model.makeSession(capacity: min(capacity, model.config.maxPositions))
    }

    /// Appends `tokens[t]` to `sequences[t]` (distinct sessions of this model) and returns their
    /// next-token logits [n, V], valid until the next step: `step(_:)` with segments of one token.
    public func step(_ tokens: [Int], sequences: [DecoderSession]) throws(InferenceError) -> UnsafeBufferPointer<Float> {
        precondition(tokens.count == sequences.count, "a batch step takes one token per sequence")
        return try step(zip(tokens, sequences).map { Segment([$0], sequence: $1) })
    }

    /// Runs every segment in one forward pass and returns the logits of each segment's last token
    /// [segments, V], in the order of `segments`, valid until the next step.
    ///
    /// A segment of one token (a decode step) gets exactly the numbers it gets in a step of the
    /// one-token segments alone; a longer one (a prompt chunk) exactly those of `DecoderModel.forward`
    /// running it as one chunk (Specs/server.md). Nothing is computed or appended when a check fails.
    /// - Throws: `InferenceError.batchTooLarge` beyond `maxSequences` or `maxTokens`;
    ///   `.emptySegment` for a segment without tokens; `.sequenceRepeated` for a sequence given two
    ///   segments; `.sequenceTooLong` for a segment past its session's or the batch's capacity;
    ///   `.tokenOutOfRange` for a token outside the vocabulary.
    public func step(_ segments: [Segment]) throws(InferenceError) -> UnsafeBufferPointer<Float> {
        let tokens = segments.reduce(0) { $0 + $1.tokens.count }
        guard segments.count <= maxSequences, tokens <= maxTokens else {
            throw .batchTooLarge(sequences: segments.count, tokens: tokens, maxSequences: maxSequences, maxTokens: maxTokens)
        }
        var seen = Set<ObjectIdentifier>()
        for (index, segment) in segments.enumerated() {
            guard !segment.tokens.isEmpty else { throw .emptySegment(segment: index) }
            guard seen.insert(ObjectIdentifier(segment.sequence)).inserted else { throw .sequenceRepeated(segment: index) }
            let length = segment.sequence.length + segment.tokens.count
            if length > capacity { throw .sequenceTooLong(tokens: length, maxPositions: capacity) }
        }
        guard !segments.isEmpty else { return UnsafeBufferPointer(start: logits, count: 0) }
        let rows = BatchRows(segments)
        let V = model.config.vocabSize
        let inOrder = rows.stepIndex.elementsEqual(segments.indices)
        try model.forwardBatch(rows, workspace: workspace, logits: inOrder ? logits : rowLogits)
        if !inOrder {
            for (row, segment) in rows.stepIndex.enumerated() { (logits + segment * V).update(from: rowLogits + row * V, count: V) }
        }
        return UnsafeBufferPointer(start: logits, count: segments.count * V)
    }
}

/// Where a batch step's segments sit among the rows of its forward pass: the one-token segments (decode
/// steps) first, each row computed as that sequence's own decode step; then the longer ones (prompt
/// chunks), each a run of rows computed as a chunk is. Both keep the order the step gave them.
struct BatchRows {
    /// The segments in row order.
    let segments: [(tokens: [Int], sequence: DecoderSession)]
    /// For each segment in row order, its index in the step (where its logits go).
    let stepIndex: [Int]
    /// Every token in row order.
    let tokens: [Int]
    /// Rows 0..<singleRows are the one-token segments.
    let singleRows: Int
    /// Each row's sequence (by its segment in row order) and position.
    let rowSegment: [Int], rowPosition: [Int]
    /// Each segment's rows.
    let segmentRows: [Range<Int>]

    init(_ step: [DecoderBatch.Segment]) {
        let order = step.indices.filter { step[$0].tokens.count == 1 } + step.indices.filter { step[$0].tokens.count > 1 }
        segments = order.map { (step[$0].tokens, step[$0].sequence) }
        stepIndex = order
        tokens = segments.flatMap(\.tokens)
        singleRows = order.prefix { step[$0].tokens.count == 1 }.count
        var rowSegment: [Int] = [], rowPosition: [Int] = [], segmentRows: [Range<Int>] = []
        for (index, segment) in segments.enumerated() {
            segmentRows.append(rowSegment.count..<(rowSegment.count + segment.tokens.count))
            rowSegment += Array(repeating: index, count: segment.tokens.count)
            rowPosition += segment.sequence.length..<(segment.sequence.length + segment.tokens.count)
        }
        self.rowSegment = rowSegment
        self.rowPosition = rowPosition
        self.segmentRows = segmentRows
    }
}
