import CHDF5
import Foundation

/// A Hugging Face TensorFlow checkpoint in the legacy Keras HDF5 format — `tf_model.h5`, what
/// `TFBertModel.save_weights` and transformers' TF `save_pretrained` write through Keras 2 — as the
/// source of an architecture map: every Keras variable under the PyTorch name Hugging Face's
/// `convert_tf_weight_name_to_pt_weight_name` gives it, in PyTorch's layout (Specs/architectures.md,
/// "TensorFlow checkpoints (Keras HDF5)").
///
/// The layout: the root (or `/model_weights` in a whole-model save) lists its top-level layers in the
/// attribute `layer_names`; each layer is a group whose attribute `weight_names` lists its variables,
/// each a dataset at that name below the group (`/bert/tf_bert_model/bert/encoder/layer_._0/attention/
/// self/query/kernel:0`); Keras >= 2.7 adds a `top_level_model_weights` group for the model's own
/// variables. A list over 64,512 bytes is stored in chunks `name0`, `name1`, ... Every dataset must be
/// listed and every listed dataset present; nothing is dropped silently.
final class KerasH5: SourceTensors {
    let path: String
    let sourceInfos: [String: TensorInfo]
    /// The Keras layers, as `layer_names` lists them.
    let layerNames: [String]
    /// The PyTorch names in the file's order: layer by layer, each in `weight_names` order.
    let order: [String]
    private let entries: [String: Entry]
    private let file: H5Handle

    private struct Entry {
        /// The dataset, an absolute path.
        var object: String
        /// The dataset as stored (its name is `object`).
        var stored: TensorInfo
        /// The tensor under its PyTorch name and shape.
        var info: TensorInfo
        /// A Dense kernel `[in, out]`, read transposed to `[out, in]`.
        var transpose: Bool
    }

    /// The group Keras writes for the model's own (not a layer's) variables.
    static let topLevelGroup = "top_level_model_weights"

