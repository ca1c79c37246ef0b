/// A `pytorch_model.bin` as torch.save (PyTorch ≥ 1.6) writes it, or in the legacy format before it
/// (`parseLegacy`): a zip of `<archive>/data.pkl` (the
/// state dict, pickled, with each tensor's storage named by a persistent id) and `<archive>/data/<key>`
/// (each storage's raw little-endian elements). Opening maps the file, reads the zip directory, runs
/// `data.pkl` on the restricted `PickleMachine` and checks every tensor's storage, offset, shape and
/// strides against the data, before any tensor is handed out. Contiguous tensors are views into the
/// mapping; a strided one is gathered into its own buffer when read.
final class PyTorchFile: Sendable {
    struct Entry: Sendable {
        let info: TensorInfo
        /// The storage's bytes in the file.
        let storage: Range<Int>
        /// In elements, as torch states them.
        let offset: Int
        let strides: [Int]
        var isContiguous: Bool { strides == PyTorchFile.rowMajorStrides(info.shape) || info.elementCount <= 1 }
    }

    let path: String
    let mapped: MappedFile
    /// In the pickle's order.
    let entries: [Entry]
    private let byName: [String: Int]

    init(path: String) throws {
        self.path = path
        mapped = try MappedFile(path: path)
        entries = try Self.parse(mapped.bytes, file: path)
        byName = Dictionary(uniqueKeysWithValues: entries.enumerated().map { ($1.info.name, $0) })
    }

    /// The first bytes of torch.save's format before PyTorch 1.6: a protocol-2 pickle of the magic number
    /// 0x1950a86a20f9469cfc6c.
    static let legacyMagic: [UInt8] = [0x80, 0x02, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, 0x2E]

