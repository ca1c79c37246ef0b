import COpenBLAS
import QKVFormat

/// A pre-norm decoder (causal attention with a KV cache) over a model file's weights, computing what
/// the file's config describes (Specs/schema.md, "A pre-norm decoder computes"): GPT-2, LLaMA, Mistral,
/// Qwen, Gemma, Phi as Hugging Face computes them, without knowing which one it is. The forward pass
/// reads top to bottom in `forwardChunk`; the weights are read-only after `init`, so one model serves
/// any number of `DecoderSession`s on any threads.
public final class DecoderModel: Sendable {
    public let config: ModelConfig
    /// What the products of reduced-precision weights multiply (`ActivationPrecision`).
    public let activations: ActivationPrecision
    /// The threads and kernels every session of this model computes with.
    public let context: ComputeContext

    /// LayerNorm (with bias) or RMSNorm (bias nil).
    struct Norm {
        let weight: FloatWeight
        let bias: FloatWeight?
    }

    struct Layer {
        let attentionNorm: Norm
        let query, key, value: WeightMatrix             // [H·d, D], [K·d, D], [K·d, D]: per-head slabs read as one matrix
        let queryBias, keyBias, valueBias: FloatWeight?  // [H·d], [K·d], [K·d]
        let queryNorm, keyNorm: FloatWeight?            // [d], [d]: RMSNorm of each head's q and k (qk_norm)
        let output: WeightMatrix                        // [H·d, D]: head h's rows are its slice of W_O; or [D, H·d] (rows layout)
        let outputBias: FloatWeight?                     // [D]
        let attentionPostNorm: Norm?                    // [D]: on the attention output (post_norms)
        let mlpNorm: Norm
        let mlpPostNorm: Norm?                          // [D]: on the MLP output (post_norms)
        /// Attends through the sliding window (and rotates with the sliding RoPE base).
        let isSliding: Bool
        let up: WeightMatrix, upBias: FloatWeight?      // [F, D], [F]
        let gate: WeightMatrix?, gateBias: FloatWeight? // [F, D], [F] (LLaMA's SwiGLU)
        let down: WeightMatrix, downBias: FloatWeight?  // [D, F], [D]
    }

    let tokenEmbedding: WeightMatrix     // [V, D]
    let positionEmbedding: WeightMatrix? // [P, D] (GPT-2)
    let layers: [Layer]
    let finalNorm: Norm
    let lmHead: WeightMatrix             // [V, D]: the token embedding itself when tied

    /// Loads the weights of a decoder model file. The matrices stay in the mapping in their dtype (f32,
    /// f16, bf16, block types) and are computed from there; norms and biases are read as f32.
    /// - Parameters:
    ///   - model: the open model file.
    ///   - activations: what the products of reduced-precision weights multiply.
    ///   - context: the threads and kernels to compute with; each forward pass borrows a team of threads
    ///     from it, so sessions hold none of their own.
    /// - Throws: `InferenceError.unsupportedModel` for a model the decoder cannot run; the container's
    ///   errors for a missing or malformed tensor.
    public init(_ model: ModelFile, activations: ActivationPrecision = .f32, context: ComputeContext = .default) throws {
        let config = model.config
        let path = model.file.path
        guard config.isDecoder, config.normPlacement == .pre, !config.embeddingNorm, config.typeVocabSize == 0 else {
            throw InferenceError.unsupportedModel(file: path, reason: "not a pre-norm decoder (GPT-2 or LLaMA family)")
        }
        if config.activation == .silu && !config.gatedMLP {
            throw InferenceError.unsupportedModel(file: path, reason: "silu is supported only in a gated MLP")
        }
        if config.positionEncoding == .rope, config.rope == nil || config.headDim % 2 != 0 {
            throw InferenceError.unsupportedModel(file: path, reason: "RoPE needs rope_theta and an even head_dim")
        }
        self.config = config
        self.activations = activations
        self.context = context
        let file = model.file
        // Tensors by role (and layer): the schema's names, never spelled here.
        func m(_ role: TensorRole, _ layer: Int? = nil) throws -> WeightMatrix {
            try WeightMatrix(file, role.tensorName(layer: layer), activations: activations)
        }
        func bias(_ role: TensorRole, _ layer: Int, _ present: Bool) throws -> FloatWeight? {
            present ? try FloatWeight(file, role.tensorName(layer: layer, bias: true)) : nil
        }
        let offset = Float(config.normWeightOffset)
        func norm(_ role: TensorRole, _ layer: Int? = nil) throws -> Norm {
            Norm(weight: try FloatWeight(file, role.tensorName(layer: layer), offset: offset),
                 bias: config.norm == .layernorm ? try FloatWeight(file, role.tensorName(layer: layer, bias: true)) : nil)
        }
        func postNorm(_ role: TensorRole, _ layer: Int) throws -> Norm? { config.postNorms ? try norm(role, layer) : nil }
        func headNorm(_ role: TensorRole, _ layer: Int) throws -> FloatWeight? {
            config.qkNorm ? try FloatWeight(file, role.tensorName(layer: layer), offset: offset) : nil
        }
        tokenEmbedding = try m(.tokenEmbedding)
        positionEmbedding = config.positionEncoding == .learned ? try m(.positionEmbedding) : nil
        layers = try (0..<config.layerCount).map { i in
            let a = config.hasQKVBias, b = config.mlpBias
            return Layer(
                attentionNorm: try norm(.attentionNorm, i),
                query: try m(.attentionQuery, i), key: try m(.attentionKey, i), value: try m(.attentionValue, i),
                queryBias: try bias(.attentionQuery, i, a), keyBias: try bias(.attentionKey, i, a), valueBias: try bias(.attentionValue, i, a),
                queryNorm: try headNorm(.attentionQueryNorm, i), keyNorm: try headNorm(.attentionKeyNorm, i),
                output: try m(.attentionOutput, i), outputBias: try bias(.attentionOutput, i, config.attentionBias),
                attentionPostNorm: try postNorm(.attentionPostNorm, i),
                mlpNorm: try norm(.mlpNorm, i), mlpPostNorm: try postNorm(.mlpPostNorm, i),
                isSliding: config.isSliding(layer: i),
                up: try m(.mlpUp, i), upBias: try bias(.mlpUp, i, b),
                gate: config.gatedMLP ? try m(.mlpGate, i) : nil, gateBias: try bias(.mlpGate, i, config.gatedMLP && b),
                down: try m(.mlpDown, i), downBias: try bias(.mlpDown, i, b))
        }
        finalNorm = try norm(.finalNorm)
        lmHead = config.tiedEmbeddings ? tokenEmbedding : try m(.lmHead)
        // Every token reads every matrix but the input embedding (only looked up): map their pages now,
        // in one call each, instead of a page fault per few pages inside the first forward pass (17,700
        // faults for a 134M f32 model: a fifth of its 256-token prompt's time).
        for layer in layers {
            for matrix in [layer.query, layer.key, layer.value, layer.output, layer.up, layer.down] + (layer.gate.map { [$0] } ?? []) {
                matrix.view.withUnsafeBytes { matrix.view.storage.willRead($0) }
            }
        }
        lmHead.view.withUnsafeBytes { lmHead.view.storage.willRead($0) }
    }

