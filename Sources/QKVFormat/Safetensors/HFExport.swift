import Foundation

/// Writes canonical models as Hugging Face safetensors (Specs/architectures.md read backwards): the
/// family's map inverted, tensors in Hugging Face names and layouts (`[out, in]` Linear weights, GPT-2's
/// fused Conv1D `c_attn`), streamed through a temporary file.
///
/// The canonical metadata travels in `__metadata__["qkv.metadata"]` (JSON), so a `.safetensors` written
/// by qkv reads back on its own; a folder output also gets a `config.json` that transformers loads.
final class HFExportWriter: ContainerWriter {
    /// One output tensor: its Hugging Face name and shape, and the canonical tensors it is built from.
    struct Output {
        var name: String
        var shape: [Int]
        var dtype: DType
        var sources: [String]
        var transform: TensorTransform
        var begin = 0
        /// Added to a norm weight, written as f32: the model's `norm_weight_offset` minus the architecture's.
        var normShift: Float = 0
    }

    private let output: AtomicOutput
    private var outputs: [Output]
    /// Canonical name -> index of the output it feeds.
    private var consumer: [String: Int] = [:]
    private var pending: [String: TensorView] = [:]
    /// For blocks of fused weights: the first row each canonical tensor takes.
    private var rowFirst: [String: Int] = [:]
    private var written = 0
    private let dataStart: Int
    private let configJSON: String?
    private let folder: String?
    /// Tokenizer and sentence-transformers files for a folder output.
    private let extraFiles: [(name: String, text: String)]
    /// The Dense modules' tensors (small), kept until `finish()` writes each module's folder.
    private var denseTensors: [String: (dtype: DType, shape: [Int], bytes: [UInt8])] = [:]
    private let denseCount: Int

    /// `target` is a `.safetensors` file, or a folder (written as `model.safetensors` + `config.json`).
    /// `config` and `tokenizer` are the model's, as checked when it was read; `metadata` is what the file
    /// embeds (`config` and `tokenizer` as entries, and provenance).
    init(target: String, inputs: [String], config: ModelConfig, tokenizer: TokenizerData?, metadata: Metadata,
         tensors: [TensorInfo], options: WriteOptions) throws {
        precondition(tensors.allSatisfy { ContainerFormat.safetensors.canStore($0.dtype) }, "the converter checks dtypes first")
        var config = config
        guard let arch = Architectures.forExport(config, metadata: metadata) else {
            throw ConversionError.unsupportedTarget(output: target, reason: "no Hugging Face architecture qkv writes holds this model (Specs/architectures.md)")
        }
        let map = Architectures.hfMap(arch, config)
        // Norm weights as the architecture stores them (Gemma: `w` of `1 + w`), and the embedded config
        // saying so, so the folder reads back as the same computation.
        let normShift = Float(config.normWeightOffset - arch.hfNormWeightOffset)
        var metadata = metadata
        if normShift != 0 {
            config.normWeightOffset = arch.hfNormWeightOffset
            metadata["config.norm_weight_offset"] = config.metadata["config.norm_weight_offset"]
        }
        var isDirectory: ObjCBool = false
        let isFolder = target.hasSuffix("/") || (FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory) && isDirectory.boolValue)
        if isFolder {
            try? FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            folder = target.hasSuffix("/") ? String(target.dropLast()) : target
        } else {
            folder = nil
        }
        let weightsPath = folder.map { "\($0)/model.safetensors" } ?? target
        // sentence-transformers keeps each Dense module in its own folder, which a single file cannot hold.
        if folder == nil && !config.dense.isEmpty {
            throw ConversionError.unsupportedTarget(output: target, reason: "the model has sentence-transformers Dense modules, which live in their own module folders; write a folder (end the output with /)")
        }
        denseCount = config.dense.count

