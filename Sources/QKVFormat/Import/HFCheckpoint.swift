import Foundation

/// Tensors under a checkpoint's own names (Hugging Face's), wherever they are stored.
protocol SourceTensors: AnyObject, Sendable {
    /// The file or folder, for messages.
    var path: String { get }
    /// Every tensor, by its own name.
    var sourceInfos: [String: TensorInfo] { get }
    func sourceTensor(_ name: String) throws -> TensorView
}

/// Which shard holds each tensor, and its description; a name in two shards is an error.
func shardOwners<Shard>(_ shards: [Shard], path: (Shard) -> String, infos: (Shard) -> [TensorInfo]) throws -> ([String: Shard], [String: TensorInfo]) {
    var owner: [String: Shard] = [:], all: [String: TensorInfo] = [:]
    for shard in shards {
        for info in infos(shard) {
            if let other = owner[info.name] {
                throw ImportError.shardProblem(file: path(shard), reason: "tensor '\(info.name)' is also in \(path(other))")
            }
            owner[info.name] = shard
            all[info.name] = info
        }
    }
    return (owner, all)
}

/// The safetensors files of a checkpoint: one file or the shards of an index.
final class SafetensorsShards: SourceTensors {
    let path: String
    let shards: [SafetensorsFile]
    let sourceInfos: [String: TensorInfo]
    private let owner: [String: SafetensorsFile]

    init(path: String, files: HFFolderFiles) throws {
        self.path = path
        shards = try HFCheckpoint.openShards(path: path, files: files)
        (owner, sourceInfos) = try shardOwners(shards, path: \.path) { $0.entries.map(\.info) }
    }

    func sourceTensor(_ name: String) throws -> TensorView {
        guard let shard = owner[name] else { throw ImportError.missingSourceTensor(file: path, tensor: name) }
        return try shard.tensor(name)
    }

    /// The canonical metadata qkv embeds in a `.safetensors` it writes (`__metadata__["qkv.metadata"]`).
    var embeddedMetadata: String? {
        shards.count == 1 ? shards[0].metadata.first { $0.key == "qkv.metadata" }?.value : nil
    }
}

/// The `pytorch_model.bin` files of a checkpoint: one file or the shards of
/// `pytorch_model.bin.index.json`, read without running their pickles (PyTorchFile).
final class PyTorchShards: SourceTensors {
    let path: String
    let sourceInfos: [String: TensorInfo]
    private let owner: [String: PyTorchFile]

    /// `path` is a `.bin` file, an index, or a folder holding `pytorch_model.bin` or its index.
    init(path: String, files: HFFolderFiles) throws {
        self.path = path
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        let shards: [PyTorchFile]
        if !isDirectory.boolValue && !path.hasSuffix(".index.json") {
            shards = [try PyTorchFile(path: path)]
        } else if isDirectory.boolValue && files.exists("pytorch_model.bin") && !files.exists("pytorch_model.bin.index.json") {
            shards = [try PyTorchFile(path: files.path("pytorch_model.bin"))]
        } else {
            let indexName = isDirectory.boolValue ? "pytorch_model.bin.index.json" : AtomicOutput.split(path).base
            let weightMap = try HFCheckpoint.shardIndex(indexName, files: files)
            shards = try Set(weightMap.map(\.shard)).sorted().map { try PyTorchFile(path: files.path($0)) }
            try HFCheckpoint.checkShards(weightMap, index: indexName, files: files, stored: shards.reduce(0) { $0 + $1.entries.count }) { tensor, shard in
                shards.first { AtomicOutput.split($0.path).base == shard }?.contains(tensor) == true
            }
        }
        (owner, sourceInfos) = try shardOwners(shards, path: \.path) { $0.entries.map(\.info) }
    }