    /// A new, empty KV cache and scratch space for one sequence of up to `capacity` tokens (at most the
    /// model's positions).
    public func makeSession(capacity: Int? = nil) -> DecoderSession {
        makeSession(capacity: capacity, chunkTokens: DecoderSession.defaultChunkTokens)
    }

    /// A session whose forward steps take at most `chunkTokens` tokens at once (tests use small chunks).
    func makeSession(capacity: Int?, chunkTokens: Int) -> DecoderSession {
        DecoderSession(config: config, capacity: min(capacity ?? config.maxPositions, config.maxPositions), chunkTokens: chunkTokens,
                       threads: context.threads)
    }

    /// Which positions' logits `forward` returns.
    public enum Logits: Sendable { case last, all }

    /// Runs `tokens` through the model after what `session` already holds, appends their keys and values
    /// to its cache and returns the logits [rows, V] of the last or of every new position.
    /// With `record`, every head's probabilities and updates for these tokens go into it (its rows from
    /// the session's current length on).
    public func forward(_ tokens: [Int], session: DecoderSession, logits: Logits = .last,
                        record: AttentionRecord? = nil) throws(InferenceError) -> [Float] {
        let V = config.vocabSize
        if logits == .last {
            let last = try forwardInPlace(tokens, session: session, record: record)
            return Array(UnsafeBufferPointer(start: last, count: V))
        }
        try check(tokens, session)
        var out = [Float](repeating: 0, count: tokens.count * V)
        out.withUnsafeMutableBufferPointer { out in
            forwardChunks(tokens, session: session, allLogits: out.baseAddress!, record: record)
        }
        return out
    }

    /// `forward` for the last position's logits, which it leaves in the session's buffer [V] (valid until
    /// the next forward of this session): a decode step allocates nothing.
    func forwardInPlace(_ tokens: [Int], session: DecoderSession, record: AttentionRecord? = nil) throws(InferenceError) -> UnsafePointer<Float> {
        try check(tokens, session)
        forwardChunks(tokens, session: session, allLogits: nil, record: record)
        return UnsafePointer(session.logits)
    }

    /// One step of several sequences at once (a `DecoderBatch` step): each segment's tokens after what
    /// its sequence holds (each appended to its own cache), every weight read once for all of them; the
    /// logits of each segment's last token [segments, V] go to `logits`, in row order.
    /// `workspace`: scratch for the rows whose scores hold the longest sequence.
    func forwardBatch(_ rows: BatchRows, workspace: DecoderSession, logits: UnsafeMutablePointer<Float>) throws(InferenceError) {
        for segment in rows.segments { try check(segment.tokens, segment.sequence) }
        context.withTeam(usesBLAS: usesBLAS(rows: rows.tokens.count)) { team in
            forwardChunk(rows.tokens[...], session: workspace, team: team, batch: rows, logitRows: rows.segments.count, logits: logits, record: nil, ablation: nil)
        }
    }

