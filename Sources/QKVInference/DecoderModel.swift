import COpenBLAS
import QKVFormat

/// A GPT-2 or LLaMA-style decoder (pre-norm, causal attention with a KV cache) over a model file's
/// weights, as Hugging Face's GPT2LMHeadModel and LlamaForCausalLM compute it. The forward pass reads top
/// to bottom in `forward`; the weights are read-only after `init`, so one model serves any number of
/// `DecoderSession`s on any threads.
public final class DecoderModel: @unchecked Sendable {
    public let config: ModelConfig

    /// LayerNorm (with bias) or RMSNorm (bias nil).
    struct Norm {
        let weight: FloatWeight
        let bias: FloatWeight?
    }

    struct Layer {
        let attentionNorm: Norm
        let query, key, value: FloatWeight               // [H·d, D], [K·d, D], [K·d, D]: per-head slabs read as one matrix
        let queryBias, keyBias, valueBias: FloatWeight?  // [H·d], [K·d], [K·d]
        let output: FloatWeight                          // [H·d, D]: head h's rows are its slice of W_O
        let outputBias: FloatWeight?                     // [D]
        let mlpNorm: Norm
        let up: FloatWeight, upBias: FloatWeight?        // [F, D], [F]
        let gate: FloatWeight?, gateBias: FloatWeight?   // [F, D], [F] (LLaMA's SwiGLU)
        let down: FloatWeight, downBias: FloatWeight?    // [D, F], [D]
    }

    let tokenEmbedding: FloatWeight       // [V, D]
    let positionEmbedding: FloatWeight?   // [P, D] (GPT-2)
    let layers: [Layer]
    let finalNorm: Norm
    let lmHead: FloatWeight               // [V, D]: the token embedding itself when tied

    /// Loads the weights of a decoder model file; f32 tensors stay in the mapping.
    public init(_ model: ModelFile) throws {
        let config = model.config
        let path = model.file.path
        guard config.isDecoder, config.normPlacement == .pre, !config.embeddingNorm, config.typeVocabSize == 0 else {
            throw InferenceError.unsupportedModel(file: path, reason: "not a pre-norm decoder (GPT-2 or LLaMA family)")
        }
        switch config.activation {
        case .silu where !config.gatedMLP:
            throw InferenceError.unsupportedModel(file: path, reason: "silu is supported only in a gated MLP")
        case .geluTanh, .geluErf, .silu: break
        }
        if config.positionEncoding == .rope, config.rope == nil || config.headDim % 2 != 0 {
            throw InferenceError.unsupportedModel(file: path, reason: "RoPE needs rope_theta and an even head_dim")
        }
        self.config = config
        let file = model.file
        func w(_ name: String) throws -> FloatWeight { try FloatWeight(file, name) }
        func optional(_ name: String, _ present: Bool) throws -> FloatWeight? { present ? try w(name) : nil }
        func norm(_ prefix: String) throws -> Norm {
            Norm(weight: try w(prefix + "/weight"), bias: try optional(prefix + "/bias", config.norm == .layernorm))
        }
        tokenEmbedding = try w("embed/token/weight")
        positionEmbedding = try optional("embed/position/weight", config.positionEncoding == .learned)
        layers = try (0..<config.layerCount).map { i in
            let p = "layers/\(i)/", a = config.attentionBias, m = config.mlpBias
            return Layer(
                attentionNorm: try norm(p + "attn_norm"),
                query: try w(p + "attn/q/weight"), key: try w(p + "attn/k/weight"), value: try w(p + "attn/v/weight"),
                queryBias: try optional(p + "attn/q/bias", a), keyBias: try optional(p + "attn/k/bias", a),
                valueBias: try optional(p + "attn/v/bias", a),
                output: try w(p + "attn/o/weight"), outputBias: try optional(p + "attn/o/bias", a),
                mlpNorm: try norm(p + "mlp_norm"),
                up: try w(p + "mlp/up/weight"), upBias: try optional(p + "mlp/up/bias", m),
                gate: try optional(p + "mlp/gate/weight", config.gatedMLP),
                gateBias: try optional(p + "mlp/gate/bias", config.gatedMLP && m),
                down: try w(p + "mlp/down/weight"), downBias: try optional(p + "mlp/down/bias", m))
        }
        finalNorm = try norm("final_norm")
        lmHead = config.tiedEmbeddings ? tokenEmbedding : try w("lm_head/weight")
    }

    /// A new, empty KV cache and scratch space for one sequence of up to `capacity` tokens (at most the
    /// model's positions).
    public func makeSession(capacity: Int? = nil) -> DecoderSession {
        makeSession(capacity: capacity, chunkTokens: DecoderSession.defaultChunkTokens)
    }

    /// A session whose forward steps take at most `chunkTokens` tokens at once (tests use small chunks).
    func makeSession(capacity: Int?, chunkTokens: Int) -> DecoderSession {
        DecoderSession(config: config, capacity: min(capacity ?? config.maxPositions, config.maxPositions), chunkTokens: chunkTokens)
    }