    /// Whether `path` names PyTorch weights: a `.bin` file or index, a zip file, or a folder with
    /// `pytorch_model.bin` (or its index) and no safetensors weights.
    static func holds(_ path: String) -> Bool {
        if path.hasSuffix(".bin") || path.hasSuffix(".bin.index.json") { return true }
        let files = HFFolderFiles(folder: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return false }
        // A file by another name (`model.pt`) that is a zip: torch.save's format.
        if !isDirectory.boolValue {
            return FileHandle(forReadingAtPath: path).map { handle in
                defer { try? handle.close() }
                let head = (try? handle.read(upToCount: 8)).map { [UInt8]($0) } ?? []
                return head.starts(with: [0x50, 0x4B, 0x03, 0x04]) || head == Array(PyTorchFile.legacyMagic.prefix(8))
            } ?? false
        }
        return !files.exists("model.safetensors") && !files.exists("model.safetensors.index.json")
            && (files.exists("pytorch_model.bin") || files.exists("pytorch_model.bin.index.json"))
    }

    func sourceTensor(_ name: String) throws -> TensorView {
        guard let shard = owner[name] else { throw ImportError.missingSourceTensor(file: path, tensor: name) }
        return try shard.tensor(name)
    }
}

/// A Hugging Face checkpoint (`config.json` and `model.safetensors`, or shards listed in
/// `model.safetensors.index.json`, plus tokenizer files and sentence-transformers extras; or an HDF5
/// state dict), seen through its architecture map as a canonical model: the schema's names, shapes and
/// per-head layout.
///
/// Opening reads the config, the tokenizer and every tensor's header and checks that the map covers the
/// checkpoint exactly; tensors are transformed one at a time when read (views need no copy).
public final class HFCheckpoint: WeightFile, Sendable {
    public let path: String
    public let format: ContainerFormat
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    /// Each canonical tensor: its source (the checkpoint's weights, or a Dense module's file), its name
    /// there, and how it is transformed.
    private let plan: [String: (from: any SourceTensors, source: String, transform: TensorTransform, target: TensorInfo)]
    private let source: any SourceTensors
    /// What the weights are when they are not `format`'s own files ("pytorch" for `pytorch_model.bin`).
    public let sourceFormat: String?

    /// Opens a checkpoint folder, or the folder of a `.safetensors` / `model.safetensors.index.json` path;
    /// PyTorch weights (`pytorch_model.bin`, its shards) when the folder has no safetensors ones.
    public convenience init(path: String) throws {
        let folder = HFCheckpoint.folder(of: path)
        if PyTorchShards.holds(path) {
            try self.init(source: try PyTorchShards(path: path, files: HFFolderFiles(folder: folder)), format: .safetensors,
                          folder: folder, configText: nil, canonical: nil, sourceFormat: "pytorch")
            return
        }
        let shards = try SafetensorsShards(path: path, files: HFFolderFiles(folder: folder))
        let canonical = try shards.embeddedMetadata.map { text in
            guard let metadata = Metadata(qkvJSON: text) else {
                throw ImportError.notACheckpoint(path: shards.shards[0].path, reason: "__metadata__ 'qkv.metadata' is not the JSON qkv writes")
            }
            return metadata
        }
        try self.init(source: shards, format: .safetensors, folder: folder, configText: nil, canonical: canonical)
    }

