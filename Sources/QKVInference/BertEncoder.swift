import QKVFormat

/// A small weight (a bias, a norm's scale) as f32 values in memory: the mapped bytes themselves for an
/// f32 file (no copy), else a copy made once at load (f16, bf16 widened; q8_0 dequantized). Matrices are
/// `WeightMatrix`, which never copies.
///
/// Unchecked `Sendable`: every field is immutable, and `pointer` points into `view`'s storage or into
/// `computed`, both kept alive here and read-only once the weight exists.
struct FloatWeight: @unchecked Sendable {
    let view: TensorView
    let pointer: UnsafePointer<Float>
    /// Floats computed at load (a norm's `offset + w`), owned here; nil when `pointer` is into `view`.
    private let computed: ComputedFloats?

    init(_ file: any WeightFile, _ name: String) throws {
        var view = try file.tensor(name)
        if view.dtype != .f32 { view = view.converted(to: .f32) }   // block types dequantize as ggml
        // A mapped f32 tensor is used in place when it is float-aligned (always in .qkv, whose tensors
        // start on 64 bytes; safetensors only promises the 8-byte header alignment, GGUF its own).
        let aligned = view.withUnsafeBytes { Int(bitPattern: $0.baseAddress) % MemoryLayout<Float>.alignment == 0 }
        if !aligned { view = view.converted(to: .f32) }   // a copy into an aligned buffer
        self.view = view
        // The view keeps its storage alive for as long as this weight lives.
        pointer = view.withUnsafeBytes { UnsafePointer($0.baseAddress!.assumingMemoryBound(to: Float.self)) }
        computed = nil
    }

    /// A norm weight `offset + w` in f32, as Gemma's RMSNorm computes `1 + w` before multiplying.
    init(_ file: any WeightFile, _ name: String, offset: Float) throws {
        let stored = try FloatWeight(file, name)
        guard offset != 0 else { self = stored; return }
        let count = stored.view.info.elementCount
        let buffer = ComputedFloats(count: count)
        for i in 0..<count { buffer.pointer[i] = offset + stored.pointer[i] }
        view = stored.view
        computed = buffer
        pointer = UnsafePointer(buffer.pointer)
    }
}

/// Floats a model computes once at load and keeps for its lifetime.
///
/// Unchecked `Sendable`: written only by the `FloatWeight` initializer that allocates it, before that
/// weight exists; read-only after.
final class ComputedFloats: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    init(count: Int) {
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }
    deinit { pointer.deallocate() }
}

/// A BERT-style encoder (post-norm, learned positions, exact GELU) over a model file's weights, as
/// Hugging Face's BertModel computes it; the forward pass reads top to bottom in `hiddenStates`.
public final class BertEncoder: Sendable {
    public let config: ModelConfig
    /// The threads and kernels the encoder computes with.
    public let context: ComputeContext

    // embeddings
    let tokenEmbedding: WeightMatrix      // [V, D]
    let positionEmbedding: WeightMatrix   // [P + position_offset, D]
    let tokenTypeEmbedding: WeightMatrix? // [T, D]
    let embeddingNorm: (weight: FloatWeight, bias: FloatWeight) // [D]

    struct Layer {
        let query, key, value: WeightMatrix              // [H·d, D]: the per-head slabs, read as one matrix
        let queryBias, keyBias, valueBias: FloatWeight   // [H·d]
        let output: WeightMatrix                         // [H·d, D]: head h's rows are its slice of W_O
        let outputBias: FloatWeight                      // [D]
        let attentionNorm: (weight: FloatWeight, bias: FloatWeight)
        let up: WeightMatrix, upBias: FloatWeight        // [F, D], [F]
        let down: WeightMatrix, downBias: FloatWeight    // [D, F], [D]
        let mlpNorm: (weight: FloatWeight, bias: FloatWeight)
    }
    let layers: [Layer]

    /// A sentence-transformers Dense module after pooling: `y = activation(W x + b)`.
    struct Dense {
        let weight: FloatWeight    // [outputs, inputs]
        let bias: FloatWeight?     // [outputs]
        let inputs: Int, outputs: Int
        let activation: ModelConfig.Dense.Activation
    }
    let dense: [Dense]