    /// Whether a forward step of `rows` tokens may multiply with OpenBLAS: many rows go to sgemm, and f32
    /// weights go to sgemv when the C kernels are off (`ComputeContext.withTeam`).
    private func usesBLAS(rows: Int) -> Bool { rows > 1 || !NativeKernels.enabled }

    func check(_ tokens: [Int], _ session: DecoderSession) throws(InferenceError) {
        guard session.length + tokens.count <= session.capacity else {
            throw .sequenceTooLong(tokens: session.length + tokens.count, maxPositions: session.capacity)
        }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= config.vocabSize }) { throw .tokenOutOfRange(id: bad, vocabSize: config.vocabSize) }
    }

    /// Long prompts go through in chunks, so scratch space stays bounded. Every position's logits go to
    /// `allLogits` [tokens, V] when given, else the last one's to the session's buffer.
    /// With `ablation`, that head's output is replaced in every chunk (`ablateHead`).
    func forwardChunks(_ tokens: [Int], session: DecoderSession, allLogits: UnsafeMutablePointer<Float>?, record: AttentionRecord?,
                       ablation: HeadAblation? = nil) {
        let V = config.vocabSize
        context.withTeam(usesBLAS: usesBLAS(rows: tokens.count)) { team in
            var start = 0
            while start < tokens.count {
                let chunk = tokens[start..<min(start + session.chunkTokens, tokens.count)]
                let isLast = start + chunk.count == tokens.count
                if let allLogits {
                    forwardChunk(chunk, session: session, team: team, logitRows: chunk.count, logits: allLogits + start * V, record: record, ablation: ablation)
                } else {
                    forwardChunk(chunk, session: session, team: team, logitRows: isLast ? 1 : 0, logits: session.logits, record: record, ablation: ablation)
                }
                start += chunk.count
            }
        }
    }

    /// One chunk of at most `session.chunkTokens` tokens: the forward pass, top to bottom. Each step
    /// below is a method that shares its own work among the team of P threads: the rows of each weight
    /// (many tokens: sgemm on a fixed share per thread; a few: kernels reading W in place, on pieces the
    /// threads claim as they come free, `claimsPieces`), the heads of attention, the columns of the
    /// attention output projection; the small steps between (norms of a few rows, RoPE, the cache
    /// append) run on the calling thread. Writes the logits of the chunk's last `logitRows` positions to
    /// `logits` [logitRows, V].
    /// With `batch`, the rows are instead the segments of a `DecoderBatch` step: each row has its
    /// sequence's position and cache, `s` lends only its scratch, and the logits are those of each
    /// segment's last row.
    /// With `ablation`, one head's output z_h is replaced before W_O (the hook of `qkv attention --ablate`).
    private func forwardChunk(_ tokens: ArraySlice<Int>, session s: DecoderSession, team: ComputeTeam, batch: BatchRows? = nil, logitRows: Int,
                              logits: UnsafeMutablePointer<Float>, record: AttentionRecord?, ablation: HeadAblation?) {
        let pass = Pass(s: s, team: team, batch: batch, T: tokens.count, start: s.length)
        let D = config.modelDim, HD = config.headCount * config.headDim, T = tokens.count, start = s.length
        let epsilon = Float(config.normEpsilon)
        let x = s.residual, h = s.normed, z = s.heads, sub = s.sublayer

        embed(tokens, into: x, pass)
        computeRopeAngles(pass)
        for (index, layer) in layers.enumerated() {
            // Attention: norm, Q K V for all heads at once, q/k norms, RoPE, append K V to the cache;
            // every query head against its cache; every head's update through W_O into the residual.
            normalize(x, layer.attentionNorm, into: h, rows: T, epsilon: epsilon, team: team)
            projectQueryKeyValue(layer, pass)
            normalizeAndRotateHeads(layer, pass)
            appendToCache(layer: index, pass)
            attend(layer, index, pass, record: record)
            if let ablation, ablation.layer == index { ablateHead(z, rows: T, ld: HD, headDim: config.headDim, ablation) }
            if let record {
                layer.output.withFloats {
                    record.storeUpdates(layer: index, firstQuery: start, rows: T, heads: z, output: $0, headDim: config.headDim, modelDim: D,
                                        outputLayout: config.attentionOutputLayout)
                }
            }
            projectAttentionOutput(layer, pass)
            if let postNorm = layer.attentionPostNorm {
                if let record, record.keepsUpdateVectors {
                    record.applyPostNorm(layer: index, firstQuery: start, rows: T, attentionOutput: sub, weight: postNorm.weight.pointer,
                                         centered: postNorm.bias != nil, epsilon: epsilon)
                }
                addNormalized(sub, postNorm, into: x, rows: T, epsilon: epsilon, team: team)
            }

            // MLP: act(h W_upᵀ + b) (or act(h W_gateᵀ) · h W_upᵀ) W_downᵀ + b, added to the residual stream.
            normalize(x, layer.mlpNorm, into: h, rows: T, epsilon: epsilon, team: team)
            let hidden = projectUpAndActivate(layer, pass)
            projectDown(layer, from: hidden, pass)
            if let postNorm = layer.mlpPostNorm { addNormalized(sub, postNorm, into: x, rows: T, epsilon: epsilon, team: team) }
        }
        if let batch {
            for segment in batch.segments { segment.sequence.length += segment.tokens.count }
        } else {
            s.length = start + T
        }
        // The final norm's scale of every position's residual, for the logit lens of each head's update.
        if let record, record.keepsUpdateVectors {
            record.storeFinalNormScales(firstQuery: start, rows: T, residual: x, centered: finalNorm.bias != nil, epsilon: epsilon)
        }

        // Final norm and LM head (and the logits' soft cap), for the rows asked for.
        guard logitRows > 0 else { return }
        if let batch {
            for (i, rows) in batch.segmentRows.enumerated() {
                normalize(x + (rows.upperBound - 1) * D, finalNorm, into: h + i * D, rows: 1, epsilon: epsilon, team: team)
            }
        } else {
            normalize(x + (T - logitRows) * D, finalNorm, into: h, rows: logitRows, epsilon: epsilon, team: team)
        }
        projectLogits(rows: logitRows, into: logits, pass)
    }

    /// One chunk's step: the scratch (and, unless `batch`, the cache) of `s`, the team that shares
    /// the work, and where the chunk's T rows sit.
    private struct Pass {
        let s: DecoderSession
        let team: ComputeTeam
        /// A `DecoderBatch` step: its segments' rows.
        let batch: BatchRows?
        let T: Int, start: Int
        /// Rows 0..<singleRows are separate sequences' decode steps, each computed as one token is; the
        /// rest are computed together, as a chunk is. So are the logit rows (one per segment in a batch).
        var singleRows: Int { batch?.singleRows ?? 0 }
        /// The session whose cache row t joins.
        func cache(_ t: Int) -> DecoderSession { batch.map { $0.segments[$0.rowSegment[t]].sequence } ?? s }
        /// Row t's position (lengths grow only after the last layer).
        func position(_ t: Int) -> Int { batch?.rowPosition[t] ?? start + t }
        /// Runs of rows that attend causally to one cache and among themselves: the chunk, or a batch's
        /// prompt chunks (the segments of several tokens), each with its cache and first position.
        var causalRuns: [(rows: Range<Int>, cache: DecoderSession, start: Int)] {
            guard let batch else { return [(0..<T, s, start)] }
            return batch.segments.indices.dropFirst(batch.singleRows).map { i in
                (batch.segmentRows[i], batch.segments[i].sequence, batch.segments[i].sequence.length)
            }
        }
    }

    /// Embeddings into x [T, D]: token (× embedding_scale) (+ learned position), widened from their rows.
    private func embed(_ tokens: ArraySlice<Int>, into x: UnsafeMutablePointer<Float>, _ pass: Pass) {
        let D = config.modelDim, embeddingScale = Float(config.embeddingScale)
        for (t, id) in tokens.enumerated() {
            let row = x + t * D
            tokenEmbedding.widenRow(id, 0..<D, into: row)
            if embeddingScale != 1 { scaleInPlace(row, embeddingScale, count: D) }
            if let positions = positionEmbedding {
                positions.widenRow(pass.position(t), 0..<D, into: pass.s.sublayer)
                addInPlace(row, pass.s.sublayer, count: D)
            }
        }
    }

    /// RoPE angles of the chunk's positions, once for every layer (and once more for sliding layers with
    /// their own base), with the divisors each row's session chose for its length (LongRoPE's short or
    /// long ones) and the attention factor.
    private func computeRopeAngles(_ pass: Pass) {
        guard let rope = config.rope else { return }
        let d = config.headDim, ropeDims = rope.dimensions ?? d, s = pass.s
        for t in 0..<pass.T {
            ropeAngles(position: pass.position(t), dims: ropeDims, theta: rope.theta, factors: pass.cache(t).ropeFactors, scale: Float(rope.attentionFactor),
                       cos: s.cos + t * d / 2, sin: s.sin + t * d / 2)
            if let sliding = rope.slidingTheta {
                ropeAngles(position: pass.position(t), dims: ropeDims, theta: sliding, factors: nil,
                           cos: s.slidingCos + t * d / 2, sin: s.slidingSin + t * d / 2)
            }
        }
    }

    /// q [T, H·d], k, v [T, K·d] = h W_Qᵀ, h W_Kᵀ, h W_Vᵀ (+ biases): the rows of W_Q, W_K and W_V as one
    /// run of H·d + 2·K·d rows shared among the team; a few tokens: in claimed pieces.
    private func projectQueryKeyValue(_ layer: Layer, _ pass: Pass) {
        let s = pass.s, T = pass.T, tileFloats = s.tileFloats, singleRows = pass.singleRows
        let HD = config.headCount * config.headDim, KD = config.keyValueHeadCount * config.headDim
        let h = s.normed, q = s.query, k = s.key, v = s.value
        pass.team.runShares(count: HD + 2 * KD, align: 16, claimed: claimsPieces(T)) { p, rows in
            func part(_ w: WeightMatrix, _ b: FloatWeight?, into y: UnsafeMutablePointer<Float>, from first: Int) {
                let inside = rows.clamped(to: first..<(first + w.rows))
                if !inside.isEmpty {
                    project(h, w, b, into: y, rows: T, share: (inside.lowerBound - first)..<(inside.upperBound - first), tile: s.tile(p), tileFloats: tileFloats, singleRows: singleRows)
                }
            }
            part(layer.query, layer.queryBias, into: q, from: 0)
            part(layer.key, layer.keyBias, into: k, from: HD)
            part(layer.value, layer.valueBias, into: v, from: HD + KD)
        }
    }

    /// q [T·H, d] and k [T·K, d]: every head's vector normalised on its own (q/k norms), then rotated
    /// (RoPE, with the sliding base on sliding layers that have one).
    private func normalizeAndRotateHeads(_ layer: Layer, _ pass: Pass) {
        let s = pass.s, T = pass.T, H = config.headCount, K = config.keyValueHeadCount, d = config.headDim
        let HD = H * d, KD = K * d, q = s.query, k = s.key
        if let queryNorm = layer.queryNorm, let keyNorm = layer.keyNorm {
            let epsilon = Float(config.normEpsilon)
            rmsNorm(q, weight: queryNorm.pointer, into: q, rows: T * H, n: d, epsilon: epsilon)
            rmsNorm(k, weight: keyNorm.pointer, into: k, rows: T * K, n: d, epsilon: epsilon)
        }
        if let rope = config.rope {
            let ropeDims = rope.dimensions ?? d
            let useSliding = layer.isSliding && rope.slidingTheta != nil
            let (cosines, sines) = useSliding ? (s.slidingCos, s.slidingSin) : (s.cos, s.sin)
            for t in 0..<T {
                let cos = cosines + t * d / 2, sin = sines + t * d / 2
                applyRope(q + t * HD, heads: H, headDim: d, ropeDims: ropeDims, interleaved: rope.layout == .interleaved, cos: cos, sin: sin)
                applyRope(k + t * KD, heads: K, headDim: d, ropeDims: ropeDims, interleaved: rope.layout == .interleaved, cos: cos, sin: sin)
            }
        }
    }

    /// The chunk's keys and values into layer `index` of the cache (each segment's into its own, in a
    /// batch step).
    private func appendToCache(layer index: Int, _ pass: Pass) {
        let s = pass.s, KD = config.keyValueHeadCount * config.headDim
        if let batch = pass.batch {
            for (segment, rows) in zip(batch.segments, batch.segmentRows) {
                segment.sequence.append(keys: s.key + rows.lowerBound * KD, values: s.value + rows.lowerBound * KD, tokens: rows.count, layer: index)
            }
        } else {
            s.append(keys: s.key, values: s.value, tokens: pass.T, layer: index)
        }
    }

    /// Each query head against its key/value head's cache: P = softmax(cap(Q_h K_hᵀ · scale)) with the
    /// causal mask (token t sees positions ≤ start + t, and on sliding layers only the last `window` of
    /// them), Z_h = P V_h, into z [T, H·d]. Heads are shared among the threads (all on the calling one
    /// when recording: the record is not written from several threads).
    private func attend(_ layer: Layer, _ index: Int, _ pass: Pass, record: AttentionRecord?) {
        let s = pass.s, runs = pass.causalRuns
        let H = config.headCount, d = config.headDim, HD = H * d, group = config.queriesPerKeyValueHead
        let scale = Float(config.effectiveAttentionScale), softcap = Float(config.attentionSoftcap)
        let q = s.query, z = s.heads
        let window = layer.isSliding ? config.slidingWindow : Int.max
        let attentionParts = record == nil ? pass.team.size : 1
        let attend = { (p: Int) in
            let scores = s.scores(p)
            for head in share(H, part: p, of: attentionParts) {
                // A batch step's decode rows: each row's query against its own sequence's cache.
                for t in 0..<pass.singleRows {
                    let cache = pass.cache(t), end = pass.position(t) + 1, first = end > window ? end - window : 0
                    let keys = cache.keys(layer: index, head: head / group), values = cache.values(layer: index, head: head / group)
                    decodeAttentionHead(q + t * HD + head * d, keys: keys + first * d, values: values + first * d, z + t * HD + head * d,
                                        positions: end - first, headDim: d, scale: scale, softcap: softcap, scores: scores)
                }
                // Runs of rows against their cache and the run's rows before them.
                for run in runs {
                    let T = run.rows.count, start = run.start, end = start + T
                    let keys = run.cache.keys(layer: index, head: head / group), values = run.cache.values(layer: index, head: head / group)
                    let qh = q + run.rows.lowerBound * HD + head * d, zh = z + run.rows.lowerBound * HD + head * d
                    if T == 1 {
                        // The keys in the window: positions first..<end.
                        let first = end > window ? end - window : 0
                        decodeAttentionHead(qh, keys: keys + first * d, values: values + first * d, zh, positions: end - first,
                                            headDim: d, scale: scale, softcap: softcap, scores: scores + first)
                        if let record {
                            scores.update(repeating: 0, count: first)
                            record.storeProbabilities(layer: index, head: head, firstQuery: start, rows: 1, keys: end, stride: end, scores)
                        }
                    } else {
                        // Queries in blocks, each against the keys its last query sees: the scores of the
                        // future are not computed (a third of a 256-token prompt's attention).
                        var first = 0
                        while first < T {
                            let rows = min(causalBlockTokens, T - first), seen = start + first + rows
                            matmulTransposed(qh + first * HD, keys, scores, m: rows, n: seen, k: d, lda: HD, ldb: d, ldc: seen, alpha: scale)
                            for t in 0..<rows {
                                // The causal mask (and the window): softmax over the visible keys only, the
                                // rest exactly 0.
                                let row = scores + t * seen, visible = start + first + t + 1
                                let low = visible > window ? visible - window : 0
                                if softcap > 0 { softcapInPlace(row + low, softcap, count: visible - low) }
                                softmaxRows(row + low, rows: 1, n: visible - low)
                                row.update(repeating: 0, count: low)
                                (row + visible).update(repeating: 0, count: seen - visible)
                            }
                            record?.storeProbabilities(layer: index, head: head, firstQuery: start + first, rows: rows, keys: seen, stride: seen, scores)
                            matmul(scores, values, zh + first * HD, m: rows, n: d, k: seen, lda: seen, ldb: d, ldc: HD)
                            first += rows
                        }
                    }
                }
            }
        }
        if attentionParts == 1 { attend(0) } else { pass.team.run(attend) }
    }

    /// Every head's update through its slice of W_O into sub [T, D], added to the residual stream x
    /// unless a post norm comes first: shares of W_O's columns, so each thread adds its own columns of
    /// the residual.
    private func projectAttentionOutput(_ layer: Layer, _ pass: Pass) {
        let s = pass.s, T = pass.T, D = config.modelDim, P = pass.team.size, tileFloats = s.tileFloats, singleRows = pass.singleRows
        let HD = config.headCount * config.headDim, x = s.residual, z = s.heads, sub = s.sublayer
        if config.attentionOutputLayout == .rows {
            // W_O [D, H·d] as a Linear weight: shares of its rows, as the MLP's down projection.
            pass.team.runShares(count: D, align: 16, claimed: claimsPieces(T)) { p, columns in
                project(z, layer.output, layer.attentionPostNorm == nil ? nil : layer.outputBias, into: sub, rows: T, share: columns, tile: s.tile(p), tileFloats: tileFloats, singleRows: singleRows)
                if layer.attentionPostNorm == nil { addResidual(x, sub, layer.outputBias, rows: T, n: D, columns: columns) }
            }
        } else {
            // A batch step's decode rows apart from its chunk rows, as `project` keeps them.
            let groups = [0..<singleRows, singleRows..<T].filter { !$0.isEmpty }
            pass.team.run { p in
                let columns = share(D, part: p, of: P, align: 32)
                for rows in groups {
                    let z = z + rows.lowerBound * HD, sub = sub + rows.lowerBound * D
                    if rows.count == 1 {
                        layer.output.multiplyVectorTransposed(z, into: sub, columns: columns)
                    } else {
                        layer.output.multiplyTransposed(z, m: rows.count, into: sub, ldy: D, columns: columns, scratch: s.tile(p), scratchFloats: tileFloats)
                    }
                }
                if layer.attentionPostNorm == nil {
                    addResidual(x, sub, layer.outputBias, rows: T, n: D, columns: columns)
                } else if let bias = layer.outputBias {
                    addBias(sub, ld: D, bias.pointer, rows: T, columns: columns)
                }
            }
        }
    }

    /// The MLP's hidden [T, F]: act(h W_upᵀ + b), or act(h W_gateᵀ + b) · (h W_upᵀ + b) when gated, on
    /// shares of F; returns the buffer it is in.
    private func projectUpAndActivate(_ layer: Layer, _ pass: Pass) -> UnsafeMutablePointer<Float> {
        let s = pass.s, T = pass.T, F = config.ffnDim, tileFloats = s.tileFloats, singleRows = pass.singleRows
        let h = s.normed, up = s.up, gateBuffer = s.gate, activation = config.activation
        pass.team.runShares(count: F, align: 16, claimed: claimsPieces(T)) { p, columns in
            let tile = s.tile(p)
            project(h, layer.up, layer.upBias, into: up, rows: T, share: columns, tile: tile, tileFloats: tileFloats, singleRows: singleRows)
            if let gate = layer.gate {
                project(h, gate, layer.gateBias, into: gateBuffer, rows: T, share: columns, tile: tile, tileFloats: tileFloats, singleRows: singleRows)
                for t in 0..<T {
                    let g = gateBuffer + t * F + columns.lowerBound, u = up + t * F + columns.lowerBound
                    switch activation {
                    case .silu: siluGate(g, up: u, count: columns.count)
                    case .geluTanh: geluTanh(g, count: columns.count); multiplyInPlace(g, u, count: columns.count)
                    case .geluErf: geluErf(g, count: columns.count); multiplyInPlace(g, u, count: columns.count)
                    }
                }
            } else {
                for t in 0..<T {
                    let row = up + t * F + columns.lowerBound
                    if activation == .geluTanh { geluTanh(row, count: columns.count) } else { geluErf(row, count: columns.count) }
                }
            }
        }
        return layer.gate == nil ? up : gateBuffer
    }

    /// sub [T, D] = hidden W_downᵀ (+ b), added to the residual stream x unless a post norm comes first;
    /// shares of D.
    private func projectDown(_ layer: Layer, from hidden: UnsafeMutablePointer<Float>, _ pass: Pass) {
        let s = pass.s, T = pass.T, D = config.modelDim, tileFloats = s.tileFloats, singleRows = pass.singleRows
        let x = s.residual, sub = s.sublayer
        pass.team.runShares(count: D, align: 16, claimed: claimsPieces(T)) { p, columns in
            project(hidden, layer.down, layer.mlpPostNorm == nil ? nil : layer.downBias, into: sub, rows: T, share: columns, tile: s.tile(p), tileFloats: tileFloats, singleRows: singleRows)
            if layer.mlpPostNorm == nil { addResidual(x, sub, layer.downBias, rows: T, n: D, columns: columns) }
        }
    }

    /// logits [rows, V] = h [rows, D] · LM headᵀ (and the logits' soft cap), on shares of V.
    private func projectLogits(rows logitRows: Int, into logits: UnsafeMutablePointer<Float>, _ pass: Pass) {
        let s = pass.s, V = config.vocabSize, tileFloats = s.tileFloats, singleRows = pass.singleRows
        let h = s.normed, finalSoftcap = Float(config.finalSoftcap)
        pass.team.runShares(count: V, align: 16, claimed: claimsPieces(logitRows)) { p, rows in
            project(h, lmHead, nil, into: logits, rows: logitRows, share: rows, tile: s.tile(p), tileFloats: tileFloats, singleRows: singleRows)
            if finalSoftcap > 0 {
                for r in 0..<logitRows { softcapInPlace(logits + r * V + rows.lowerBound, finalSoftcap, count: rows.count) }
            }
        }
    }

    /// Every head's attention and update for `tokens`, run from an empty cache.
    /// With `keepingUpdates`, each head's update vectors and the final norm's scales are kept too (`--writes`).
    public func attention(_ tokens: [Int], keepingUpdates: Bool = false) throws(InferenceError) -> AttentionRecord {
        let record = AttentionRecord(layerCount: config.layerCount, headCount: config.headCount, tokenCount: tokens.count, isCausal: true,
                                     modelDim: keepingUpdates ? config.modelDim : nil)
        _ = try forward(tokens, session: makeSession(capacity: max(tokens.count, 1)), record: record)
        return record
    }

    /// LayerNorm or RMSNorm of x [rows, D] into out; many rows are shared among the team.
    private func normalize(_ x: UnsafeMutablePointer<Float>, _ norm: Norm, into out: UnsafeMutablePointer<Float>, rows: Int,
                           epsilon: Float, team: ComputeTeam) {
        let D = config.modelDim
        let body = { (part: Range<Int>) in
            let x = x + part.lowerBound * D, out = out + part.lowerBound * D
            if let bias = norm.bias {
                if out != x { out.update(from: x, count: part.count * D) }
                layerNorm(out, weight: norm.weight.pointer, bias: bias.pointer, rows: part.count, n: D, epsilon: epsilon)
            } else {
                rmsNorm(x, weight: norm.weight.pointer, into: out, rows: part.count, n: D, epsilon: epsilon)
            }
        }
        if rows < 8 || team.size == 1 { body(0..<rows) } else { team.run { p in body(share(rows, part: p, of: team.size)) } }
    }

    /// x [rows, D] += norm(y) (y normalised in place): a sublayer's output through its post norm into
    /// the residual stream.
    private func addNormalized(_ y: UnsafeMutablePointer<Float>, _ norm: Norm, into x: UnsafeMutablePointer<Float>, rows: Int,
                               epsilon: Float, team: ComputeTeam) {
        normalize(y, norm, into: y, rows: rows, epsilon: epsilon, team: team)
        addInPlace(x, y, count: rows * config.modelDim)
    }
}