    /// Maps `source` with the architecture its config names: `canonical` metadata when qkv wrote the file,
    /// else `configText` (a config.json held in the file) or the folder's `config.json`.
    init(source: any SourceTensors, format: ContainerFormat, folder: String, configText: String?, canonical: Metadata?,
         sourceFormat: String? = nil) throws {
        let files = HFFolderFiles(folder: folder)
        let path = source.path
        self.path = path
        self.format = format
        self.source = source
        self.sourceFormat = sourceFormat
        let allNames = source.sourceInfos.keys.sorted()

        let map: ArchitectureMap
        var config: ModelConfig
        var tokenizer: TokenizerData?
        var metadata = Metadata()
        var configJSON: JSONValue?
        if let canonical {
            config = try ModelConfig(metadata: canonical, file: path)
            tokenizer = try TokenizerData(metadata: canonical, config: config, file: path)
            guard let arch = Architectures.forExport(config, metadata: canonical) else {
                throw ImportError.unknownArchitecture(file: path, modelType: config.family.rawValue, tensors: allNames)
            }
            map = Architectures.hfMap(arch, config)
            for section in [MetadataSection.provenance, .user] {
                for name in canonical.names(in: section) { metadata["\(section.rawValue).\(name)"] = canonical["\(section.rawValue).\(name)"] }
            }
        } else {
            let configFile: String
            if let configText {
                configFile = "\(path): attribute 'config'"
                do { configJSON = try JSONParser.parse(Array(configText.utf8)) } catch {
                    throw ImportError.notACheckpoint(path: configFile, reason: "not JSON: \(error.reason) at byte \(error.offset)")
                }
            } else {
                configFile = files.path("config.json")
                configJSON = try files.json("config.json")
            }
            guard let configJSON else {
                throw ImportError.notACheckpoint(path: path, reason: "no config.json beside the weights, so the architecture is unknown")
            }
            let modelType = configJSON["model_type"]?.stringValue ?? "(none)"
            guard let arch = Architectures.forHF(modelType: modelType) else {
                throw ImportError.unknownArchitecture(file: configFile, modelType: modelType, tensors: allNames)
            }
            config = try arch.config(hf: configJSON, file: configFile)
            map = Architectures.hfMap(arch, config)
            metadata[Architectures.provenanceKey] = .string(arch.name)
        }

        // Names without the class prefix; GPT-2's tied head may be stored as a copy of wte.
        var byStripped: [String: String] = [:]
        for name in allNames { byStripped[map.strippingPrefix(name)] = name }
        var dropped = Set<String>()
        if map.family == .gpt2, config.tiedEmbeddings, let head = byStripped["lm_head.weight"] {
            if let wte = byStripped["wte.weight"], try source.sourceTensor(head).hasSameBytes(as: source.sourceTensor(wte)) {
                byStripped["lm_head.weight"] = nil
                dropped.insert(head)
            } else {
                config.tiedEmbeddings = false
            }
        }
        let modules = try HFCheckpoint.sentenceTransformerModules(files, config)
        if canonical == nil {
            modules.apply(to: &config)
            if config.labelCount > 0, let activation = try HFCheckpoint.crossEncoderActivation(files, configJSON: configJSON) {
                config.labelActivation = activation
            }
            tokenizer = try HFTokenizerImport.load(folder: folder, family: map.family, config: &config)
        } else if modules.dense.map(\.config) != config.dense {
            throw ImportError.configField(file: files.path("modules.json"), field: "sentence_transformers.models.Dense",
                                          reason: "lists \(modules.dense.count) Dense modules, but the qkv.metadata the weights carry has \(config.dense.count)")
        }

        // The plan: each canonical tensor from its source row, shapes checked before any data is read.
        var plan: [String: (from: any SourceTensors, source: String, transform: TensorTransform, target: TensorInfo)] = [:]
        var claimed = Set<String>()
        var tensors: [TensorInfo] = []
        for want in ModelSchema.expectedTensors(for: config) {
            guard let row = map.row(for: want.name) else { continue }
            guard let name = byStripped[row.source] else {
                if want.isOptional { continue }
                throw ImportError.missingSourceTensor(file: path, tensor: row.source)
            }
            let info = source.sourceInfos[name]!
            guard info.dtype.isFloat else { throw ImportError.sourceDType(file: path, tensor: name, dtype: info.dtype) }
            let target = TensorInfo(name: want.name, role: want.role, dtype: info.dtype, shape: want.shape)
            guard row.transform.fits(source: info, target: target) else {
                throw ImportError.sourceShapeMismatch(file: path, tensor: name, canonical: want.name, expected: want.shape, found: info.shape)
            }
            plan[want.name] = (source, name, row.transform, target)
            claimed.insert(name)
            tensors.append(target)
        }
        let unclaimed = allNames.filter { !claimed.contains($0) && !dropped.contains($0) && !map.isBuffer(map.strippingPrefix($0)) }
        guard unclaimed.isEmpty else { throw ImportError.unmappedTensors(file: path, tensors: unclaimed) }
        // The Dense modules' `linear.weight` [out, in] and `linear.bias` [out], from their own files.
        var width = config.modelDim
        for (j, module) in modules.dense.enumerated() {
            let weights = try module.weights()
            var names = ["linear.weight"]
            if module.config.bias { names.append("linear.bias") }
            for name in names {
                let bias = name == "linear.bias"
                let canonicalName = TensorRole.dense.tensorName(layer: j, bias: bias)
                let shape = bias ? [module.config.outputs] : [module.config.outputs, width]
                guard let info = weights.sourceInfos[name] else { throw ImportError.missingSourceTensor(file: weights.path, tensor: name) }
                guard info.dtype.isFloat else { throw ImportError.sourceDType(file: weights.path, tensor: name, dtype: info.dtype) }
                guard info.shape == shape else {
                    throw ImportError.sourceShapeMismatch(file: weights.path, tensor: name, canonical: canonicalName, expected: shape, found: info.shape)
                }
                let target = TensorInfo(name: canonicalName, role: .dense, dtype: info.dtype, shape: shape)
                plan[canonicalName] = (weights, name, .view, target)
                tensors.append(target)
            }
            let stray = weights.sourceInfos.keys.filter { !names.contains($0) }.sorted()
            guard stray.isEmpty else { throw ImportError.unmappedTensors(file: weights.path, tensors: stray) }
            width = module.config.outputs
        }
        self.plan = plan
        self.tensors = tensors

        for (key, value) in config.metadata { metadata[key] = value }
        for (key, value) in tokenizer?.metadata ?? [:] { metadata[key] = value }
        if metadata["provenance.source"] == nil {
            let name = format == .safetensors ? AtomicOutput.split(folder == "." ? FileManager.default.currentDirectoryPath : folder).base : AtomicOutput.split(path).base
            metadata["provenance.source"] = .string(name)
            metadata["provenance.source_format"] = .string(sourceFormat ?? format.rawValue)
        }
        if let name = configJSON?["_name_or_path"]?.stringValue, !name.isEmpty { metadata["provenance.hf_name_or_path"] = .string(name) }
        // config.json's RoPE scaling as written, for an export to state it again (the schema keeps only the
        // frequency divisors it gives).
        if config.rope?.frequencyFactors != nil, let json = configJSON {
            let scaling = json["rope_parameters"].flatMap { $0 == .null ? nil : $0 } ?? json["rope_scaling"]
            if let scaling, scaling != .null { metadata["provenance.hf_rope_scaling"] = .string(scaling.text) }
        }
        self.metadata = metadata
    }