    /// Which positions' logits `forward` returns.
    public enum Logits: Sendable { case last, all }

    /// Runs `tokens` through the model after what `session` already holds, appends their keys and values
    /// to its cache and returns the logits [rows, V] of the last or of every new position.
    /// With `record`, every head's probabilities and updates for these tokens go into it (its rows from
    /// the session's current length on).
    public func forward(_ tokens: [Int], session: DecoderSession, logits: Logits = .last,
                        record: AttentionRecord? = nil) throws(InferenceError) -> [Float] {
        guard session.length + tokens.count <= session.capacity else {
            throw .sequenceTooLong(tokens: session.length + tokens.count, maxPositions: session.capacity)
        }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= config.vocabSize }) { throw .tokenOutOfRange(id: bad, vocabSize: config.vocabSize) }
        let V = config.vocabSize
        var out: [Float] = []
        out.reserveCapacity((logits == .all ? tokens.count : 1) * V)
        // Long prompts go through in chunks, so scratch space stays bounded.
        var start = 0
        while start < tokens.count {
            let chunk = Array(tokens[start..<min(start + session.chunkTokens, tokens.count)])
            let isLast = start + chunk.count == tokens.count
            forwardChunk(chunk, session: session, logitRows: logits == .all ? chunk.count : (isLast ? 1 : 0), record: record, into: &out)
            start += chunk.count
        }
        return out
    }

    /// One chunk of at most `session.chunkTokens` tokens: the forward pass, top to bottom.
    /// Appends the logits of the chunk's last `logitRows` positions to `out`.
    private func forwardChunk(_ tokens: [Int], session s: DecoderSession, logitRows: Int, record: AttentionRecord?, into out: inout [Float]) {
        let D = config.modelDim, H = config.headCount, K = config.keyValueHeadCount, d = config.headDim
        let F = config.ffnDim, V = config.vocabSize
        let HD = H * d, KD = K * d, group = config.queriesPerKeyValueHead
        let T = tokens.count, start = s.length, end = start + T
        let epsilon = Float(config.normEpsilon), scale = 1 / Float(d).squareRoot()
        let x = s.residual, h = s.normed, q = s.query, k = s.key, v = s.value, z = s.heads
        let sub = s.sublayer, up = s.up, gateBuffer = s.gate, scores = s.scores

        // Embeddings: token (+ learned position).
        for (t, id) in tokens.enumerated() {
            let row = x + t * D, token = tokenEmbedding.pointer + id * D
            if let positions = positionEmbedding {
                let position = positions.pointer + (start + t) * D
                for j in 0..<D { row[j] = token[j] + position[j] }
            } else {
                for j in 0..<D { row[j] = token[j] }
            }
        }

        for (index, layer) in layers.enumerated() {
            // Attention: norm, Q K V for all heads at once, RoPE, append K V to the cache.
            normalize(x, layer.attentionNorm, into: h, rows: T, epsilon: epsilon)
            project(h, layer.query, layer.queryBias, into: q, rows: T, out: HD, in: D)
            project(h, layer.key, layer.keyBias, into: k, rows: T, out: KD, in: D)
            project(h, layer.value, layer.valueBias, into: v, rows: T, out: KD, in: D)
            if let rope = config.rope {
                for t in 0..<T {
                    ropeAngles(position: start + t, headDim: d, theta: rope.theta, cos: s.cos, sin: s.sin)
                    applyRope(q + t * HD, heads: H, headDim: d, interleaved: rope.layout == .interleaved, cos: s.cos, sin: s.sin)
                    applyRope(k + t * KD, heads: K, headDim: d, interleaved: rope.layout == .interleaved, cos: s.cos, sin: s.sin)
                }
            }
            s.append(keys: k, values: v, tokens: T, layer: index)

            // Each query head against its key/value head's cache: P = softmax(Q_h K_hᵀ / √d) with the causal
            // mask (token t sees positions ≤ start + t), Z_h = P V_h.
            for head in 0..<H {
                let keys = s.keys(layer: index, head: head / group), values = s.values(layer: index, head: head / group)
                let qh = q + head * d, zh = z + head * d
                if T == 1 {
                    keyScores(keys, qh, scores, positions: end, d: d, scale: scale)
                    softmaxRows(scores, rows: 1, n: end)
                    record?.storeProbabilities(layer: index, head: head, firstQuery: start, rows: 1, keys: end, stride: end, scores)
                    weightedValues(values, scores, zh, positions: end, d: d)
                } else {
                    matmulTransposed(qh, keys, scores, m: T, n: end, k: d, lda: HD, ldb: d, ldc: end, alpha: scale)
                    for t in 0..<T {
                        // The causal mask: softmax over the visible keys only, the future exactly 0.
                        let row = scores + t * end, visible = start + t + 1
                        softmaxRows(row, rows: 1, n: visible)
                        (row + visible).update(repeating: 0, count: end - visible)
                    }
                    record?.storeProbabilities(layer: index, head: head, firstQuery: start, rows: T, keys: end, stride: end, scores)
                    matmul(scores, values, zh, m: T, n: d, k: end, lda: end, ldb: d, ldc: HD)
                }
            }

            // Every head's update through its slice of W_O, added to the residual stream.
            record?.storeUpdates(layer: index, firstQuery: start, rows: T, heads: z, output: layer.output.pointer, headDim: d, modelDim: D)
            matmulAsRows(z, layer.output.pointer, into: sub, rows: T, n: D, k: HD)
            if let bias = layer.outputBias { addBias(sub, bias.pointer, rows: T, n: D) }
            addInPlace(x, sub, count: T * D)

            // MLP: act(h W_upᵀ + b) (or silu(h W_gateᵀ) · h W_upᵀ) W_downᵀ + b, added to the residual stream.
            normalize(x, layer.mlpNorm, into: h, rows: T, epsilon: epsilon)
            project(h, layer.up, layer.upBias, into: up, rows: T, out: F, in: D)
            if let gate = layer.gate {
                project(h, gate, layer.gateBias, into: gateBuffer, rows: T, out: F, in: D)
                siluGate(gateBuffer, up: up, count: T * F)
                project(gateBuffer, layer.down, layer.downBias, into: sub, rows: T, out: D, in: F)
            } else {
                if config.activation == .geluTanh { geluTanh(up, count: T * F) } else { geluErf(up, count: T * F) }
                project(up, layer.down, layer.downBias, into: sub, rows: T, out: D, in: F)
            }
            addInPlace(x, sub, count: T * D)
        }
        s.length = end

        // Final norm and LM head, for the rows asked for.
        guard logitRows > 0 else { return }
        let first = T - logitRows
        normalize(x + first * D, finalNorm, into: h, rows: logitRows, epsilon: epsilon)
        let base = out.count
        out.append(contentsOf: repeatElement(0, count: logitRows * V))
        out.withUnsafeMutableBufferPointer { out in
            linear(h, lmHead.pointer, out.baseAddress! + base, m: logitRows, n: V, k: D)
        }
    }

    /// Every head's attention and update for `tokens`, run from an empty cache.
    public func attention(_ tokens: [Int]) throws(InferenceError) -> AttentionRecord {
        let record = AttentionRecord(layerCount: config.layerCount, headCount: config.headCount, tokenCount: tokens.count, isCausal: true)
        _ = try forward(tokens, session: makeSession(capacity: max(tokens.count, 1)), record: record)
        return record
    }

    /// LayerNorm or RMSNorm of x [rows, D] into out.
    private func normalize(_ x: UnsafeMutablePointer<Float>, _ norm: Norm, into out: UnsafeMutablePointer<Float>, rows: Int, epsilon: Float) {
        let D = config.modelDim
        if let bias = norm.bias {
            if out != x { out.update(from: x, count: rows * D) }
            layerNorm(out, weight: norm.weight.pointer, bias: bias.pointer, rows: rows, n: D, epsilon: epsilon)
        } else {
            rmsNorm(x, weight: norm.weight.pointer, into: out, rows: rows, n: D, epsilon: epsilon)
        }
    }

    /// Y [rows, out] = X [rows, in] · Wᵀ (+ bias).
    private func project(_ x: UnsafePointer<Float>, _ w: FloatWeight, _ bias: FloatWeight?, into y: UnsafeMutablePointer<Float>,
                         rows: Int, out: Int, in: Int) {
        linear(x, w.pointer, y, m: rows, n: out, k: `in`)
        if let bias { addBias(y, bias.pointer, rows: rows, n: out) }
    }
}

/// Y [rows, n] = X [rows, k] · W [k, n]; one row through sgemv.
private func matmulAsRows(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Int, n: Int, k: Int) {
    if rows == 1 {
        cblas_sgemv(CblasRowMajor, CblasTrans, Int32(k), Int32(n), 1, w, Int32(n), x, 1, 0, y, 1)
    } else {
        matmul(x, w, y, m: rows, n: n, k: k)
    }
}

/// scores [positions] = keys [positions, d] · q [d] · scale.
private func keyScores(_ keys: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ scores: UnsafeMutablePointer<Float>,
                             positions: Int, d: Int, scale: Float) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(positions), Int32(d), scale, keys, Int32(d), q, 1, 0, scores, 1)
}

/// z [d] = values [positions, d]ᵀ · p [positions].
private func weightedValues(_ values: UnsafePointer<Float>, _ p: UnsafePointer<Float>, _ z: UnsafeMutablePointer<Float>,
                               positions: Int, d: Int) {
    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(positions), Int32(d), 1, values, Int32(d), p, 1, 0, z, 1)
}