    init(path: String) throws {
        self.path = path
        file = try HDF5.openReadOnly(path)
        let root = try HDF5.openGroup(file, "/", file: path, object: "/")

        // `model.save` puts the weights under /model_weights; `save_weights` at the root.
        var base = root, prefix = ""
        if try !KerasH5.hasList(root, "layer_names", file: path, object: "/"), try KerasH5.isGroup(root, "model_weights", file: path) {
            base = try HDF5.openGroup(root, "model_weights", file: path, object: "/model_weights")
            prefix = "/model_weights"
        }
        guard let layers = try KerasH5.stringList(base, "layer_names", file: path, object: prefix.isEmpty ? "/" : prefix) else {
            throw ImportError.notACheckpoint(path: path, reason: "an HDF5 file without Keras' layer_names attribute (not a Keras weights file)")
        }
        layerNames = layers

        var groups = layers
        if !layers.contains(KerasH5.topLevelGroup), try HDF5.exists(base, KerasH5.topLevelGroup, file: path) {
            groups.append(KerasH5.topLevelGroup)
        }
        var entries: [String: Entry] = [:]
        var order: [String] = []
        var unmapped: [String] = []
        var visited = Set<UInt64>()
        for layer in groups {
            let object = "\(prefix)/\(layer)"
            guard try HDF5.exists(base, layer, file: path) else {
                throw HDF5Error.badGroupStructure(file: path, object: object, reason: "is listed in layer_names but the file has no such group")
            }
            guard try KerasH5.isGroup(base, layer, file: path) else {
                throw HDF5Error.badGroupStructure(file: path, object: object, reason: "is listed in layer_names but is a dataset, not a layer's group: transformers' sharded TF layout (tf_model-0000N-of-0000M.h5), which qkv does not read")
            }
            let group = try HDF5.openGroup(base, layer, file: path, object: object)
            guard let weightNames = try KerasH5.stringList(group, "weight_names", file: path, object: object) else {
                throw HDF5Error.badGroupStructure(file: path, object: object, reason: "has no weight_names attribute (nor weight_names0, weight_names1, ...)")
            }
            // Every dataset below the layer (hard links only, each reachable once), by path.
            var found: [TensorInfo] = []
            try HDF5File.collectTensors(base, name: layer, path: object, depth: 1, visited: &visited, into: &found, file: path)
            var stored = Dictionary(found.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            var listed = Set<String>()
            for weight in weightNames {
                let dataset = "\(object)/\(weight)"
                guard listed.insert(dataset).inserted else {
                    throw HDF5Error.badGroupStructure(file: path, object: dataset, reason: "is listed twice in the weight_names of '\(layer)'")
                }
                guard let info = stored.removeValue(forKey: dataset) else {
                    throw ImportError.missingSourceTensor(file: path, tensor: dataset)
                }
                // A kernel of another rank is a convolution's: Hugging Face permutes it, qkv does not.
                guard let mapped = KerasH5.pytorchName(weight), !mapped.isKernel || info.shape.count == 2 else {
                    unmapped.append(dataset)
                    continue
                }
                let (name, isKernel) = mapped
                var target = info
                target.name = name
                if isKernel {
                    target.shape = [info.shape[1], info.shape[0]]
                } else if name.hasSuffix(".bias"), info.shape.count == 2, info.shape[0] == 1 {
                    target.shape = [info.shape[1]]     // TF GPT-2's Conv1D bias is [1, n]
                }
                if let other = entries[name] {
                    throw HDF5Error.badGroupStructure(file: path, object: dataset, reason: "becomes the PyTorch tensor '\(name)', as '\(other.object)' does")
                }
                entries[name] = Entry(object: dataset, stored: info, info: target, transpose: isKernel)
                order.append(name)
            }
            if let stray = stored.keys.sorted().first {
                throw HDF5Error.badGroupStructure(file: path, object: stray, reason: "is in layer '\(layer)' but not in its weight_names")
            }
        }
        // Whatever else the weights group holds is in no list: refuse it rather than ignore it.
        for name in try HDF5.linkNames(base, file: path, object: prefix.isEmpty ? "/" : prefix) where !groups.contains(name) {
            throw HDF5Error.badGroupStructure(file: path, object: "\(prefix)/\(name)", reason: "is not a layer listed in layer_names")
        }
        guard unmapped.isEmpty else { throw ImportError.unmappedTensors(file: path, tensors: unmapped) }
        self.entries = entries
        self.order = order
        sourceInfos = entries.mapValues(\.info)
    }

    func sourceTensor(_ name: String) throws -> TensorView {
        guard let entry = entries[name] else { throw ImportError.missingSourceTensor(file: path, tensor: name) }
        let stored = try HDF5File.read(entry.stored, at: entry.object, in: file, path: path)
        guard entry.transpose else { return TensorView(info: entry.info, storage: stored.storage, bytes: stored.bytes) }
        let (rows, columns) = (entry.stored.shape[0], entry.stored.shape[1])
        let storage = OwnedStorage(count: entry.info.byteCount)
        transposeBlock(stored.bytes, rows: rows, columns: columns, firstColumn: 0, columnCount: columns,
                       elementSize: entry.info.dtype.blockBytes, into: storage.mutableBytes)
        return TensorView(info: entry.info, storage: storage, bytes: storage.bytes)
    }

    /// Opens `path` and maps it with the architecture of the `config.json` beside it (and its tokenizer
    /// files), as in a Hugging Face folder.
    static func open(path: String) throws -> HFCheckpoint {
        try HFCheckpoint(source: KerasH5(path: path), format: .hdf5, folder: AtomicOutput.split(path).directory,
                         configText: nil, canonical: nil)
    }

    /// The `tf_model.h5` of a Hugging Face folder that has no safetensors weights (a TensorFlow-only
    /// checkpoint), or nil.
    static func tensorFlowWeights(inFolder folder: String) -> String? {
        let files = HFFolderFiles(folder: folder)
        guard !files.exists("model.safetensors"), !files.exists("model.safetensors.index.json"), files.exists("tf_model.h5") else { return nil }
        return files.path("tf_model.h5")
    }

    /// Whether `path` is a legacy Keras HDF5 weights file: a root attribute `layer_names` (or its first
    /// chunk `layer_names0`), or a `model_weights` group. False for anything unreadable.
    static func isKerasLegacy(path: String) -> Bool {
        guard let file = try? HDF5.openReadOnly(path), let root = try? HDF5.openGroup(file, "/", file: path, object: "/") else { return false }
        if (try? hasList(root, "layer_names", file: path, object: "/")) == true { return true }
        return (try? isGroup(root, "model_weights", file: path)) == true
    }

    // MARK: The name rule

    /// Hugging Face's TF -> PyTorch name rule (`convert_tf_weight_name_to_pt_weight_name` in
    /// transformers' modeling_tf_pytorch_utils.py), for the names qkv can read: drop every `:0`;
    /// a level `a___b` that has levels on both sides becomes `b` (after a replaced level, the next
    /// level is skipped, as the regular expression's matches cannot overlap); `_._` becomes a level
    /// separator; empty levels go; the first level (the Keras model's name) goes when there are
    /// others; a last level `kernel` (a Dense kernel, to transpose), `embeddings` or `gamma` becomes
    /// `weight`, `beta` becomes `bias`; levels are joined with dots.
    ///
    /// Nil for a name with no plain PyTorch form: an empty level, a `:` left (a device id other than
    /// 0), or a variable Hugging Face transposes in a way qkv does not (`pointwise_kernel`,
    /// `depthwise_kernel`, anything under `emb_projs`/`out_projs`).
    static func pytorchName(_ tfName: String) -> (name: String, isKernel: Bool)? {
        var levels = tfName.replacingOccurrences(of: ":0", with: "").split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var i = 1
        while i < levels.count - 1 {
            if let marker = levels[i].range(of: "___", options: .backwards) {
                levels[i] = String(levels[i][marker.upperBound...])
                i += 2
            } else {
                i += 1
            }
        }
        var joined = levels.joined(separator: "/").replacingOccurrences(of: "_._", with: "/")
        while joined.contains("//") { joined = joined.replacingOccurrences(of: "//", with: "/") }
        var parts = joined.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.count > 1 { parts.removeFirst() }
        guard parts.allSatisfy({ !$0.isEmpty && !$0.contains(":") }),
              !parts.contains("emb_projs"), !parts.contains("out_projs") else { return nil }
        var isKernel = false
        switch parts[parts.count - 1] {
        case "kernel": parts[parts.count - 1] = "weight"; isKernel = true
        case "embeddings", "gamma": parts[parts.count - 1] = "weight"
        case "beta": parts[parts.count - 1] = "bias"
        case "pointwise_kernel", "depthwise_kernel": return nil
        default: break
        }
        return (parts.joined(separator: "."), isKernel)
    }

    // MARK: Keras' list attributes

    /// Whether `object` has the list attribute `name`, whole or chunked.
    private static func hasList(_ object: H5Handle, _ name: String, file: String, object path: String) throws -> Bool {
        try HDF5.attributeExists(object, name, file: file, path: path) || HDF5.attributeExists(object, name + "0", file: file, path: path)
    }

    private static func isGroup(_ parent: H5Handle, _ name: String, file: String) throws -> Bool {
        guard try HDF5.exists(parent, name, file: file) else { return false }
        return try HDF5.objectInfo(parent, name, file: file, object: name).type == H5O_TYPE_GROUP
    }

    /// Keras' `load_attributes_from_hdf5_group`: the attribute `name`, else the concatenation of
    /// `name0`, `name1`, ... up to the first missing index; nil when there is neither.
    static func stringList(_ object: H5Handle, _ name: String, file: String, object path: String) throws -> [String]? {
        if try HDF5.attributeExists(object, name, file: file, path: path) {
            return try strings(object, name, file: file, object: path)
        }
        var list: [String] = []
        var chunk = 0
        while try HDF5.attributeExists(object, "\(name)\(chunk)", file: file, path: path) {
            list += try strings(object, "\(name)\(chunk)", file: file, object: path)
            chunk += 1
        }
        return chunk == 0 ? nil : list
    }

    /// A one-dimensional attribute of strings: fixed-length (a numpy `S` array) or variable-length (a
    /// list h5py 3 wrote), UTF-8; an empty one of any type (Keras writes `[]` as float64) is empty.
    private static func strings(_ object: H5Handle, _ name: String, file: String, object path: String) throws -> [String] {
        let label = "\(path == "/" ? "" : path)/@\(name)"
        let attribute = try HDF5.openAttribute(object, name, file: file, path: path)
        let dims = try HDF5.dimensions(try HDF5.attributeSpace(attribute, file: file, object: label), file: file, object: label)
        guard dims.count == 1 else { throw HDF5Error.badMetadataShape(file: file, object: label, rank: dims.count) }
        guard dims[0] > 0 else { return [] }
        let type = try HDF5.attributeType(attribute, file: file, object: label)
        let info = try HDF5.describe(type, file: file, object: label)
        guard info.typeClass == H5T_STRING else {
            throw HDF5Error.unsupportedType(file: file, object: label, type: HDF5File.describe(info) + " (Keras lists are strings)")
        }
        let (bytes, overflow) = dims[0].multipliedReportingOverflow(by: UInt64(max(info.size, 1)))
        guard !overflow, bytes <= HDF5File.maxMetadataBytes else {
            throw HDF5Error.tooLarge(file: file, object: label, bytes: overflow ? .max : bytes, limit: HDF5File.maxMetadataBytes)
        }
        let count = Int(dims[0])
        var values: [[UInt8]] = []
        if info.isVariableString {
            values = try HDF5.readVariableStringArrayAttribute(attribute, count: count, file: file, object: label)
        } else {
            // Read in the attribute's own type: the same bytes, whatever its character set.
            var buffer = [UInt8](repeating: 0, count: count * info.size)
            try buffer.withUnsafeMutableBytes { try HDF5.readAttribute(attribute, memoryType: type, into: $0.baseAddress!, file: file, object: label) }
            values = (0..<count).map { i in
                let entry = buffer[i * info.size..<(i + 1) * info.size]
                return Array(entry[..<(entry.firstIndex(of: 0) ?? entry.endIndex)])
            }
        }
        return try values.map { bytes in
            guard let text = String(bytes: bytes, encoding: .utf8) else {
                throw HDF5Error.unsupportedType(file: file, object: label, type: "string that is not UTF-8")
            }
            return text
        }
    }
}