        // Invert the map: group canonical tensors by the Hugging Face tensor they become.
        var outputs: [Output] = []
        var byName: [String: Int] = [:]
        for info in tensors where info.role != .dense {
            guard let row = map.row(for: info.name) else { throw ImportError.unmappedTensors(file: target, tensors: [info.name]) }
            let hfName = map.exportName(row.source)
            if case .rowRange(let first, _, _) = row.transform { rowFirst[info.name] = first }
            if let i = byName[hfName] {
                outputs[i].sources.append(info.name)
                consumer[info.name] = i
                continue
            }
            byName[hfName] = outputs.count
            consumer[info.name] = outputs.count
            let shift = info.role?.component == .norms && info.name.hasSuffix("/weight") ? normShift : 0
            outputs.append(Output(name: hfName, shape: HFExportWriter.hfShape(of: info, transform: row.transform), dtype: shift != 0 ? .f32 : info.dtype,
                                  sources: [info.name], transform: row.transform, normShift: shift))
        }
        for i in outputs.indices where outputs[i].sources.count == 3 && outputs[i].transform.isGPT2Fused {
            // Fused Q|K|V: three blocks of columns (weight [D, 3n]) or of elements (bias [3n]).
            var shape = outputs[i].shape
            shape[shape.count - 1] *= 3
            outputs[i].shape = shape
        }
        // Offsets follow the order in which outputs become complete (the canonical order's last source).
        var offset = 0
        for i in outputs.indices {
            outputs[i].begin = offset
            offset += outputs[i].dtype.byteCount(for: outputs[i].shape)!
        }
        self.outputs = outputs

        var header: [(key: String, value: JSONValue)] = [("__metadata__", .object([
            ("format", .string("pt")),
            ("qkv.metadata", .string(HFExportWriter.metadataJSON(metadata))),
        ]))]
        for o in outputs {
            header.append((o.name, .object([
                ("dtype", .string(HFExportWriter.safetensorsName(o.dtype))),
                ("shape", .array(o.shape.map { .number(String($0)) })),
                ("data_offsets", .array([.number(String(o.begin)), .number(String(o.begin + o.dtype.byteCount(for: o.shape)!))])),
            ])))
        }
        var text = Array(JSONValue.object(header).text.utf8)
        // Pad with spaces to a multiple of 8, as the reference writer does, so the data is 8-byte aligned.
        while text.count % 8 != 0 { text.append(0x20) }
        dataStart = 8 + text.count
        configJSON = isFolder ? try HFExportWriter.configJSON(config, arch, metadata: metadata, target: target) : nil
        extraFiles = isFolder ? HFTokenizerExport.files(tokenizer, config) : []