    public func tensor(_ name: String) throws -> TensorView {
        guard let step = plan[name] else { throw ModelError.missingTensor(file: path, tensor: name, expectedShape: []) }
        let source = try step.from.sourceTensor(step.source)
        let result = try step.transform.apply(source, target: step.target, file: path)
        // A transposed copy no longer needs the mapped source pages.
        if result.storage !== source.storage { source.storage.doneReading(source.bytes) }
        return result
    }

    /// The stored tensor canonical `name` is the transpose of (Hugging Face's W_O, `[D, H·d]`), as it is
    /// in the file; nil for a tensor made any other way. A writer that transposes it back, as GGUF does,
    /// writes these bytes and skips both transposes.
    func transposedSource(_ name: String) throws -> TensorView? {
        guard let step = plan[name], step.transform == .transpose else { return nil }
        let source = try step.from.sourceTensor(step.source)
        guard source.dtype.blockSize == 1, step.transform.fits(source: source.info, target: step.target) else { return nil }
        return source
    }

    // MARK: Finding the files

    static func folder(of path: String) -> String {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue { return path }
        return AtomicOutput.split(path).directory
    }

    /// The weights: the given `.safetensors` file, the shards of an index, `model.safetensors`, or the
    /// shards of `model.safetensors.index.json`.
    static func openShards(path: String, files: HFFolderFiles) throws -> [SafetensorsFile] {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        if !isDirectory.boolValue && !path.hasSuffix(".index.json") { return [try SafetensorsFile(path: path)] }
        let indexName = isDirectory.boolValue ? "model.safetensors.index.json" : AtomicOutput.split(path).base
        if isDirectory.boolValue && files.exists("model.safetensors") && !files.exists(indexName) {
            return [try SafetensorsFile(path: files.path("model.safetensors"))]
        }
        guard files.exists(indexName) else {
            throw ImportError.notACheckpoint(path: path, reason: "no model.safetensors or model.safetensors.index.json")
        }
        let weightMap = try shardIndex(indexName, files: files)
        let shards = try Set(weightMap.map(\.shard)).sorted().map { try SafetensorsFile(path: files.path($0)) }
        try checkShards(weightMap, index: indexName, files: files, stored: shards.reduce(0) { $0 + $1.entries.count }) { tensor, shard in
            shards.first { AtomicOutput.split($0.path).base == shard }?.contains(tensor) == true
        }
        return shards
    }