    /// Loads the weights of a BERT model file. The matrices stay in the mapping in their stored dtype
    /// (f32 used in place; f16, bf16 and q8_0 widened a tile at a time as the products need them).
    /// - Parameters:
    ///   - model: the open model file.
    ///   - activations: what the layers' products multiply (`ActivationPrecision`): `.bf16` rounds the
    ///     tokens and f32 or bf16 weights to bf16 where the CPU has AVX512_BF16 (faster, not exact).
    ///   - context: the threads and kernels to compute with.
    /// - Throws: `InferenceError.unsupportedModel` for a model that is not a BERT encoder; the
    ///   container's errors for a missing or malformed tensor.
    public init(_ model: ModelFile, activations: ActivationPrecision = .f32, context: ComputeContext = .default) throws {
        let config = model.config
        guard config.family == .bert, config.norm == .layernorm, config.normPlacement == .post, config.positionEncoding == .learned,
              config.activation == .geluErf, config.attentionBias, config.mlpBias, config.embeddingNorm, !config.gatedMLP,
              config.embeddingScale == 1, config.attentionScale == nil, config.attentionSoftcap == 0, config.attentionOutputLayout == .heads else {
            throw InferenceError.unsupportedModel(file: model.file.path, reason: "not a BERT encoder (post-norm LayerNorm, learned positions, exact GELU, biases)")
        }
        self.config = config
        self.context = context
        let file = model.file
        // Tensors by role (and layer): the schema's names, never spelled here.
        func w(_ role: TensorRole, _ layer: Int? = nil, bias: Bool = false) throws -> FloatWeight {
            try FloatWeight(file, role.tensorName(layer: layer, bias: bias))
        }
        func m(_ role: TensorRole, _ layer: Int? = nil) throws -> WeightMatrix {
            try WeightMatrix(file, role.tensorName(layer: layer), activations: layer == nil ? .f32 : activations)
        }
        tokenEmbedding = try m(.tokenEmbedding)
        positionEmbedding = try m(.positionEmbedding)
        tokenTypeEmbedding = config.typeVocabSize > 0 ? try m(.tokenTypeEmbedding) : nil
        embeddingNorm = (try w(.embeddingNorm), try w(.embeddingNorm, bias: true))
        layers = try (0..<config.layerCount).map { i in
            Layer(
                query: try m(.attentionQuery, i), key: try m(.attentionKey, i), value: try m(.attentionValue, i),
                queryBias: try w(.attentionQuery, i, bias: true), keyBias: try w(.attentionKey, i, bias: true),
                valueBias: try w(.attentionValue, i, bias: true),
                output: try m(.attentionOutput, i), outputBias: try w(.attentionOutput, i, bias: true),
                attentionNorm: (try w(.attentionNorm, i), try w(.attentionNorm, i, bias: true)),
                up: try m(.mlpUp, i), upBias: try w(.mlpUp, i, bias: true),
                down: try m(.mlpDown, i), downBias: try w(.mlpDown, i, bias: true),
                mlpNorm: (try w(.mlpNorm, i), try w(.mlpNorm, i, bias: true)))
        }
        var width = config.modelDim
        dense = try config.dense.enumerated().map { j, module in
            defer { width = module.outputs }
            return Dense(weight: try FloatWeight(file, TensorRole.dense.tensorName(layer: j)),
                         bias: module.bias ? try FloatWeight(file, TensorRole.dense.tensorName(layer: j, bias: true)) : nil,
                         inputs: width, outputs: module.outputs, activation: module.activation)
        }
    }

    /// Scratch memory, reused between passes; one workspace per concurrent caller.
    let workspaces = EncoderWorkspacePool()

    /// Every head's attention probabilities and updates for one sequence of token ids.
    public func attention(_ ids: [Int]) throws(InferenceError) -> AttentionRecord {
        let record = AttentionRecord(layerCount: config.layerCount, headCount: config.headCount, tokenCount: ids.count, isCausal: false)
        try withHiddenStates([ids], record: record) { _, _ in }
        return record
    }