        self.output = try AtomicOutput(target: weightsPath, inputs: inputs)
        var length = UInt64(text.count).littleEndian
        try withUnsafeBytes(of: &length) { try output.write($0) }
        try text.withUnsafeBytes { try output.write($0) }
    }

    func append(_ view: TensorView) throws {
        if view.info.role == .dense || view.name.hasPrefix("dense/") {
            denseTensors[view.name] = (view.dtype, view.shape, view.withUnsafeBytes { Array($0) })
            return
        }
        guard let i = consumer[view.name] else { return }
        pending[view.name] = view
        guard outputs[i].sources.allSatisfy({ pending[$0] != nil }) else { return }
        let o = outputs[i]
        let parts = o.sources.map { pending.removeValue(forKey: $0)! }
        written += 1
        if o.normShift != 0 {
            let shifted = parts[0].floats().map { $0 + o.normShift }
            try shifted.withUnsafeBytes { try output.write($0, at: dataStart + o.begin) }
            return
        }
        if case .view = o.transform {
            // Same bytes: stream them straight from the source.
            var at = dataStart + o.begin
            try parts[0].forEachChunk { piece in
                try output.write(piece, at: at)
                at += piece.count
            }
            return
        }
        let bytes = o.dtype.byteCount(for: o.shape)!
        let storage = OwnedStorage(count: bytes)
        let out = storage.mutableBytes
        let size = o.dtype.blockBytes
        switch o.transform {
        case .view:
            preconditionFailure("views are streamed above")
        case .unpermuteRope, .fusedRows:
            preconditionFailure("not a Hugging Face transform")
        case .permuteRope(let heads):
            // The interleaved rows back in Hugging Face's half order.
            let rows = o.shape[0]
            permuteRopeRows(parts[0].bytes, rows: rows, heads: heads, rowBytes: bytes / rows, undo: true, into: out)
        case .rowRange:
            // The blocks of a fused weight, each at its own rows.
            for (part, first) in zip(parts, o.sources.map { rowFirst[$0]! }) {
                let at = first * (bytes / o.shape[0])
                UnsafeMutableRawBufferPointer(rebasing: out[at..<at + part.bytes.count]).copyMemory(from: part.bytes)
            }
        case .transpose:
            // canonical [.., a] flattened to [b, a] -> [a, b]
            let a = parts[0].shape.last!, b = parts[0].info.elementCount / a
            transposeBlock(parts[0].bytes, rows: b, columns: a, firstColumn: 0, columnCount: a, elementSize: size, into: out)
        case .fusedColumns:
            // q, k, v each [n, D] -> c_attn [D, 3n]: column block p is part p transposed.
            let D = parts[0].shape.last!, n = parts[0].info.elementCount / D
            let scratch = OwnedStorage(count: n * D * size)
            for (p, part) in parts.enumerated() {
                transposeBlock(part.bytes, rows: n, columns: D, firstColumn: 0, columnCount: D, elementSize: size, into: scratch.mutableBytes)
                for row in 0..<D {
                    let from = UnsafeRawBufferPointer(rebasing: scratch.bytes[row * n * size..<(row + 1) * n * size])
                    UnsafeMutableRawBufferPointer(rebasing: out[(row * 3 * n + p * n) * size..<(row * 3 * n + (p + 1) * n) * size]).copyMemory(from: from)
                }
            }
        case .fusedSlice:
            var at = 0
            for part in parts {
                UnsafeMutableRawBufferPointer(rebasing: out[at..<at + part.bytes.count]).copyMemory(from: part.bytes)
                at += part.bytes.count
            }
        }
        // Outputs complete in order only when the canonical order says so; write at the precomputed offset.
        try output.write(storage.bytes, at: dataStart + o.begin)
    }

    func finish() throws {
        precondition(written == outputs.count && pending.isEmpty, "finish() with \(outputs.count - written) outputs incomplete")
        try output.commit()
        if let folder, let configJSON {
            for (name, text) in [("config.json", configJSON)] + extraFiles {
                if name.contains("/") {
                    try FileManager.default.createDirectory(atPath: "\(folder)/\(AtomicOutput.split(name).directory)", withIntermediateDirectories: true)
                }
                let file = try AtomicOutput(target: "\(folder)/\(name)", inputs: [])
                try Array(text.utf8).withUnsafeBytes { try file.write($0) }
                try file.commit()
            }
            // Each Dense module's weights as sentence-transformers saves them: `linear.weight` [out, in],
            // `linear.bias` [out].
            for j in 0..<denseCount {
                var parts: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])] = []
                for (leaf, bias) in [("weight", false), ("bias", true)] {
                    if let t = denseTensors[TensorRole.dense.tensorName(layer: j, bias: bias)] { parts.append(("linear.\(leaf)", t.dtype, t.shape, t.bytes)) }
                }
                let name = "\(folder)/\(HFTokenizerExport.denseFolder(j))/model.safetensors"
                try FileManager.default.createDirectory(atPath: AtomicOutput.split(name).directory, withIntermediateDirectories: true)
                let file = try AtomicOutput(target: name, inputs: [])
                try HFExportWriter.smallSafetensors(parts).withUnsafeBytes { try file.write($0) }
                try file.commit()
            }
        }
    }

    /// A safetensors file of a few small tensors, in memory: the header, padded to 8 bytes, then the data.
    static func smallSafetensors(_ tensors: [(name: String, dtype: DType, shape: [Int], bytes: [UInt8])]) -> [UInt8] {
        var header: [(key: String, value: JSONValue)] = [("__metadata__", .object([("format", .string("pt"))]))]
        var data: [UInt8] = []
        for (name, dtype, shape, bytes) in tensors {
            let begin = data.count
            data += bytes
            header.append((name, .object([
                ("dtype", .string(safetensorsName(dtype))),
                ("shape", .array(shape.map { .number(String($0)) })),
                ("data_offsets", .array([.number(String(begin)), .number(String(data.count))])),
            ])))
        }
        var text = Array(JSONValue.object(header).text.utf8)
        while text.count % 8 != 0 { text.append(0x20) }
        var out: [UInt8] = []
        withUnsafeBytes(of: UInt64(text.count).littleEndian) { out.append(contentsOf: $0) }
        return out + text + data
    }

    func abandon() { output.abandon() }

    // MARK: Names, shapes, config

    /// The Hugging Face shape of a canonical tensor before the transform: attention weights and biases
    /// merge their head dimensions (`[H, d, D]` -> `[H*d, D]`, `[H, d]` -> `[H*d]`).
    static func hfShape(of info: TensorInfo, transform: TensorTransform) -> [Int] {
        var shape = info.shape
        // (W_O stored as rows, [D, H·d], is already Hugging Face's shape.)
        if let role = info.role, [.attentionQuery, .attentionKey, .attentionValue, .attentionOutput].contains(role), shape.count >= 2,
           !(role == .attentionOutput && shape.count == 2) {
            shape = [shape[0] * shape[1]] + shape.dropFirst(2)
        }
        switch transform {
        case .view, .fusedSlice, .unpermuteRope, .permuteRope, .fusedRows: return shape
        case .rowRange(_, _, let total): return [total] + shape.dropFirst()
        case .transpose, .fusedColumns: return [shape.last!, shape.dropLast().reduce(1, *)]
        }
    }

    static func safetensorsName(_ dtype: DType) -> String {
        SafetensorsFile.dtypes.first { $0.value == dtype }!.key
    }

    /// The canonical metadata as one JSON object, for `__metadata__`: each value tagged with its type;
    /// floats as their IEEE bit patterns so they survive exactly.
    static func metadataJSON(_ metadata: Metadata) -> String {
        var members: [(key: String, value: JSONValue)] = []
        for key in metadata.sortedKeys {
            let value: JSONValue
            switch metadata[key]! {
            case .bool(let v): value = .object([("bool", .bool(v))])
            case .int(let v): value = .object([("int", .number("\(v)"))])
            case .float(let v): value = .object([("float", .string("\(v.bitPattern)"))])
            case .string(let v): value = .object([("string", .string(v))])
            case .int32Array(let v): value = .object([("int32[]", .array(v.map { .number("\($0)") }))])
            case .int64Array(let v): value = .object([("int64[]", .array(v.map { .number("\($0)") }))])
            case .float32Array(let v): value = .object([("float32[]", .array(v.map { .number("\($0.bitPattern)") }))])
            case .float64Array(let v): value = .object([("float64[]", .array(v.map { .string("\($0.bitPattern)") }))])
            case .stringArray(let v): value = .object([("string[]", .array(v.map { .string($0) }))])
            }
            members.append((key, value))
        }
        return JSONValue.object(members).text
    }

    /// A Hugging Face `config.json` for `config`, enough for transformers' `from_pretrained`.
    static func configJSON(_ config: ModelConfig, _ arch: any Architecture.Type, metadata: Metadata, target: String) throws -> String {
        var members = arch.hfConfig(config)
        // A RoPE scaling that is not one linear factor (Llama 3's, YaRN, LongRoPE): the `rope_scaling` the
        // import kept when it still gives exactly these steps, else LongRoPE's made from the config (all its
        // parameters are in it).
        let steps = RopeScaling.Steps(config.rope)
        let isLinear = steps.attentionFactor == 1 && steps.longFactors == nil && (steps.factors.map { RopeScaling.linearJSON($0) != nil } ?? true)
        if let rope = config.rope, !isLinear {
            let model = JSONValue.object(members)
            func gives(_ scaling: JSONValue) -> Bool {
                (try? RopeScaling.steps(scaling, field: "rope_scaling", file: target, theta: rope.theta, dims: rope.dimensions ?? config.headDim, model: model)) == steps
            }
            var scaling: JSONValue?
            if case .string(let text)? = metadata["provenance.hf_rope_scaling"], let kept = try? JSONParser.parse(Array(text.utf8)), gives(kept) {
                scaling = kept
            } else if let made = RopeScaling.longRopeJSON(steps), gives(made) {
                scaling = made
            }
            guard let scaling else {
                throw ConversionError.unsupportedTarget(output: target, reason: "its RoPE scaling (frequency divisors, attention factor) is not a linear scaling and no rope_scaling that gives it was kept; config.json cannot state it")
            }
            members.removeAll { $0.key == "rope_scaling" }
            members.append(("rope_scaling", scaling))
        }
        for token in [ModelConfig.SpecialToken.bos, .eos] { if let id = config.specialTokens[token] { members.append(("\(token.rawValue)_token_id", .int(id))) } }
        members.append(("torch_dtype", .string("float32")))
        return JSONValue.object(members).text + "\n"
    }
}