    /// The `weight_map` of a sharded checkpoint's index (`model.safetensors.index.json`,
    /// `pytorch_model.bin.index.json`): each tensor and the file in the folder that holds it.
    static func shardIndex(_ indexName: String, files: HFFolderFiles) throws -> [(tensor: String, shard: String)] {
        guard let index = try files.json(indexName) else {
            throw ImportError.notACheckpoint(path: files.path(indexName), reason: "no such index")
        }
        guard let weightMap = index["weight_map"]?.objectValue else {
            throw ImportError.shardProblem(file: files.path(indexName), reason: "has no weight_map object")
        }
        return try weightMap.map { tensor, shard in
            guard let name = shard.stringValue, !name.contains("/") else {
                throw ImportError.shardProblem(file: files.path(indexName), reason: "tensor '\(tensor)' maps to \(shard.text), not a file name in the folder")
            }
            guard files.exists(name) else { throw ImportError.shardProblem(file: files.path(indexName), reason: "shard '\(name)' is missing") }
            return (tensor, name)
        }
    }

    /// The index and the shards agree tensor by tensor, and the shards hold nothing the index leaves out.
    static func checkShards(_ weightMap: [(tensor: String, shard: String)], index indexName: String, files: HFFolderFiles,
                            stored: Int, holds: (String, String) -> Bool) throws {
        for (tensor, shard) in weightMap where !holds(tensor, shard) {
            throw ImportError.shardProblem(file: files.path(indexName), reason: "tensor '\(tensor)' is not in shard '\(shard)'")
        }
        guard weightMap.count == stored else {
            throw ImportError.shardProblem(file: files.path(indexName), reason: "the index lists \(weightMap.count) tensors but the shards hold \(stored)")
        }
    }

    /// The modules of a sentence-transformers folder qkv computes after the encoder (Specs/schema.md,
    /// "Sentence vectors"), read from `modules.json` and each module's folder.
    struct SentenceTransformerModules {
        /// A `Dense` module: its folder in the checkpoint and what it computes.
        struct Dense {
            let files: HFFolderFiles
            let config: ModelConfig.Dense

            /// The module's weights: `model.safetensors`, else `pytorch_model.bin`.
            func weights() throws -> any SourceTensors {
                if files.exists("model.safetensors") { return try SafetensorsShards(path: files.path("model.safetensors"), files: files) }
                if files.exists("pytorch_model.bin") { return try PyTorchShards(path: files.path("pytorch_model.bin"), files: files) }
                throw ImportError.notACheckpoint(path: files.folder, reason: "the Dense module's weights are missing: no model.safetensors or pytorch_model.bin")
            }
        }
        var pooling: ModelConfig.Pooling?
        var normalize = false
        var dense: [Dense] = []