    /// Every check of the file, on its bytes: the zip, the pickle, each tensor against its storage.
    static func parse(_ bytes: UnsafeRawBufferPointer, file path: String) throws(PyTorchError) -> [Entry] {
        if bytes.starts(with: legacyMagic) { return try parseLegacy(bytes, file: path) }
        let zip = try ZipArchive(path: path, bytes: bytes)
        let pickles = zip.entries.keys.filter { $0.hasSuffix("/data.pkl") && $0.split(separator: "/").count == 2 }
        guard pickles.count == 1, let pickleName = pickles.first else {
            throw pickles.isEmpty ? .missingEntry(file: path, entry: "<archive>/data.pkl")
                : .notAStateDict(file: path, reason: "the zip holds \(pickles.count) data.pkl files")
        }
        let prefix = String(pickleName.dropLast("data.pkl".count))
        if let order = zip.entries[prefix + "byteorder"] {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[order.data]), as: UTF8.self)
            guard text == "little" else { throw .notAStateDict(file: path, reason: "its storages are '\(text)'-endian; qkv reads little-endian ones") }
        }
        let pickle = UnsafeRawBufferPointer(rebasing: bytes[zip.entries[pickleName]!.data])
        let root = try PickleMachine(file: path).run(pickle)
        return try stateDict(root, pickleName: "data.pkl", file: path) { key throws(PyTorchError) in
            let storageName = prefix + "data/" + key
            guard let storage = zip.entries[storageName] else { throw .missingEntry(file: path, entry: storageName) }
            return storage.data
        }
    }

    /// The legacy format (torch.save before PyTorch 1.6, or with `_use_new_zipfile_serialization=False`):
    /// five pickles one after another (the magic number, the protocol version 1001, a dictionary of system
    /// facts, the state dict with persistent ids, the sorted list of storage keys), then each storage in
    /// that order as an 8-byte little-endian element count and its elements. Everything is checked, to
    /// the file's last byte, before a tensor is handed out.
    static func parseLegacy(_ bytes: UnsafeRawBufferPointer, file path: String) throws(PyTorchError) -> [Entry] {
        let machine = PickleMachine(file: path)
        func bad(_ reason: String) -> PyTorchError { .notAStateDict(file: path, reason: "legacy format: " + reason) }
        let version = try machine.run(bytes, from: legacyMagic.count)
        guard case .int(let number) = version.value, number == 1001 else {
            let found = if case .int(let number) = version.value { "\(number)" } else { kind(version.value) }
            throw bad("protocol version \(found), not 1001")
        }
        let system = try machine.run(bytes, from: version.end)
        guard case .dict(let facts) = system.value else { throw bad("its system information is \(kind(system.value)), not a dictionary") }
        for (key, value) in facts.items {
            if case .string("little_endian") = key, case .bool(false) = value { throw bad("its storages are big-endian; qkv reads little-endian ones") }
        }
        let state = try machine.run(bytes, from: system.end)
        let keys = try machine.run(bytes, from: state.end)
        guard case .list(let keyList) = keys.value else { throw bad("its storage keys are \(kind(keys.value)), not a list") }
        // Each storage's element type and count, from the persistent ids of the state dict's tensors.
        var declared: [String: PickleMachine.Storage] = [:]
        if case .dict(let dict) = state.value {
            for (_, value) in dict.items {
                if case .tensor(let tensor) = value { declared[tensor.storage.key] = tensor.storage }
            }
        }
        var storages: [String: Range<Int>] = [:]
        var at = keys.end
        for item in keyList.items {
            guard case .string(let key) = item else { throw bad("a storage key is \(kind(item)), not a string") }
            guard let storage = declared[key] else { throw bad("storage '\(key)' is used by no tensor") }
            guard storages[key] == nil else { throw bad("storage '\(key)' is listed twice") }
            guard bytes.count - at >= 8 else { throw .missingEntry(file: path, entry: "storage \(key)") }
            var count: UInt64 = 0
            for i in (0..<8).reversed() { count = count << 8 | UInt64(bytes[at + i]) }
            guard count == UInt64(storage.elementCount) else {
                throw bad("storage '\(key)' holds \(count) elements where its tensors declare \(storage.elementCount)")
            }
            let (size, overflow) = storage.elementCount.multipliedReportingOverflow(by: storage.dtype.blockBytes)
            guard !overflow, size <= bytes.count - at - 8 else { throw bad("storage '\(key)' of \(count) elements runs past the end of the file") }
            storages[key] = (at + 8)..<(at + 8 + size)
            at += 8 + size
        }
        guard at == bytes.count else { throw bad("\(bytes.count - at) bytes after the last storage") }
        return try stateDict(state.value, pickleName: "the state dict pickle", file: path) { key throws(PyTorchError) in
            guard let range = storages[key] else { throw .missingEntry(file: path, entry: "storage \(key)") }
            return range
        }
    }

    /// The tensors of a state dict: distinct names to tensors, each checked against the bytes of its storage.
    static func stateDict(_ root: PickleMachine.Value, pickleName: String, file path: String,
                          storage: (String) throws(PyTorchError) -> Range<Int>) throws(PyTorchError) -> [Entry] {
        guard case .dict(let dict) = root else { throw .notAStateDict(file: path, reason: "\(pickleName) holds \(kind(root)), not a dictionary of tensors") }
        var entries: [Entry] = []
        var seen = Set<String>()
        for (key, value) in dict.items {
            guard case .string(let name) = key else { throw .notAStateDict(file: path, reason: "a key is \(kind(key)), not a name") }
            guard case .tensor(let tensor) = value else {
                throw .notAStateDict(file: path, reason: "'\(name)' is \(kind(value)), not a tensor")
            }
            guard seen.insert(name).inserted else { throw .notAStateDict(file: path, reason: "'\(name)' is in the dictionary twice") }
            entries.append(try check(tensor, name: name, storage: try storage(tensor.storage.key), file: path))
        }
        return entries
    }

    /// The storage holds its elements exactly, and every element the shape and strides reach lies in it.
    static func check(_ tensor: PickleMachine.Tensor, name: String, storage: Range<Int>, file: String) throws(PyTorchError) -> Entry {
        let dtype = tensor.storage.dtype, size = dtype.blockBytes
        func bad(_ reason: String) -> PyTorchError { .badTensor(file: file, tensor: name, reason: reason) }
        let (storageBytes, overflow) = tensor.storage.elementCount.multipliedReportingOverflow(by: size)
        guard !overflow, storageBytes == storage.count else {
            throw bad("its storage declares \(tensor.storage.elementCount) \(dtype) elements but holds \(storage.count) bytes")
        }
        guard tensor.shape.count == tensor.strides.count, tensor.shape.allSatisfy({ $0 >= 0 }), tensor.strides.allSatisfy({ $0 >= 0 }), tensor.offset >= 0 else {
            throw bad("shape \(tensor.shape), strides \(tensor.strides) and offset \(tensor.offset) do not describe a tensor")
        }
        guard let count = DType.elementCount(tensor.shape) else { throw bad("shape \(tensor.shape) overflows") }
        if count > 0 {
            // The last element reached: offset + Σ (n_i - 1)·stride_i, with checked arithmetic.
            var last = tensor.offset
            for (n, stride) in zip(tensor.shape, tensor.strides) {
                let (step, o1) = (n - 1).multipliedReportingOverflow(by: stride)
                let (sum, o2) = last.addingReportingOverflow(step)
                guard !o1, !o2 else { throw bad("shape \(tensor.shape) with strides \(tensor.strides) overflows") }
                last = sum
            }
            guard last < tensor.storage.elementCount else {
                throw bad("reaches element \(last) of a storage of \(tensor.storage.elementCount) (offset \(tensor.offset), shape \(tensor.shape), strides \(tensor.strides))")
            }
        }
        let info = TensorInfo(name: name, role: nil, dtype: dtype, shape: tensor.shape)
        return Entry(info: info, storage: storage, offset: tensor.offset, strides: tensor.strides)
    }

    static func rowMajorStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * max(shape[i + 1], 1) }
        return strides
    }

    func contains(_ name: String) -> Bool { byName[name] != nil }

    /// The tensor: a view into the mapping when contiguous, else its elements gathered in row-major order.
    func tensor(_ name: String) throws -> TensorView {
        guard let position = byName[name] else { throw ImportError.missingSourceTensor(file: path, tensor: name) }
        let entry = entries[position], size = entry.info.dtype.blockBytes
        let storage = UnsafeRawBufferPointer(rebasing: mapped.bytes[entry.storage])
        if entry.isContiguous {
            let start = entry.offset * size
            return TensorView(info: entry.info, storage: mapped, bytes: UnsafeRawBufferPointer(rebasing: storage[start..<(start + entry.info.byteCount)]))
        }
        let out = OwnedStorage(count: entry.info.byteCount)
        let shape = entry.info.shape, count = entry.info.elementCount
        var index = [Int](repeating: 0, count: shape.count)
        for i in 0..<count {
            var element = entry.offset
            for d in 0..<shape.count { element += index[d] * entry.strides[d] }
            out.mutableBytes.baseAddress!.advanced(by: i * size).copyMemory(from: storage.baseAddress!.advanced(by: element * size), byteCount: size)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return TensorView(info: entry.info, storage: out, bytes: out.bytes)
    }

    static func kind(_ value: PickleMachine.Value) -> String {
        switch value {
        case .none: "None"
        case .bool: "a bool"
        case .int: "an int"
        case .float: "a float"
        case .string: "a string"
        case .bytes: "bytes"
        case .tuple: "a tuple"
        case .list: "a list"
        case .dict: "a dictionary"
        case .global(let name): "'\(name)'"
        case .storage: "a storage"
        case .tensor: "a tensor"
        case .mark: "a mark"
        }
    }
}
