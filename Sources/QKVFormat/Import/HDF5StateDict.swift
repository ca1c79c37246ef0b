/// An HDF5 file written from a PyTorch or NumPy state dict — one dataset per tensor, named like the state
/// dict either with its dots (`encoder.layer.0.attention.self.query.weight`) or with the dots as groups
/// (`encoder/layer/0/...`) — as the source of an architecture map. The Hugging Face config comes from a
/// root attribute `config` (JSON text) or a `config.json` beside the file.
final class HDF5StateDict: SourceTensors {
    let path: String
    let sourceInfos: [String: TensorInfo]
    /// The root attribute `config`, when present.
    let configText: String?
    private let objects: [String: (object: String, info: TensorInfo)]
    private let file: H5Handle

    init(path: String) throws {
        self.path = path
        file = try HDF5.openReadOnly(path)
        let root = try HDF5.openGroup(file, "/", file: path, object: "/")
        configText = try HDF5File.rootString(root, "config", file: path)
        // Without a config there is nothing to map: say so before reading a single dataset.
        guard configText != nil || HFFolderFiles(folder: AtomicOutput.split(path).directory).exists("config.json") else {
            throw ImportError.notACheckpoint(path: path, reason: "no 'config' attribute and no config.json beside it")
        }
        var found: [TensorInfo] = []
        var visited = Set<UInt64>()
        for name in try HDF5.linkNames(root, file: path, object: "/") {
            try HDF5File.collectTensors(root, name: name, path: name, depth: 1, visited: &visited, into: &found, file: path)
        }
        var objects: [String: (object: String, info: TensorInfo)] = [:]
        for info in found {
            let name = info.name.replacingOccurrences(of: "/", with: ".")
            guard objects[name] == nil else {
                throw HDF5Error.badGroupStructure(file: path, object: info.name, reason: "names the same state-dict tensor '\(name)' as '\(objects[name]!.object)'")
            }
            var renamed = info
            renamed.name = name
            objects[name] = (info.name, renamed)
        }
        self.objects = objects
        sourceInfos = objects.mapValues(\.info)
    }

    func sourceTensor(_ name: String) throws -> TensorView {
        guard let (object, info) = objects[name] else { throw ImportError.missingSourceTensor(file: path, tensor: name) }
        return try HDF5File.read(info, at: object, in: file, path: path)
    }
}