        func apply(to config: inout ModelConfig) {
            if let pooling { config.pooling = pooling }
            config.normalize = config.normalize || normalize
            config.dense = dense.map(\.config)
        }
    }

    /// PyTorch's activation modules a Dense module may name (`torch.nn.modules.activation.Tanh`, ...), by
    /// class name.
    static let denseActivations: [String: ModelConfig.Dense.Activation] = [
        "Identity": .identity, "Tanh": .tanh, "ReLU": .relu, "GELU": .geluErf, "Sigmoid": .sigmoid, "SiLU": .silu,
    ]

    /// Pooling, Dense and Normalize from a sentence-transformers folder: `modules.json` lists them, in
    /// the order they run (the class paths of sentence-transformers 2 to 4, `sentence_transformers.models.X`,
    /// and of 5 and later, `sentence_transformers.base.modules.x.X`). A module qkv does not compute, or
    /// one in an order it does not, is refused: its vectors would be wrong.
    static func sentenceTransformerModules(_ files: HFFolderFiles, _ config: ModelConfig) throws -> SentenceTransformerModules {
        var out = SentenceTransformerModules()
        guard config.family == .bert, let modules = try files.json("modules.json")?.arrayValue else { return out }
        let modulesFile = files.path("modules.json")
        var width = config.modelDim, pooled = false
        for module in modules {
            let type = module["type"]?.stringValue ?? ""
            let kind = type.hasPrefix("sentence_transformers.") ? String(type.split(separator: ".").last ?? "") : ""
            // A module qkv does not compute (LayerNorm, WeightedLayerPooling, ...) would change every
            // vector: refused, never left out.
            guard ["Transformer", "Pooling", "Dense", "Normalize"].contains(kind) else {
                throw ImportError.configField(file: modulesFile, field: type.isEmpty ? "type" : type,
                                              reason: "is a sentence-transformers module qkv does not compute (it computes Transformer, Pooling, Dense and Normalize), so its embeddings would be wrong")
            }
            let dir = module["path"]?.stringValue ?? ""
            if kind != "Transformer" && kind != "Pooling" && !pooled {
                throw ImportError.configField(file: modulesFile, field: type, reason: "comes before Pooling; qkv computes Dense and Normalize on the pooled vector only")
            }
            if kind == "Dense" && out.normalize {
                throw ImportError.configField(file: modulesFile, field: type, reason: "comes after Normalize; qkv normalises last")
            }
            switch kind {
            case "Pooling":
                pooled = true
                if let pooling = try files.json("\(dir)/config.json") { out.pooling = try poolingMode(pooling, file: files.path("\(dir)/config.json")) }
            case "Normalize":
                out.normalize = true
            case "Dense":
                let dense = try denseModule(HFFolderFiles(folder: files.path(dir)), inputs: width)
                out.dense.append(dense)
                width = dense.config.outputs
            default:
                break
            }
        }
        return out
    }

    /// The activation a sentence-transformers CrossEncoder applies to a classification head's outputs:
    /// `activation_fn` of config_sentence_transformers.json (sentence-transformers 5 and later) or of
    /// config.json's `sentence_transformers` object (earlier), as PyTorch's class path; nil when neither
    /// names one (the CrossEncoder default then applies).
    static func crossEncoderActivation(_ files: HFFolderFiles, configJSON: JSONValue?) throws -> ModelConfig.Dense.Activation? {
        let (file, value): (String, JSONValue?) = if let st = try files.json("config_sentence_transformers.json"), let v = st["activation_fn"] {
            (files.path("config_sentence_transformers.json"), v)
        } else {
            (files.path("config.json"), configJSON?["sentence_transformers"]?["activation_fn"])
        }
        guard let value, value != .null else { return nil }
        guard let path = value.stringValue, let activation = denseActivations[String(path.split(separator: ".").last ?? "")] else {
            throw ImportError.configField(file: file, field: "activation_fn", reason: "is \(value.text); qkv applies \(denseActivations.keys.sorted().joined(separator: ", ")) (torch.nn)")
        }
        return activation
    }