    /// The last hidden states of several sequences, packed: row `offsets[s] + i` is token i of sequence
    /// s. Sequences are packed end to end, not padded, so no work is spent on padding; only attention
    /// looks at one sequence at a time.
    public func hiddenStates(_ sequences: [[Int]]) throws(InferenceError) -> (states: [Float], offsets: [Int]) {
        let D = config.modelDim
        return try withHiddenStates(sequences) { states, offsets in
            (Array(UnsafeBufferPointer(start: states, count: offsets[sequences.count] * D)), Array(offsets.dropLast()))
        }
    }

    /// Runs the encoder and hands `body` the packed last hidden states [N, D] (valid only inside `body`)
    /// and the offsets of the sequences, with N appended.
    /// With `record` (one sequence only), every head's probabilities and updates are recorded in it.
    /// With `ablations` (one per sequence, or empty), sequence s runs with head `ablations[s]` replaced
    /// before W_O (`ablateHead`), the others as they are.
    /// With `tokenTypes` (one list per sequence, as long as it, or empty for type 0 everywhere), token i
    /// of sequence s adds row `tokenTypes[s][i]` of the token type table (BERT's second segment of a pair).
    func withHiddenStates<R>(_ sequences: [[Int]], tokenTypes: [[Int]] = [], record: AttentionRecord? = nil, ablations: [HeadAblation?] = [],
                             _ body: (UnsafePointer<Float>, [Int]) -> R) throws(InferenceError) -> R {
        precondition(ablations.isEmpty || ablations.count == sequences.count, "one ablation (or nil) per sequence")
        precondition(tokenTypes.isEmpty || tokenTypes.map(\.count) == sequences.map(\.count), "one token type per token")
        var offsets: [Int] = [0]
        for s in sequences {
            guard s.count <= config.maxPositions else { throw .sequenceTooLong(tokens: s.count, maxPositions: config.maxPositions) }
            if let bad = s.first(where: { $0 < 0 || $0 >= config.vocabSize }) { throw .tokenOutOfRange(id: bad, vocabSize: config.vocabSize) }
            offsets.append(offsets.last! + s.count)
        }
        let types = max(config.typeVocabSize, 1)
        if let bad = tokenTypes.joined().first(where: { $0 < 0 || $0 >= types }) { throw .tokenTypeOutOfRange(type: bad, typeCount: config.typeVocabSize) }
        let workspace = workspaces.take(threads: context.threads)
        defer { workspaces.giveBack(workspace) }
        workspace.reserve(tokens: offsets.last!, longest: sequences.map(\.count).max() ?? 0,
                          ModelConfigDims(modelDim: config.modelDim, heads: config.headCount, headDim: config.headDim, ffnDim: config.ffnDim))
        context.withTeam(usesBLAS: true) { team in
            if team.size > 1 && sequences.count >= team.size {
                // A batch: whole sequences per thread, in runs of about equal cost; each thread runs the
                // encoder on its own rows with one-thread products and never waits for the others.
                let groups = costBalancedGroups(offsets, parts: team.size)
                team.run { t in
                    encode(sequences, groups[t], offsets: offsets, in: workspace, split: Split(parts: 1, thread: t, team: nil), tokenTypes: tokenTypes,
                           ablations: ablations)
                }
            } else {
                // One sequence (or fewer than threads): every step cut into shares for the whole team.
                encode(sequences, sequences.indices, offsets: offsets, in: workspace, split: Split(parts: team.size, thread: 0, team: team),
                       tokenTypes: tokenTypes, record: record, ablations: ablations)
            }
        }
        return body(workspace.x.pointer, offsets)
    }

