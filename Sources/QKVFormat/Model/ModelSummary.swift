/// What `qkv inspect` reports about a file: container, config, parameter counts by component and dtype,
/// and optionally per-head weight norms. Codable, so `--json` and other programs read the same values.
public struct ModelSummary: Codable, Sendable {
    public struct DTypeTotal: Codable, Sendable {
        public var dtype: String
        public var tensors: Int
        public var parameters: Int
        public var bytes: Int
    }

    public struct Tensor: Codable, Sendable {
        public var name: String
        public var role: String?
        public var dtype: String
        public var shape: [Int]
        public var bytes: Int
    }

    /// Frobenius norms of one head's slabs in one layer. For GQA, `kvHead` is the key/value head this
    /// query head reads, and `key`/`value` are that head's norms.
    public struct Head: Codable, Sendable {
        public var layer: Int
        public var head: Int
        public var kvHead: Int
        public var query: Double
        public var key: Double
        public var value: Double
        public var output: Double

        public init(layer: Int, head: Int, kvHead: Int, query: Double, key: Double, value: Double, output: Double) {
            (self.layer, self.head, self.kvHead) = (layer, head, kvHead)
            (self.query, self.key, self.value, self.output) = (query, key, value, output)
        }
    }

    public var file: String
    public var format: String
    public var fileBytes: Int
    /// `config.*` and scalar `tokenizer.*` values, and `provenance.*` / `user.*`, rendered.
    public var config: [String: String]
    public var tokenizer: [String: String]
    public var provenance: [String: String]
    public var user: [String: String]
    /// Empty when the file follows the schema.
    public var schemaProblems: [String]
    public var parameters: Int
    /// By component (`embeddings`, `attention`, `mlp`, `norms`, `head`, and `other` for strays).
    public var parametersByComponent: [String: Int]
    /// Attention parameters per layer.
    public var attentionParametersByLayer: [Int]
    public var dtypes: [DTypeTotal]
    public var tensors: [Tensor]?
    public var heads: [Head]?

    /// Summarises `file`; `heads` reads the attention weights to compute per-head norms.
    public init(file: any WeightFile, fileBytes: Int, includeTensors: Bool, includeHeads: Bool) throws {
        self.file = file.path
        // PyTorch weights are read as a Hugging Face checkpoint; say which files they were.
        self.format = (file as? HFCheckpoint)?.sourceFormat ?? file.format.rawValue
        self.fileBytes = fileBytes
        func render(_ section: MetadataSection) -> [String: String] {
            var out: [String: String] = [:]
            for name in file.metadata.names(in: section) {
                let value = file.metadata["\(section.rawValue).\(name)"]!
                // Config arrays are short (one entry per layer or rotated pair): shown in full.
                switch (section, value) {
                case (.config, .int32Array(let v)): out[name] = "[" + v.map(String.init).joined(separator: ", ") + "]"
                case (.config, .float32Array(let v)): out[name] = "[" + v.map { "\($0)" }.joined(separator: ", ") + "]"
                case (.config, .stringArray(let v)): out[name] = "[" + v.joined(separator: ", ") + "]"
                // The prompt names (a handful), not the vocabulary.
                case (.tokenizer, .stringArray(let v)) where name == "prompt_names": out[name] = "[" + v.joined(separator: ", ") + "]"
                default: out[name] = value.description
                }
            }
            return out
        }
        config = render(.config)
        tokenizer = render(.tokenizer)
        provenance = render(.provenance)
        user = render(.user)
        let problems = ModelFile.problems(in: file)
        schemaProblems = problems.map(\.description)

        parameters = file.tensors.reduce(0) { $0 + $1.elementCount }
        var byComponent: [String: Int] = [:]
        var byDType: [DType: DTypeTotal] = [:]
        for info in file.tensors {
            byComponent[info.role?.component.rawValue ?? "other", default: 0] += info.elementCount
            var total = byDType[info.dtype] ?? DTypeTotal(dtype: info.dtype.name, tensors: 0, parameters: 0, bytes: 0)
            total.tensors += 1
            total.parameters += info.elementCount
            total.bytes += info.byteCount
            byDType[info.dtype] = total
        }
        parametersByComponent = byComponent
        dtypes = byDType.keys.sorted { $0.rawValue < $1.rawValue }.map { byDType[$0]! }

        let model = problems.isEmpty ? try ModelFile(file) : nil
        attentionParametersByLayer = []
        if let config = model?.config {
            attentionParametersByLayer = (0..<config.layerCount).map { layer in
                file.tensors.filter { $0.name.hasPrefix("layers/\(layer)/") && $0.role?.component == .attention }.reduce(0) { $0 + $1.elementCount }
            }
        }
        tensors = includeTensors ? file.tensors.map {
            Tensor(name: $0.name, role: $0.role?.name, dtype: $0.dtype.name, shape: $0.shape, bytes: $0.byteCount)
        } : nil
        heads = nil
        if includeHeads, let model {
            heads = try HeadStatistics.norms(model)
        }
    }
}

/// Per-head statistics of the stored attention weights.
public enum HeadStatistics {
    /// Frobenius norms of W_Q, W_K, W_V and W_O per layer and query head: each head's slab is contiguous,
    /// so each norm is one pass over one slab.
    public static func norms(_ model: ModelFile) throws -> [ModelSummary.Head] {
        let config = model.config
        var heads: [ModelSummary.Head] = []
        for layer in 0..<config.layerCount {
            func slabNorms(_ role: TensorRole) throws -> [Double] {
                let view = try model.file.tensor(role.tensorName(layer: layer))
                if role == .attentionOutput && config.attentionOutputLayout == .rows {
                    // [D, H·d]: head h is columns h·d ..< (h+1)·d of every row.
                    let floats = (view.dtype == .f32 ? view : view.converted(to: .f32)).floats()
                    let (d, width) = (config.headDim, config.headCount * config.headDim)
                    return (0..<config.headCount).map { h in
                        var sum = 0.0
                        for row in 0..<(floats.count / width) {
                            for j in (h * d)..<((h + 1) * d) { let v = Double(floats[row * width + j]); sum += v * v }
                        }
                        return sum.squareRoot()
                    }
                }
                return (0..<view.shape[0]).map { frobenius(view.slab($0)) }
            }
            let (q, k, v, o) = (try slabNorms(.attentionQuery), try slabNorms(.attentionKey), try slabNorms(.attentionValue),
                                try slabNorms(.attentionOutput))
            for head in 0..<config.headCount {
                let kv = config.keyValueHead(forQueryHead: head)
                heads.append(.init(layer: layer, head: head, kvHead: kv, query: q[head], key: k[kv], value: v[kv], output: o[head]))
            }
        }
        return heads
    }

    /// sqrt(sum of squares), accumulated in f64 (block types over their ggml dequantization).
    public static func frobenius(_ view: TensorView) -> Double {
        guard view.dtype.isFloat || view.dtype.isBlockQuantized else { return .nan }
        let values = view.dtype.isBlockQuantized ? view.converted(to: .f32) : view
        var sum = 0.0
        for x in values.floats() { sum += Double(x) * Double(x) }
        return sum.squareRoot()
    }
}