    /// The pooling mode of a Pooling module's config.json: `pooling_mode` ("mean", "cls", "max",
    /// "mean_sqrt_len_tokens"; sentence-transformers 5 and later) or one `pooling_mode_*` flag (earlier).
    static func poolingMode(_ pooling: JSONValue, file: String) throws -> ModelConfig.Pooling {
        if pooling["include_prompt"]?.boolValue == false {
            throw ImportError.configField(file: file, field: "include_prompt", reason: "is false (prompt tokens left out of pooling); qkv pools every token")
        }
        if let mode = pooling["pooling_mode"], mode != .null {
            let modes: [String: ModelConfig.Pooling] = ["mean": .mean, "cls": .cls, "max": .max, "mean_sqrt_len_tokens": .meanSqrtLen]
            guard let name = mode.stringValue ?? (mode.arrayValue?.count == 1 ? mode.arrayValue?[0].stringValue : nil), let found = modes[name] else {
                throw ImportError.configField(file: file, field: "pooling_mode", reason: "is \(mode.text); qkv supports exactly one of mean, cls, max, mean_sqrt_len_tokens")
            }
            return found
        }
        let modes: [(String, ModelConfig.Pooling)] = [("pooling_mode_mean_tokens", .mean), ("pooling_mode_cls_token", .cls),
                                                      ("pooling_mode_max_tokens", .max), ("pooling_mode_mean_sqrt_len_tokens", .meanSqrtLen)]
        let on = modes.filter { pooling[$0.0]?.boolValue == true }
        let others = ["pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"].filter { pooling[$0]?.boolValue == true }
        guard on.count == 1, others.isEmpty else {
            throw ImportError.configField(file: file, field: "pooling_mode_*", reason: "sets \(on.count + others.count) modes; qkv supports exactly one of mean, cls, max, mean_sqrt_len")
        }
        return on[0].1
    }

    /// A Dense module's config.json: `in_features` must be the width before it (`inputs`).
    static func denseModule(_ files: HFFolderFiles, inputs: Int) throws -> SentenceTransformerModules.Dense {
        let file = files.path("config.json")
        guard let json = try files.json("config.json") else {
            throw ImportError.notACheckpoint(path: files.folder, reason: "the Dense module has no config.json")
        }
        func int(_ field: String) throws -> Int {
            guard let n = json[field]?.int64Value, n >= 1, n < 1 << 31 else {
                throw ImportError.configField(file: file, field: field, reason: "must be an integer in 1..<2^31, found \(json[field]?.text ?? "nothing")")
            }
            return Int(n)
        }
        let inFeatures = try int("in_features"), outFeatures = try int("out_features")
        guard inFeatures == inputs else {
            throw ImportError.configField(file: file, field: "in_features", reason: "is \(inFeatures), but the vector before this Dense module is \(inputs) wide")
        }
        if let value = json["bias"], value != .null, value.boolValue == nil {
            throw ImportError.configField(file: file, field: "bias", reason: "must be true or false, found \(value.text)")
        }
        if json["use_residual"]?.boolValue == true {
            throw ImportError.configField(file: file, field: "use_residual", reason: "is true; qkv computes a Dense module without the residual connection")
        }
        for field in ["module_input_name", "module_output_name"] {
            if let name = json[field], name != .null, name.stringValue != "sentence_embedding" {
                throw ImportError.configField(file: file, field: field, reason: "is \(name.text); qkv computes a Dense module on the sentence embedding only")
            }
        }
        // sentence-transformers' default activation is Tanh.
        let path = json["activation_function"]?.stringValue ?? "torch.nn.modules.activation.Tanh"
        guard path.hasPrefix("torch.nn."), let activation = denseActivations[String(path.split(separator: ".").last ?? "")] else {
            throw ImportError.configField(file: file, field: "activation_function",
                                          reason: "is '\(path)'; qkv computes \(denseActivations.keys.sorted().map { "torch.nn.\($0)" }.joined(separator: ", "))")
        }
        return .init(files: files, config: ModelConfig.Dense(outputs: outFeatures, activation: activation, bias: json["bias"]?.boolValue ?? true))
    }
}