    /// The forward pass over sequences `range` (rows offsets[range.lowerBound]..<offsets[range.upperBound]
    /// of the workspace), each step cut into `split.parts` shares that run at once.
    private func encode(_ sequences: [[Int]], _ range: Range<Int>, offsets: [Int], in ws: EncoderWorkspace, split: Split,
                        tokenTypes: [[Int]], record: AttentionRecord? = nil, ablations: [HeadAblation?] = []) {
        let D = config.modelDim, H = config.headCount, d = config.headDim, F = config.ffnDim
        let HD = H * d, P = split.parts
        let first = offsets[range.lowerBound], M = offsets[range.upperBound] - first
        guard M > 0 else { return }
        // This pass's rows of the workspace: x, out [M, D]; q, k, v, z [M, H·d]; hidden [M, F].
        let x = ws.x.pointer + first * D, out = ws.out.pointer + first * D
        let q = ws.q.pointer + first * HD, k = ws.k.pointer + first * HD, v = ws.v.pointer + first * HD, z = ws.z.pointer + first * HD
        let hidden = ws.hidden.pointer + first * F
        let scale = 1 / Float(d).squareRoot()
        let epsilon = Float(config.normEpsilon)

        // Embeddings: token + position (from row position_offset) + token type (0 unless given), then
        // LayerNorm (small: on this thread alone). The rows are widened from the tables (`out` is free
        // scratch here).
        for s in range {
            for (i, id) in sequences[s].enumerated() {
                let row = x + (offsets[s] - first + i) * D, term = out + (offsets[s] - first + i) * D
                tokenEmbedding.widenRow(id, 0..<D, into: row)
                positionEmbedding.widenRow(i + config.positionOffset, 0..<D, into: term)
                for j in 0..<D { row[j] += term[j] }
                if let types = tokenTypeEmbedding {
                    types.widenRow(tokenTypes.isEmpty ? 0 : tokenTypes[s][i], 0..<D, into: term)
                    for j in 0..<D { row[j] += term[j] }
                }
            }
        }
        layerNorm(x, weight: embeddingNorm.weight.pointer, bias: embeddingNorm.bias.pointer, rows: M, n: D, epsilon: epsilon)

        // Recording (`attention`, one sequence): each head's [L, L] probabilities, written by the threads
        // into their own heads' blocks, then copied into the record.
        let L = M
        let probabilities: UnsafeMutablePointer<Float>? = record == nil ? nil : .allocate(capacity: H * L * L)
        defer { probabilities?.deallocate() }

        for (index, layer) in layers.enumerated() {
            // Q, K, V for all heads at once: X [M, D] · W [H·d, D]ᵀ + b. Each share is a block of the 3·H·d
            // columns of [Q K V] side by side, so a share makes as few and as wide products as it can.
            split { p in
                let shared = share(3 * HD, part: p, of: P, align: 16), tile = ws.tiles[split.thread + p]
                func part(_ w: WeightMatrix, _ b: FloatWeight, into y: UnsafeMutablePointer<Float>, from first: Int) {
                    let inside = shared.clamped(to: first..<(first + HD))
                    guard !inside.isEmpty else { return }
                    let columns = (inside.lowerBound - first)..<(inside.upperBound - first)
                    w.multiply(x, m: M, into: y, ldy: HD, rows: columns, scratch: tile.pointer, scratchFloats: tile.capacity)
                    addBias(y, ld: HD, b.pointer, rows: M, columns: columns)
                }
                part(layer.query, layer.queryBias, into: q, from: 0)
                part(layer.key, layer.keyBias, into: k, from: HD)
                part(layer.value, layer.valueBias, into: v, from: 2 * HD)
            }

            // Each head of each sequence: Z_h = softmax(Q_h K_hᵀ / √d) V_h; each share is some (sequence, head) pairs.
            split { p in
                let keys = ws.keys[split.thread + p].pointer, scores = ws.scores[split.thread + p].pointer
                for pair in share(range.count * H, part: p, of: P) {
                    let s = range.lowerBound + pair / H, h = pair % H
                    let column = (offsets[s] - first) * HD + h * d
                    attentionHead(q: q + column, k: k + column, v: v + column, z: z + column, tokens: sequences[s].count,
                                  headDim: d, ld: HD, scale: scale, keys: keys, scores: scores,
                                  probabilities: probabilities.map { $0 + h * L * L })
                }
            }
            if let record, let probabilities {
                for h in 0..<H {
                    record.storeProbabilities(layer: index, head: h, firstQuery: 0, rows: L, keys: L, stride: L, probabilities + h * L * L)
                }
                layer.output.withFloats { record.storeUpdates(layer: index, firstQuery: 0, rows: L, heads: z, output: $0, headDim: d, modelDim: D) }
            }
            if !ablations.isEmpty {
                for s in range {
                    if let ablation = ablations[s], ablation.layer == index {
                        ablateHead(z + (offsets[s] - first) * HD, rows: sequences[s].count, ld: HD, headDim: d, ablation)
                    }
                }
            }

            // Every head's update through its slice of W_O: Z [M, H·d] · O [H·d, D]; bias, residual, LayerNorm.
            split { p in
                let columns = share(D, part: p, of: P, align: 32), tile = ws.tiles[split.thread + p]   // q8_0 blocks: 32
                layer.output.multiplyTransposed(z, m: M, into: out, ldy: D, columns: columns, scratch: tile.pointer, scratchFloats: tile.capacity)
            }
            split { p in
                let rows = share(M, part: p, of: P)
                addBiasResidualLayerNorm(x + rows.lowerBound * D, out + rows.lowerBound * D, bias: layer.outputBias.pointer,
                                         weight: layer.attentionNorm.weight.pointer, normBias: layer.attentionNorm.bias.pointer,
                                         rows: rows.count, n: D, epsilon: epsilon)
            }

            // MLP: GELU(X W_upᵀ + b) W_downᵀ + b; residual; LayerNorm.
            split { p in
                let columns = share(F, part: p, of: P, align: 16), tile = ws.tiles[split.thread + p]
                layer.up.multiply(x, m: M, into: hidden, ldy: F, rows: columns, scratch: tile.pointer, scratchFloats: tile.capacity)
                addBiasGELU(hidden, ld: F, layer.upBias.pointer, rows: M, columns: columns)
            }
            split { p in
                let columns = share(D, part: p, of: P, align: 16), tile = ws.tiles[split.thread + p]
                layer.down.multiply(hidden, m: M, into: out, ldy: D, rows: columns, scratch: tile.pointer, scratchFloats: tile.capacity)
            }
            split { p in
                let rows = share(M, part: p, of: P)
                addBiasResidualLayerNorm(x + rows.lowerBound * D, out + rows.lowerBound * D, bias: layer.downBias.pointer,
                                         weight: layer.mlpNorm.weight.pointer, normBias: layer.mlpNorm.bias.pointer,
                                         rows: rows.count, n: D, epsilon: epsilon)
            }
        }
    }
}