/// Whether `rows` tokens through a weight share its rows in pieces the threads claim as they come free
/// (`ComputeTeam.runPieces`): up to 8 tokens run kernels that read W in place (WeightMatrix's
/// `directBlockTokens`), whose threads, streaming from memory, finish unequal fixed halves at unequal
/// times; more run sgemm, which packs its inputs again at every call and so takes one fixed share per
/// thread.
private func claimsPieces(_ rows: Int) -> Bool { rows <= WeightMatrix.directBlockTokens }

/// Queries of a prompt's attention taken at once: blocks of 64 skip 37 % of the scores of a 256-token
/// prompt (the future) and are still wide enough for sgemm.
let causalBlockTokens = 64

/// Y [rows, share] = X [rows, in] · W [share, :]ᵀ (+ bias [share]): one thread's share of a Linear
/// weight's rows (Y's columns), Y's rows W.rows apart.
/// `singleRows`: X's first rows are separate sequences' decode steps (a DecoderBatch step), computed
/// apart from the rest (a prompt chunk's), so neither's numbers depend on the other's rows. With both,
/// W's share goes through both products a piece at a time, so it is read from memory once for both: a
/// tile as `multiply` widens it; f32 that both products read in place with qkv's kernels, pieces that
/// stay in L2 between them; else (sgemm, the panels) the whole share, so the chunk rows take the one
/// call a chunk alone takes.
private func project(_ x: UnsafePointer<Float>, _ w: WeightMatrix, _ bias: FloatWeight?, into y: UnsafeMutablePointer<Float>,
                     rows: Int, share: Range<Int>, tile: UnsafeMutablePointer<Float>, tileFloats: Int, singleRows: Int) {
    let chunkRows = rows - singleRows
    if singleRows > 0 && chunkRows > 0 {
        let tileRows = w.widensTiles ? w.tileRows(scratchFloats: tileFloats)
            : w.readsInPlaceCutAnywhere(tokens: singleRows) && w.readsInPlaceCutAnywhere(tokens: chunkRows) ? w.cachedRows : share.count
        var first = share.lowerBound
        while first < share.upperBound {
            let part = first..<min(first + tileRows, share.upperBound)
            multiplyRows(x, w, into: y, rows: singleRows, share: part, tile: tile, tileFloats: tileFloats, eachRowAlone: true)
            multiplyRows(x + singleRows * w.columns, w, into: y + singleRows * w.rows, rows: chunkRows, share: part, tile: tile, tileFloats: tileFloats,
                         eachRowAlone: false)
            first = part.upperBound
        }
    } else {
        multiplyRows(x, w, into: y, rows: rows, share: share, tile: tile, tileFloats: tileFloats, eachRowAlone: singleRows > 0)
    }
    if let bias { addBias(y, ld: w.rows, bias.pointer, rows: rows, columns: share) }
}

