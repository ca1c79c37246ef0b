import QKVFormat

/// A weight as f32 values in memory: the mapped bytes themselves for an f32 file (no copy), else a copy
/// made once at load (f16, bf16 widened; q8_0 dequantized).
struct FloatWeight: @unchecked Sendable {
    let view: TensorView
    let pointer: UnsafePointer<Float>

    init(_ file: any WeightFile, _ name: String) throws {
        var view = try file.tensor(name)
        if view.dtype == .q8_0 { view = DTypeConversion.dequantizeQ8_0(view) }
        if view.dtype != .f32 { view = view.converted(to: .f32) }
        // A mapped f32 tensor is used in place when it is float-aligned (always in .qkv, whose tensors
        // start on 64 bytes; safetensors only promises the 8-byte header alignment, GGUF its own).
        let aligned = view.withUnsafeBytes { Int(bitPattern: $0.baseAddress) % MemoryLayout<Float>.alignment == 0 }
        if !aligned { view = view.converted(to: .f32) }   // a copy into an aligned buffer
        self.view = view
        // The view keeps its storage alive for as long as this weight lives.
        pointer = view.withUnsafeBytes { UnsafePointer($0.baseAddress!.assumingMemoryBound(to: Float.self)) }
    }
}

/// A BERT-style encoder (post-norm, learned positions, exact GELU) over a model file's weights, as
/// Hugging Face's BertModel computes it; the forward pass reads top to bottom in `hiddenStates`.
public final class BertEncoder: @unchecked Sendable {
    public let config: ModelConfig

    // embeddings
    let tokenEmbedding: FloatWeight      // [V, D]
    let positionEmbedding: FloatWeight   // [P, D]
    let tokenTypeEmbedding: FloatWeight? // [T, D]
    let embeddingNorm: (weight: FloatWeight, bias: FloatWeight) // [D]

    struct Layer {
        let query, key, value: FloatWeight               // [H·d, D]: the per-head slabs, read as one matrix
        let queryBias, keyBias, valueBias: FloatWeight   // [H·d]
        let output: FloatWeight                          // [H·d, D]: head h's rows are its slice of W_O
        let outputBias: FloatWeight                      // [D]
        let attentionNorm: (weight: FloatWeight, bias: FloatWeight)
        let up: FloatWeight, upBias: FloatWeight         // [F, D], [F]
        let down: FloatWeight, downBias: FloatWeight     // [D, F], [D]
        let mlpNorm: (weight: FloatWeight, bias: FloatWeight)
    }
    let layers: [Layer]

    /// Loads the weights of a BERT model file; f32 tensors stay in the mapping.
    public init(_ model: ModelFile) throws {
        let config = model.config
        guard config.family == .bert, config.norm == .layernorm, config.normPlacement == .post, config.positionEncoding == .learned,
              config.activation == .geluErf, config.attentionBias, config.mlpBias, config.embeddingNorm, !config.gatedMLP else {
            throw InferenceError.unsupportedModel(file: model.file.path, reason: "not a BERT encoder (post-norm LayerNorm, learned positions, exact GELU, biases)")
        }
        self.config = config
        let file = model.file
        func w(_ name: String) throws -> FloatWeight { try FloatWeight(file, name) }
        tokenEmbedding = try w("embed/token/weight")
        positionEmbedding = try w("embed/position/weight")
        tokenTypeEmbedding = config.typeVocabSize > 0 ? try w("embed/token_type/weight") : nil
        embeddingNorm = (try w("embed/norm/weight"), try w("embed/norm/bias"))
        layers = try (0..<config.layerCount).map { i in
            let p = "layers/\(i)/"
            return Layer(
                query: try w(p + "attn/q/weight"), key: try w(p + "attn/k/weight"), value: try w(p + "attn/v/weight"),
                queryBias: try w(p + "attn/q/bias"), keyBias: try w(p + "attn/k/bias"), valueBias: try w(p + "attn/v/bias"),
                output: try w(p + "attn/o/weight"), outputBias: try w(p + "attn/o/bias"),
                attentionNorm: (try w(p + "attn_norm/weight"), try w(p + "attn_norm/bias")),
                up: try w(p + "mlp/up/weight"), upBias: try w(p + "mlp/up/bias"),
                down: try w(p + "mlp/down/weight"), downBias: try w(p + "mlp/down/bias"),
                mlpNorm: (try w(p + "mlp_norm/weight"), try w(p + "mlp_norm/bias")))
        }
    }

