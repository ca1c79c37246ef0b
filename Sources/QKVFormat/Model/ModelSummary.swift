/// What `qkv inspect` reports about a file: container, config, tokenizer, parameter counts by component
/// and dtype, and optionally per-head weight norms; `json` is the same as one JSON document.
public struct ModelSummary: Sendable {
    public struct DTypeTotal: Sendable {
        public var dtype: DType
        public var tensors: Int
        public var parameters: Int
        public var bytes: Int
    }

    public struct Tensor: Sendable {
        public var name: String
        /// Nil for a tensor the schema has no place for.
        public var role: TensorRole?
        public var dtype: DType
        public var shape: [Int]
        public var bytes: Int
    }

    /// Frobenius norms of one head's slabs in one layer. For GQA, `kvHead` is the key/value head this
    /// query head reads, and `key`/`value` are that head's norms.
    public struct Head: Sendable {
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

    /// The `tokenizer.*` values the report names: its kind, vocabulary size and prompts.
    public struct TokenizerFacts: Sendable {
        /// `tokenizer.kind` as the file has it (`wordpiece`, `sentencepiece_bpe`, ...).
        public var kind: String
        /// Entries of `tokenizer.tokens`; nil when the file has no token list.
        public var tokenCount: Int?
        /// `tokenizer.prompt_names`: the prompts a sentence-transformers model was exported with.
        public var promptNames: [String]?
        public var defaultPromptName: String?
    }

    public var file: String
    public var format: String
    public var fileBytes: Int
    /// The file's config, read and checked as a model would read it; nil when its `config` section does
    /// not make one (the problems say why).
    public var config: ModelConfig?
    /// The architecture an import recorded (`provenance.architecture`: `gemma3`, `qwen2`, ...).
    public var architecture: String?
    /// Nil when the file has no `tokenizer.kind`.
    public var tokenizer: TokenizerFacts?
    /// Each metadata section's entries as text, keyed by name without the section: `config.*`, scalar
    /// `tokenizer.*` values, `provenance.*` and `user.*`. Config arrays (one entry per layer or rotated
    /// pair) and the prompt names are shown in full, other arrays as their type and length.
    public var values: [MetadataSection: [String: String]]
    /// Empty when the file follows the schema.
    public var schemaProblems: [String]
    public var parameters: Int
    /// Parameters by component; tensors outside the schema are counted in `strayParameters`.
    public var parametersByComponent: [TensorRole.Component: Int]
    /// Parameters of tensors without a role in the schema (reported as `other`).
    public var strayParameters: Int
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
        let metadata = file.metadata
        func render(_ section: MetadataSection) -> [String: String] {
            var out: [String: String] = [:]
            for name in metadata.names(in: section) {
                let value = metadata["\(section.rawValue).\(name)"]!
                switch (section, value) {
                case (.config, .int32Array(let v)): out[name] = "[" + v.map(String.init).joined(separator: ", ") + "]"
                case (.config, .float32Array(let v)): out[name] = "[" + v.map { "\($0)" }.joined(separator: ", ") + "]"
                case (.config, .stringArray(let v)): out[name] = "[" + v.joined(separator: ", ") + "]"
                case (.tokenizer, .stringArray(let v)) where name == "prompt_names": out[name] = "[" + v.joined(separator: ", ") + "]"
                default: out[name] = value.description
                }
            }
            return out
        }
        values = Dictionary(uniqueKeysWithValues: [MetadataSection.config, .tokenizer, .provenance, .user].map { ($0, render($0)) })
        config = try? ModelConfig(metadata: metadata, file: file.path)
        if case .string(let name)? = metadata["provenance.architecture"] { architecture = name }
        if case .string(let kind)? = metadata["tokenizer.kind"] {
            var facts = TokenizerFacts(kind: kind)
            if case .stringArray(let tokens)? = metadata["tokenizer.tokens"] { facts.tokenCount = tokens.count }
            if case .stringArray(let names)? = metadata["tokenizer.prompt_names"] { facts.promptNames = names }
            if case .string(let name)? = metadata["tokenizer.default_prompt_name"] { facts.defaultPromptName = name }
            tokenizer = facts
        }
        let problems = ModelFile.problems(in: file)
        schemaProblems = problems.map(\.description)