/// Y [rows, share] = X [rows, in] · W [share, :]ᵀ, Y's rows W.rows apart: one token as a matrix-vector
/// product; `eachRowAlone` (separate sequences' decode steps), each row as its own token's where the
/// matrix takes 8-bit activations; else as many tokens together.
private func multiplyRows(_ x: UnsafePointer<Float>, _ w: WeightMatrix, into y: UnsafeMutablePointer<Float>,
                          rows: Int, share: Range<Int>, tile: UnsafeMutablePointer<Float>, tileFloats: Int, eachRowAlone: Bool) {
    if rows == 1 {
        w.multiplyVector(x, into: y, rows: share)
    } else if eachRowAlone, w.multiplyEachToken(x, m: rows, into: y, ldy: w.rows, rows: share, scratch: tile, scratchFloats: tileFloats) {
        // done: 8-bit activations, row by row
    } else {
        w.multiply(x, m: rows, into: y, ldy: w.rows, rows: share, scratch: tile, scratchFloats: tileFloats)
    }
}

/// x [rows, columns] += y [rows, columns] (+ bias [columns]): a sublayer's output into the residual
/// stream, for one thread's share of the columns of [rows, n] matrices.
private func addResidual(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, _ bias: FloatWeight?, rows: Int, n: Int, columns: Range<Int>) {
    for r in 0..<rows {
        let row = x + r * n, update = y + r * n
        var i = columns.lowerBound
        if let bias = bias?.pointer {
            while i + 8 <= columns.upperBound { store8(load8(row + i) + (load8(update + i) + load8(bias + i)), row + i); i += 8 }
            while i < columns.upperBound { row[i] += update[i] + bias[i]; i += 1 }
        } else {
            while i + 8 <= columns.upperBound { store8(load8(row + i) + load8(update + i), row + i); i += 8 }
            while i < columns.upperBound { row[i] += update[i]; i += 1 }
        }
    }
}