/// How the steps of one forward pass are shared out: `parts` shares, run at once by `team` (or, with
/// one part, on the calling thread, which is thread `thread` of an outer team and owns its scratch).
struct Split {
    let parts: Int
    let thread: Int
    let team: ComputeTeam?

    func callAsFunction(_ body: (Int) -> Void) {
        if let team, parts > 1 { team.run(body) } else { body(0) }
    }
}

/// Sequences cut into `parts` runs of about equal cost: run t is groups[t], a range of sequence indices;
/// `offsets` are the packed offsets with the total appended. A sequence of L tokens costs L · (1 + L / 256):
/// the products grow with L, attention with L², and runs about ten times slower per flop than the
/// products (SSE2 SIMD against OpenBLAS's AVX-512), which at MiniLM's sizes makes one L² term worth 1/256.
func costBalancedGroups(_ offsets: [Int], parts: Int) -> [Range<Int>] {
    let count = offsets.count - 1
    var cumulative = [0.0]
    for s in 0..<count {
        let L = Double(offsets[s + 1] - offsets[s])
        cumulative.append(cumulative[s] + L * (1 + L / 256))
    }
    var bounds = [0]
    for t in 1..<parts {
        let target = cumulative[count] * Double(t) / Double(parts)
        var s = bounds.last!
        // Move the boundary to the sequence start nearest the target.
        while s < count && cumulative[s + 1] <= target { s += 1 }
        if s < count && cumulative[s + 1] - target < target - cumulative[s] { s += 1 }
        bounds.append(s)
    }
    bounds.append(count)
    return (0..<parts).map { bounds[$0]..<bounds[$0 + 1] }
}