extension ArchitectureMap {
    /// The name a Hugging Face model class writes: LLaMA's body under `model.`, its head at the top;
    /// BERT (BertModel) and GPT-2 (as on the Hub) without a prefix.
    func exportName(_ source: String) -> String {
        family == .llama && !source.hasPrefix("lm_head.") ? "model." + source : source
    }
}

extension Metadata {
    /// Reads the JSON `HFExportWriter.metadataJSON` writes; nil when it is not that shape.
    init?(qkvJSON text: String) {
        guard let json = try? JSONParser.parse(Array(text.utf8)), let members = json.objectValue else { return nil }
        self.init()
        for (key, tagged) in members {
            guard let pair = tagged.objectValue?.first else { return nil }
            let v = pair.value
            let value: MetadataValue?
            switch pair.key {
            case "bool": value = v.boolValue.map(MetadataValue.bool)
            case "int": value = v.int64Value.map(MetadataValue.int)
            case "float": value = v.stringValue.flatMap { UInt64($0) }.map { .float(Double(bitPattern: $0)) }
            case "string": value = v.stringValue.map(MetadataValue.string)
            case "int32[]": value = v.arrayValue.flatMap { a in a.compactMap { $0.int64Value.flatMap { Int32(exactly: $0) } } }.map(MetadataValue.int32Array)
            case "int64[]": value = v.arrayValue.map { a in a.compactMap(\.int64Value) }.map(MetadataValue.int64Array)
            case "float32[]": value = v.arrayValue.map { a in a.compactMap { $0.uint64Value.flatMap { UInt32(exactly: $0) }.map { Float(bitPattern: $0) } } }.map(MetadataValue.float32Array)
            case "float64[]": value = v.arrayValue.map { a in a.compactMap { $0.stringValue.flatMap { UInt64($0) }.map { Double(bitPattern: $0) } } }.map(MetadataValue.float64Array)
            case "string[]": value = v.arrayValue.map { a in a.compactMap(\.stringValue) }.map(MetadataValue.stringArray)
            default: value = nil
            }
            guard let value else { return nil }
            if let count = v.arrayValue?.count {
                // compactMap dropped nothing: every element had the declared type.
                let kept: Int? = switch value {
                case .int32Array(let a): a.count
                case .int64Array(let a): a.count
                case .float32Array(let a): a.count
                case .float64Array(let a): a.count
                case .stringArray(let a): a.count
                default: nil
                }
                guard kept == count else { return nil }
            }
            self[key] = value
        }
    }
}