        parameters = file.tensors.reduce(0) { $0 + $1.elementCount }
        var byComponent: [TensorRole.Component: Int] = [:]
        var strays = 0
        var byDType: [DType: DTypeTotal] = [:]
        for info in file.tensors {
            if let role = info.role { byComponent[role.component, default: 0] += info.elementCount } else { strays += info.elementCount }
            var total = byDType[info.dtype] ?? DTypeTotal(dtype: info.dtype, tensors: 0, parameters: 0, bytes: 0)
            total.tensors += 1
            total.parameters += info.elementCount
            total.bytes += info.byteCount
            byDType[info.dtype] = total
        }
        parametersByComponent = byComponent
        strayParameters = strays
        dtypes = byDType.keys.sorted { $0.rawValue < $1.rawValue }.map { byDType[$0]! }

        let model = problems.isEmpty ? try ModelFile(file) : nil
        attentionParametersByLayer = []
        if let config = model?.config {
            attentionParametersByLayer = (0..<config.layerCount).map { layer in
                file.tensors.filter { $0.name.hasPrefix("layers/\(layer)/") && $0.role?.component == .attention }.reduce(0) { $0 + $1.elementCount }
            }
        }
        tensors = includeTensors ? file.tensors.map {
            Tensor(name: $0.name, role: $0.role, dtype: $0.dtype, shape: $0.shape, bytes: $0.byteCount)
        } : nil
        heads = nil
        if includeHeads, let model {
            heads = try HeadStatistics.norms(model)
        }
    }

    /// The summary as one JSON object, keys sorted: `file`, `format`, `fileBytes`, the sections' text
    /// (`config`, `tokenizer`, `provenance`, `user`), `schemaProblems`, `parameters`,
    /// `parametersByComponent` (`other` for strays), `attentionParametersByLayer`, `dtypes`, and with
    /// their flags `tensors` and `heads` (norms that are not numbers, as of an integer tensor, are null).
    public var json: JSONValue {
        func sorted(_ members: [(String, JSONValue)]) -> JSONValue {
            .object(members.sorted { $0.0 < $1.0 }.map { (key: $0.0, value: $0.1) })
        }
        func text(_ section: MetadataSection) -> JSONValue { sorted((values[section] ?? [:]).map { ($0.key, .string($0.value)) }) }
        var components = parametersByComponent.map { ($0.key.rawValue, JSONValue.int($0.value)) }
        if strayParameters > 0 { components.append(("other", .int(strayParameters))) }
        var members: [(String, JSONValue)] = [
            ("file", .string(file)), ("format", .string(format)), ("fileBytes", .int(fileBytes)),
            ("config", text(.config)), ("tokenizer", text(.tokenizer)), ("provenance", text(.provenance)), ("user", text(.user)),
            ("schemaProblems", .strings(schemaProblems)), ("parameters", .int(parameters)),
            ("parametersByComponent", sorted(components)), ("attentionParametersByLayer", .ints(attentionParametersByLayer)),
            ("dtypes", .array(dtypes.map { d in
                sorted([("dtype", .string(d.dtype.name)), ("tensors", .int(d.tensors)), ("parameters", .int(d.parameters)), ("bytes", .int(d.bytes))])
            })),
        ]
        if let tensors {
            members.append(("tensors", .array(tensors.map { t in
                var fields: [(String, JSONValue)] = [("name", .string(t.name)), ("dtype", .string(t.dtype.name)), ("shape", .ints(t.shape)), ("bytes", .int(t.bytes))]
                if let role = t.role { fields.append(("role", .string(role.name))) }
                return sorted(fields)
            })))
        }
        if let heads {
            // A whole norm without its `.0` (`8`, not `8.0`), as inspect has always printed it.
            func norm(_ v: Double) -> JSONValue { v.isFinite && v == v.rounded() && abs(v) < 1e16 ? .number(String(Int64(v))) : .double(v) }
            members.append(("heads", .array(heads.map { h in
                sorted([("layer", .int(h.layer)), ("head", .int(h.head)), ("kvHead", .int(h.kvHead)), ("query", norm(h.query)),
                        ("key", norm(h.key)), ("value", norm(h.value)), ("output", norm(h.output))])
            })))
        }
        return sorted(members)
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