    /// The last hidden states of several sequences, packed: row `offsets[s] + i` is token i of sequence
    /// s. Sequences are packed end to end, not padded, so no work is spent on padding; only attention
    /// looks at one sequence at a time.
    public func hiddenStates(_ sequences: [[Int]]) throws(InferenceError) -> (states: [Float], offsets: [Int]) {
        let D = config.modelDim, H = config.headCount, d = config.headDim, F = config.ffnDim
        let HD = H * d
        var offsets: [Int] = []
        var total = 0
        for s in sequences {
            guard s.count <= config.maxPositions else { throw .sequenceTooLong(tokens: s.count, maxPositions: config.maxPositions) }
            if let bad = s.first(where: { $0 < 0 || $0 >= config.vocabSize }) { throw .tokenOutOfRange(id: bad, vocabSize: config.vocabSize) }
            offsets.append(total)
            total += s.count
        }
        let N = total
        var x = [Float](repeating: 0, count: N * D)        // residual stream [N, D]
        var q = [Float](repeating: 0, count: N * HD)       // [N, H·d]
        var k = [Float](repeating: 0, count: N * HD)
        var v = [Float](repeating: 0, count: N * HD)
        var z = [Float](repeating: 0, count: N * HD)       // every head's output, side by side
        var sublayer = [Float](repeating: 0, count: N * D) // attention or MLP output [N, D]
        var hidden = [Float](repeating: 0, count: N * F)   // MLP hidden [N, F]
        let longest = sequences.map(\.count).max() ?? 0
        var scores = [Float](repeating: 0, count: longest * longest)  // one head of one sequence [L, L]
        let scale = 1 / Float(d).squareRoot()
        let epsilon = Float(config.normEpsilon)

        // Embeddings: token + position + token type 0, then LayerNorm.
        x.withUnsafeMutableBufferPointer { x in
            for (s, ids) in sequences.enumerated() {
                for (i, id) in ids.enumerated() {
                    let row = x.baseAddress! + (offsets[s] + i) * D
                    let token = tokenEmbedding.pointer + id * D, position = positionEmbedding.pointer + i * D
                    for j in 0..<D { row[j] = token[j] + position[j] }
                    if let types = tokenTypeEmbedding { for j in 0..<D { row[j] += types.pointer[j] } }
                }
            }
            layerNorm(x.baseAddress!, weight: embeddingNorm.weight.pointer, bias: embeddingNorm.bias.pointer, rows: N, n: D, epsilon: epsilon)
        }

        for layer in layers {
            x.withUnsafeMutableBufferPointer { x in
            q.withUnsafeMutableBufferPointer { q in
            k.withUnsafeMutableBufferPointer { k in
            v.withUnsafeMutableBufferPointer { v in
            z.withUnsafeMutableBufferPointer { z in
            sublayer.withUnsafeMutableBufferPointer { out in
            hidden.withUnsafeMutableBufferPointer { hidden in
            scores.withUnsafeMutableBufferPointer { scores in
                let (x, q, k, v, z, out, hidden, scores) = (x.baseAddress!, q.baseAddress!, k.baseAddress!, v.baseAddress!,
                                                            z.baseAddress!, out.baseAddress!, hidden.baseAddress!, scores.baseAddress!)
                // Q, K, V for all heads at once: X [N, D] · W [H·d, D]ᵀ.
                matmulTransposed(x, layer.query.pointer, q, m: N, n: HD, k: D)
                matmulTransposed(x, layer.key.pointer, k, m: N, n: HD, k: D)
                matmulTransposed(x, layer.value.pointer, v, m: N, n: HD, k: D)
                addBias(q, layer.queryBias.pointer, rows: N, n: HD)
                addBias(k, layer.keyBias.pointer, rows: N, n: HD)
                addBias(v, layer.valueBias.pointer, rows: N, n: HD)

                // Each head of each sequence: P = softmax(Q_h K_hᵀ / √d), Z_h = P V_h.
                for (s, ids) in sequences.enumerated() {
                    let L = ids.count, row = offsets[s]
                    for h in 0..<H {
                        let column = row * HD + h * d
                        matmulTransposed(q + column, k + column, scores, m: L, n: L, k: d, lda: HD, ldb: HD, ldc: L, alpha: scale)
                        softmaxRows(scores, rows: L, n: L)
                        matmul(scores, v + column, z + column, m: L, n: d, k: L, lda: L, ldb: HD, ldc: HD)
                    }
                }

                // Every head's update through its slice of W_O: Z [N, H·d] · O [H·d, D]; residual; LayerNorm.
                matmul(z, layer.output.pointer, out, m: N, n: D, k: HD)
                addBias(out, layer.outputBias.pointer, rows: N, n: D)
                addInPlace(x, out, count: N * D)
                layerNorm(x, weight: layer.attentionNorm.weight.pointer, bias: layer.attentionNorm.bias.pointer, rows: N, n: D, epsilon: epsilon)

                // MLP: GELU(X W_upᵀ + b) W_downᵀ + b; residual; LayerNorm.
                matmulTransposed(x, layer.up.pointer, hidden, m: N, n: F, k: D)
                addBias(hidden, layer.upBias.pointer, rows: N, n: F)
                geluErf(hidden, count: N * F)
                matmulTransposed(hidden, layer.down.pointer, out, m: N, n: D, k: F)
                addBias(out, layer.downBias.pointer, rows: N, n: D)
                addInPlace(x, out, count: N * D)
                layerNorm(x, weight: layer.mlpNorm.weight.pointer, bias: layer.mlpNorm.bias.pointer, rows: N, n: D, epsilon: epsilon)
            }}}}}}}}
        }
        return (x, offsets)
    }
}