/// The tensors of safetensors files under their own names, with no schema: what `inspect` shows when
/// a checkpoint's architecture cannot be mapped.
public final class RawSafetensors: WeightFile, Sendable {
    public let path: String
    public var format: ContainerFormat { .safetensors }
    /// `config.json`'s top-level fields, as `provenance.hf_config.<field>` (their JSON text).
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    private let shards: SafetensorsShards

    public init(path: String) throws {
        self.path = path
        let files = HFFolderFiles(folder: HFCheckpoint.folder(of: path))
        shards = try SafetensorsShards(path: path, files: files)
        tensors = shards.shards.flatMap(\.tensors)
        var metadata = Metadata()
        if let config = try? files.json("config.json"), let members = config.objectValue {
            for (key, value) in members where Metadata.problem(withKey: "provenance.hf_config.\(key)") == nil {
                metadata["provenance.hf_config.\(key)"] = .string(RawGGUF.short(value.text))
            }
        }
        self.metadata = metadata
    }

    public func tensor(_ name: String) throws -> TensorView { try shards.sourceTensor(name) }
}

/// The tensors of a GGUF file under llama.cpp's names, with no schema (`inspect` of an architecture
/// without a map). Shapes are row-major; tensors of ggml types qkv has no dtype for are listed as u8
/// byte arrays.
public final class RawGGUF: WeightFile, Sendable {
    public let path: String
    public var format: ContainerFormat { .gguf }
    /// Every GGUF key as `provenance.gguf.<key>`: scalars as they are, arrays longer than a few entries
    /// as their type and count (a vocabulary has 262,144 strings).
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    private let file: GGUFFile

    public init(path: String) throws {
        self.path = path
        file = try GGUFFile(path: path)
        var metadata = Metadata()
        for (key, value) in file.metadata where Metadata.problem(withKey: "provenance.gguf.\(key)") == nil {
            if case .array(let array) = value, array.count > 8 {
                metadata["provenance.gguf.\(key)"] = .string("\(GGUFStoredType.array(array.elementType)) of \(array.count)")
            } else if let kept = GGUFMaps.metadataValue(value) {
                metadata["provenance.gguf.\(key)"] = kept
            }
        }
        self.metadata = metadata
        tensors = file.tensorInfos.map { info in
            info.type.dtype.map { TensorInfo(name: info.name, role: nil, dtype: $0, shape: info.shape) }
                ?? TensorInfo(name: info.name, role: nil, dtype: .u8, shape: [info.byteCount])
        }
    }

    public func tensor(_ name: String) throws -> TensorView { try file.tensor(name) }

    /// Long text cut for a one-line listing.
    static func short(_ text: String) -> String { text.count > 120 ? String(text.prefix(117)) + "..." : text }
}

/// Opens `path` for `inspect`: as a model when it can be mapped to the schema, else (a checkpoint of an
/// unknown architecture) as its raw tensors, with the reason it could not be mapped.
public func openForInspection(path given: String) throws -> (file: any WeightFile, mappingProblem: ImportError?) {
    let path = try HubCache.resolve(given)
    do {
        return (try openWeightFile(path: path), nil)
    } catch let problem as ImportError {
        switch try ContainerFormat.detect(path: path) {
        case .safetensors: return (try RawSafetensors(path: path), problem)
        case .gguf: return (try RawGGUF(path: path), problem)
        default: throw problem
        }
    }
}
