import CHDF5
import Foundation
import Synchronization

// Every libhdf5 call in qkv goes through this file. libhdf5 (Debian's serial build) is not thread-safe,
// so each wrapper holds one process-wide lock for the call and for reading its error stack; a negative
// status becomes an `HDF5Error.libraryCall` naming the C function, the file and the object. Handles are
// `H5Handle`s, which release their id when the last reference goes. Variable-length strings are not read
// by libhdf5's global heap code but by qkv's checked conversion (`convertStrings`, `HDF5GlobalHeap`).

/// A libhdf5 identifier (file, group, dataset, attribute, type, space, property list) owned by Swift.
final class H5Handle: Sendable {
    let id: hid_t
    /// Set once the id was closed explicitly (`HDF5.close(file:)`).
    fileprivate let isClosed = Atomic(false)
    init(_ id: hid_t) { self.id = id }
    deinit { if !isClosed.load(ordering: .relaxed) { HDF5.locked { _ = H5Idec_ref(id) } } }
}

enum HDF5 {
    private static let lock = NSLock()
    /// Before the first libhdf5 call: no error stack printed to stderr, and no atexit cleanup. After a
    /// failed write (a full disk) H5Fclose cannot flush and leaves the file half-closed; libhdf5's own
    /// exit handler then crashes closing it again (H5F__close_cb, 1.10.8). qkv closes every file it
    /// writes explicitly, so the handler has nothing left to do for a successful run. Then qkv's string
    /// conversion is registered, before libhdf5 has picked a conversion for any string. The value: whether
    /// `convertStrings` is registered; without it no call that may convert strings is made. First read
    /// under `lock` (by `locked` and `call`), so libhdf5 is set up by one thread.
    private static let stringsChecked: Bool = {
        H5dont_atexit()
        qkv_h5e_silence()
        return registerStringConversion()
    }()
    /// The call in progress that may convert variable-length strings, and what it reads (see `call`).
    /// Safe unchecked: set and cleared by `call` holding `lock`, read by `convertStrings` on the same
    /// thread inside that call; a C callback has no context argument to carry it instead.
    nonisolated(unsafe) private static var stringSource: StringSource?

    /// Runs `body` holding the libhdf5 lock.
    static func locked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        _ = stringsChecked
        return try body()
    }

    /// One C call under the lock; a negative result throws with libhdf5's own explanation. `strings`: the
    /// call may convert variable-length strings of the object with that id (H5Aread, H5Dread, and
    /// H5Dget_create_plist, which converts a fill value), so `convertStrings` is told where to read them
    /// from, and a string it refuses is thrown as that refusal. Any other call that would convert strings
    /// fails.
    static func call<T: BinaryInteger>(_ function: String, file: String, object: String,
                                       strings: (id: hid_t, kind: StringSource.Kind)? = nil, _ body: () -> T) throws(HDF5Error) -> T {
        lock.lock()
        defer { lock.unlock() }
        var source: StringSource?
        if let strings {
            guard stringsChecked else {
                throw .libraryCall(file: file, function: "H5Tregister", object: object,
                                   message: "qkv's checked reader of variable-length strings could not be registered, so none is read")
            }
            source = StringSource(id: strings.id, file: file, object: object, kind: strings.kind)
        } else {
            _ = stringsChecked
        }
        stringSource = source
        defer { stringSource = nil }
        let result = body()
        if result < 0 {
            if let refusal = source?.refusal { throw refusal }
            var message = [CChar](repeating: 0, count: 512)
            qkv_h5e_innermost(&message)
            throw .libraryCall(file: file, function: function, object: object, message: String(nulTerminated: message))
        }
        return result
    }

    /// A call that returns an id, wrapped in a handle.
    static func handle(_ function: String, file: String, object: String,
                       strings: (id: hid_t, kind: StringSource.Kind)? = nil, _ body: () -> hid_t) throws(HDF5Error) -> H5Handle {
        H5Handle(try call(function, file: file, object: object, strings: strings, body))
    }

    static var defaultList: hid_t { qkv_h5p_default() }
    static var all: hid_t { qkv_h5s_all() }

    // MARK: Files

    static func openReadOnly(_ path: String) throws(HDF5Error) -> H5Handle {
        try handle("H5Fopen", file: path, object: "/") { H5Fopen(path, qkv_h5f_acc_rdonly(), defaultList) }
    }

    /// Creates (truncating) `path`; closing the file closes every object still open in it.
    static func create(_ path: String) throws(HDF5Error) -> H5Handle {
        let access = try handle("H5Pcreate", file: path, object: "/") { H5Pcreate(qkv_h5p_file_access()) }
        _ = try call("H5Pset_fclose_degree", file: path, object: "/") { H5Pset_fclose_degree(access.id, H5F_CLOSE_STRONG) }
        return try handle("H5Fcreate", file: path, object: "/") { H5Fcreate(path, qkv_h5f_acc_trunc(), defaultList, access.id) }
    }

    /// Flushes and closes a file now (not when the handle goes), so the bytes are complete on disk.
    static func close(file: H5Handle, path: String) throws(HDF5Error) {
        file.isClosed.store(true, ordering: .relaxed)
        _ = try call("H5Fclose", file: path, object: "/") { H5Fclose(file.id) }
    }

    // MARK: Links and objects

    /// Names of the links in group `location`, in name order.
    static func linkNames(_ group: H5Handle, file: String, object: String) throws(HDF5Error) -> [String] {
        var info = H5G_info_t()
        _ = try call("H5Gget_info", file: file, object: object) { H5Gget_info(group.id, &info) }
        var names: [String] = []
        for i in 0..<info.nlinks {
            let size = try call("H5Lget_name_by_idx", file: file, object: object) {
                H5Lget_name_by_idx(group.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, defaultList)
            }
            var buffer = [CChar](repeating: 0, count: Int(size) + 1)
            _ = try call("H5Lget_name_by_idx", file: file, object: object) {
                H5Lget_name_by_idx(group.id, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, buffer.count, defaultList)
            }
            names.append(String(nulTerminated: buffer))
        }
        return names
    }

    static func linkType(_ group: H5Handle, _ name: String, file: String, object: String) throws(HDF5Error) -> H5L_type_t {
        var info = H5L_info_t()
        _ = try call("H5Lget_info", file: file, object: object) { H5Lget_info(group.id, name, &info, defaultList) }
        return info.type
    }

    static func objectInfo(_ group: H5Handle, _ name: String, file: String, object: String) throws(HDF5Error) -> H5O_info_t {
        var info = H5O_info_t()
        _ = try call("H5Oget_info_by_name2", file: file, object: object) {
            H5Oget_info_by_name2(group.id, name, &info, UInt32(H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS), defaultList)
        }
        return info
    }

    static func openGroup(_ parent: H5Handle, _ name: String, file: String, object: String) throws(HDF5Error) -> H5Handle {
        try handle("H5Gopen2", file: file, object: object) { H5Gopen2(parent.id, name, defaultList) }
    }

    static func openDataset(_ parent: H5Handle, _ name: String, file: String, object: String) throws(HDF5Error) -> H5Handle {
        try handle("H5Dopen2", file: file, object: object) { H5Dopen2(parent.id, name, defaultList) }
    }

    /// Creates a group; missing parent groups are created too.
    static func createGroup(_ parent: H5Handle, _ name: String, file: String) throws(HDF5Error) -> H5Handle {
        let links = try intermediateGroups(file: file, object: name)
        return try handle("H5Gcreate2", file: file, object: name) { H5Gcreate2(parent.id, name, links.id, defaultList, defaultList) }
    }

    static func exists(_ parent: H5Handle, _ name: String, file: String) throws(HDF5Error) -> Bool {
        try call("H5Lexists", file: file, object: name) { H5Lexists(parent.id, name, defaultList) } > 0
    }

    private static func intermediateGroups(file: String, object: String) throws(HDF5Error) -> H5Handle {
        let list = try handle("H5Pcreate", file: file, object: object) { H5Pcreate(qkv_h5p_link_create()) }
        _ = try call("H5Pset_create_intermediate_group", file: file, object: object) { H5Pset_create_intermediate_group(list.id, 1) }
        return list
    }

    // MARK: Types and spaces

    static func datasetType(_ dataset: H5Handle, file: String, object: String) throws(HDF5Error) -> H5Handle {
        try handle("H5Dget_type", file: file, object: object) { H5Dget_type(dataset.id) }
    }

    static func attributeType(_ attribute: H5Handle, file: String, object: String) throws(HDF5Error) -> H5Handle {
        try handle("H5Aget_type", file: file, object: object) { H5Aget_type(attribute.id) }
    }

    /// What a reader needs to know about a type.
    struct TypeInfo {
        var typeClass: H5T_class_t
        var size: Int
        var isSigned: Bool
        var isVariableString: Bool
        /// For floats: (sign position, exponent position, exponent size, mantissa position, mantissa size).
        var fields: (Int, Int, Int, Int, Int)
        var exponentBias: Int
        /// For enums: the base type's size.
        var enumBaseSize: Int
    }

    static func describe(_ type: H5Handle, file: String, object: String) throws(HDF5Error) -> TypeInfo {
        try locked { () throws(HDF5Error) -> TypeInfo in
            let typeClass = H5Tget_class(type.id)
            guard typeClass.rawValue >= 0 else {
                throw HDF5Error.libraryCall(file: file, function: "H5Tget_class", object: object, message: "")
            }
            var info = TypeInfo(typeClass: typeClass, size: H5Tget_size(type.id), isSigned: false, isVariableString: false,
                                fields: (0, 0, 0, 0, 0), exponentBias: 0, enumBaseSize: 0)
            switch typeClass {
            case H5T_INTEGER: info.isSigned = H5Tget_sign(type.id) == H5T_SGN_2
            case H5T_STRING: info.isVariableString = H5Tis_variable_str(type.id) > 0
            case H5T_FLOAT:
                var s = 0, e = 0, es = 0, m = 0, ms = 0
                if H5Tget_fields(type.id, &s, &e, &es, &m, &ms) >= 0 { info.fields = (s, e, es, m, ms) }
                info.exponentBias = H5Tget_ebias(type.id)
            case H5T_ENUM:
                let base = H5Tget_super(type.id)
                if base >= 0 { info.enumBaseSize = H5Tget_size(base); H5Tclose(base) }
            default: break
            }
            return info
        }
    }

    static func datasetSpace(_ dataset: H5Handle, file: String, object: String) throws(HDF5Error) -> H5Handle {
        try handle("H5Dget_space", file: file, object: object) { H5Dget_space(dataset.id) }
    }

    static func attributeSpace(_ attribute: H5Handle, file: String, object: String) throws(HDF5Error) -> H5Handle {
        try handle("H5Aget_space", file: file, object: object) { H5Aget_space(attribute.id) }
    }

    /// The dimensions of a simple or scalar dataspace (scalar: []).
    static func dimensions(_ space: H5Handle, file: String, object: String) throws(HDF5Error) -> [UInt64] {
        let rank = try call("H5Sget_simple_extent_ndims", file: file, object: object) { H5Sget_simple_extent_ndims(space.id) }
        guard rank > 0 else { return [] }
        var dims = [hsize_t](repeating: 0, count: Int(rank))
        _ = try call("H5Sget_simple_extent_dims", file: file, object: object) { H5Sget_simple_extent_dims(space.id, &dims, nil) }
        return dims.map { UInt64($0) }
    }

    static func scalarSpace(file: String, object: String) throws(HDF5Error) -> H5Handle {
        try handle("H5Screate", file: file, object: object) { H5Screate(H5S_SCALAR) }
    }

    /// A simple dataspace, or a scalar one for rank 0.
    static func space(_ shape: [Int], file: String, object: String) throws(HDF5Error) -> H5Handle {
        if shape.isEmpty { return try scalarSpace(file: file, object: object) }
        let dims = shape.map { hsize_t($0) }
        return try handle("H5Screate_simple", file: file, object: object) { H5Screate_simple(Int32(dims.count), dims, nil) }
    }

    /// Memory and file types for each dtype (Specs/hdf5-layout.md); f16 is built like h5py builds it.
    static func type(for dtype: DType, file: String, object: String) throws(HDF5Error) -> H5Handle {
        let predefined: hid_t
        switch dtype {
        case .f32: predefined = qkv_h5t_ieee_f32le()
        case .f64: predefined = qkv_h5t_ieee_f64le()
        case .bf16: predefined = qkv_h5t_std_u16le()
        case .i8: predefined = qkv_h5t_std_i8le()
        case .u8: predefined = qkv_h5t_std_u8le()
        case .i16: predefined = qkv_h5t_std_i16le()
        case .i32: predefined = qkv_h5t_std_i32le()
        case .i64: predefined = qkv_h5t_std_i64le()
        case .f16: return try handle("H5Tcopy", file: file, object: object) { qkv_h5t_make_f16() }
        default: predefined = qkv_h5t_std_u8le()   // block types: their bytes, rows of blocks
        }
        return try handle("H5Tcopy", file: file, object: object) { H5Tcopy(predefined) }
    }

    static func int64Type() -> H5Handle { locked { H5Handle(H5Tcopy(qkv_h5t_std_i64le())) } }
    static func int32Type() -> H5Handle { locked { H5Handle(H5Tcopy(qkv_h5t_std_i32le())) } }
    static func float64Type() -> H5Handle { locked { H5Handle(H5Tcopy(qkv_h5t_ieee_f64le())) } }
    static func float32Type() -> H5Handle { locked { H5Handle(H5Tcopy(qkv_h5t_ieee_f32le())) } }
    static func boolType() -> H5Handle { locked { H5Handle(qkv_h5t_make_bool()) } }
    static func stringType() -> H5Handle { locked { H5Handle(qkv_h5t_make_vlen_utf8()) } }

    /// A fixed-length string type of `size` bytes, for reading fixed strings. NUL-padded, not
    /// NUL-terminated: with C_S1's default (NULLTERM) libhdf5 drops the last byte of a string that fills
    /// its size ("llama" in 5 bytes, as h5py writes it, read back as "llam"); the reader cuts at the first NUL.
    static func fixedStringType(size: Int) -> H5Handle {
        locked {
            let t = H5Tcopy(qkv_h5t_c_s1())
            H5Tset_size(t, size)
            H5Tset_strpad(t, H5T_STR_NULLPAD)
            return H5Handle(t)
        }
    }

    // MARK: Attributes

    /// Names of the attributes on an object, in name order.
    static func attributeNames(_ object: H5Handle, count: Int, file: String, path: String) throws(HDF5Error) -> [String] {
        var names: [String] = []
        for i in 0..<count {
            let size = try call("H5Aget_name_by_idx", file: file, object: path) {
                H5Aget_name_by_idx(object.id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), nil, 0, defaultList)
            }
            var buffer = [CChar](repeating: 0, count: Int(size) + 1)
            _ = try call("H5Aget_name_by_idx", file: file, object: path) {
                H5Aget_name_by_idx(object.id, ".", H5_INDEX_NAME, H5_ITER_INC, hsize_t(i), &buffer, buffer.count, defaultList)
            }
            names.append(String(nulTerminated: buffer))
        }
        return names
    }

    static func attributeExists(_ object: H5Handle, _ name: String, file: String, path: String) throws(HDF5Error) -> Bool {
        try call("H5Aexists", file: file, object: "\(path)@\(name)") { H5Aexists(object.id, name) } > 0
    }

    static func openAttribute(_ object: H5Handle, _ name: String, file: String, path: String) throws(HDF5Error) -> H5Handle {
        try handle("H5Aopen", file: file, object: "\(path)@\(name)") { H5Aopen(object.id, name, defaultList) }
    }

    static func readAttribute(_ attribute: H5Handle, memoryType: H5Handle, into buffer: UnsafeMutableRawPointer, file: String, object: String) throws(HDF5Error) {
        _ = try call("H5Aread", file: file, object: object) { H5Aread(attribute.id, memoryType.id, buffer) }
    }

    /// Reads a variable-length string attribute (through `convertStrings`) and frees the copy.
    static func readVariableStringAttribute(_ attribute: H5Handle, file: String, object: String) throws(HDF5Error) -> String {
        let type = stringType()
        var pointer: UnsafeMutablePointer<CChar>? = nil
        _ = try call("H5Aread", file: file, object: object, strings: (attribute.id, .scalar)) { H5Aread(attribute.id, type.id, &pointer) }
        defer { if let pointer { locked { _ = H5free_memory(pointer) } } }
        return pointer.map { String(cString: $0) } ?? ""
    }

    /// Reads a one-dimensional variable-length string attribute of `count` strings, as bytes, in the
    /// attribute's own string type (no character-set conversion), and reclaims the copies (also those
    /// made before a string was refused).
    static func readVariableStringArrayAttribute(_ attribute: H5Handle, count: Int, file: String, object: String) throws(HDF5Error) -> [[UInt8]] {
        let type = try attributeType(attribute, file: file, object: object)
        let space = try attributeSpace(attribute, file: file, object: object)
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(count, 1))
        defer { _ = locked { H5Dvlen_reclaim(type.id, space.id, defaultList, &pointers) } }
        _ = try call("H5Aread", file: file, object: object, strings: (attribute.id, .array)) { H5Aread(attribute.id, type.id, &pointers) }
        return pointers.prefix(count).map { $0.map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) } ?? [] }
    }

    /// Creates a scalar attribute and writes `value` (raw bytes of `type`).
    static func writeAttribute(_ object: H5Handle, _ name: String, type: H5Handle, value: UnsafeRawPointer, file: String, path: String) throws(HDF5Error) {
        let space = try scalarSpace(file: file, object: path)
        let attribute = try handle("H5Acreate2", file: file, object: "\(path)@\(name)") {
            H5Acreate2(object.id, name, type.id, space.id, defaultList, defaultList)
        }
        _ = try call("H5Awrite", file: file, object: "\(path)@\(name)") { H5Awrite(attribute.id, type.id, value) }
    }

    static func writeStringAttribute(_ object: H5Handle, _ name: String, _ value: String, file: String, path: String) throws {
        let type = stringType()
        try value.withCString { text in
            var pointer: UnsafePointer<CChar>? = text
            try writeAttribute(object, name, type: type, value: &pointer, file: file, path: path)
        }
    }

    // MARK: Datasets

    /// Creates a dataset. `chunks` (with shuffle + deflate) when compressing; contiguous otherwise.
    static func createDataset(_ parent: H5Handle, _ name: String, type: H5Handle, shape: [Int], chunks: [Int]?, file: String) throws(HDF5Error) -> H5Handle {
        let space = try space(shape, file: file, object: name)
        let creation = try handle("H5Pcreate", file: file, object: name) { H5Pcreate(qkv_h5p_dataset_create()) }
        // No timestamps, so equal models give equal files.
        _ = try call("H5Pset_obj_track_times", file: file, object: name) { H5Pset_obj_track_times(creation.id, false) }
        if let chunks {
            let dims = chunks.map { hsize_t($0) }
            _ = try call("H5Pset_chunk", file: file, object: name) { H5Pset_chunk(creation.id, Int32(dims.count), dims) }
            _ = try call("H5Pset_shuffle", file: file, object: name) { H5Pset_shuffle(creation.id) }
            _ = try call("H5Pset_deflate", file: file, object: name) { H5Pset_deflate(creation.id, 6) }
        }
        let links = try intermediateGroups(file: file, object: name)
        return try handle("H5Dcreate2", file: file, object: name) {
            H5Dcreate2(parent.id, name, type.id, space.id, links.id, creation.id, defaultList)
        }
    }

    static func write(_ dataset: H5Handle, memoryType: H5Handle, _ bytes: UnsafeRawPointer?, file: String, object: String) throws(HDF5Error) {
        _ = try call("H5Dwrite", file: file, object: object) { H5Dwrite(dataset.id, memoryType.id, all, all, defaultList, bytes) }
    }

    /// Writes rows `[firstRow, firstRow + rowCount)` (along the first dimension) of a dataset of `shape`
    /// from `bytes`, which hold exactly those rows.
    static func writeRows(_ dataset: H5Handle, memoryType: H5Handle, _ bytes: UnsafeRawBufferPointer, shape: [Int],
                          firstRow: Int, rowCount: Int, file: String, object: String) throws(HDF5Error) {
        let fileSpace = try datasetSpace(dataset, file: file, object: object)
        var start = [hsize_t](repeating: 0, count: shape.count)
        var count = shape.map { hsize_t($0) }
        start[0] = hsize_t(firstRow)
        count[0] = hsize_t(rowCount)
        _ = try call("H5Sselect_hyperslab", file: file, object: object) {
            H5Sselect_hyperslab(fileSpace.id, H5S_SELECT_SET, start, nil, count, nil)
        }
        let memorySpace = try handle("H5Screate_simple", file: file, object: object) { H5Screate_simple(Int32(count.count), count, nil) }
        _ = try call("H5Dwrite", file: file, object: object) {
            H5Dwrite(dataset.id, memoryType.id, memorySpace.id, fileSpace.id, defaultList, bytes.baseAddress)
        }
    }

    static func read(_ dataset: H5Handle, memoryType: H5Handle, into buffer: UnsafeMutableRawPointer?, file: String, object: String) throws(HDF5Error) {
        _ = try call("H5Dread", file: file, object: object) { H5Dread(dataset.id, memoryType.id, all, all, defaultList, buffer) }
    }

    /// Reads a one-dimensional variable-length string dataset of `count` strings (through
    /// `convertStrings`), and reclaims the copies (also those made before a string was refused).
    static func readStrings(_ dataset: H5Handle, count: Int, file: String, object: String) throws(HDF5Error) -> [String] {
        let type = stringType()
        let space = try datasetSpace(dataset, file: file, object: object)
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(count, 1))
        defer { _ = locked { H5Dvlen_reclaim(type.id, space.id, defaultList, &pointers) } }
        _ = try call("H5Dread", file: file, object: object, strings: (dataset.id, .array)) {
            H5Dread(dataset.id, type.id, all, all, defaultList, &pointers)
        }
        return pointers.prefix(count).map { $0.map { String(cString: $0) } ?? "" }
    }

    /// Writes strings into a one-dimensional variable-length string dataset.
    static func writeStrings(_ dataset: H5Handle, _ strings: [String], file: String, object: String) throws(HDF5Error) {
        let type = stringType()
        // strdup'd copies: libhdf5 needs stable C strings for the whole call.
        var pointers: [UnsafePointer<CChar>?] = strings.map { UnsafePointer(strdup($0)) }
        defer { for p in pointers { free(UnsafeMutableRawPointer(mutating: p)) } }
        _ = try call("H5Dwrite", file: file, object: object) { H5Dwrite(dataset.id, type.id, all, all, defaultList, &pointers) }
    }

    /// The dataset's creation property list. libhdf5 converts a variable-length fill value into it, so
    /// that string goes through `convertStrings` too.
    static func creationList(_ dataset: H5Handle, file: String, object: String) throws(HDF5Error) -> H5Handle {
        try handle("H5Dget_create_plist", file: file, object: object, strings: (dataset.id, .fillValue)) { H5Dget_create_plist(dataset.id) }
    }

    /// How a dataset's bytes are stored, as far as libhdf5 says without reading them.
    struct Storage {
        var layout: H5D_layout_t
        /// Entries of the external-file list (data kept in raw files outside the HDF5 file).
        var externalCount: Int
        /// Filter ids in pipeline order, with libhdf5's names for messages.
        var filters: [(id: Int32, name: String)]
        /// Bytes allocated in the file for the data (0: never written).
        var storedBytes: UInt64
        /// Contiguous layout: the data's address in the file, nil when not allocated.
        var address: UInt64?
        /// Chunked layout: chunk dimensions and how many chunks are allocated.
        var chunkDims: [UInt64]
        var allocatedChunks: UInt64
    }

    static func storage(_ dataset: H5Handle, rank: Int, file: String, object: String) throws(HDF5Error) -> Storage {
        let creation = try creationList(dataset, file: file, object: object)
        let layout = locked { H5Pget_layout(creation.id) }
        guard layout.rawValue >= 0 else { throw HDF5Error.libraryCall(file: file, function: "H5Pget_layout", object: object, message: "") }
        let externalCount = Int(try call("H5Pget_external_count", file: file, object: object) { H5Pget_external_count(creation.id) })
        let filterCount = Int(try call("H5Pget_nfilters", file: file, object: object) { H5Pget_nfilters(creation.id) })
        var filters: [(Int32, String)] = []
        for i in 0..<filterCount {
            var flags: UInt32 = 0
            var elements: Int = 0
            var configuration: UInt32 = 0
            var name = [CChar](repeating: 0, count: 80)
            let id = try call("H5Pget_filter2", file: file, object: object) {
                H5Pget_filter2(creation.id, UInt32(i), &flags, &elements, nil, name.count, &name, &configuration)
            }
            filters.append((id, String(nulTerminated: name)))
        }
        let stored = locked { UInt64(H5Dget_storage_size(dataset.id)) }
        var address: UInt64?
        var chunkDims: [UInt64] = []
        var allocated: UInt64 = 0
        if layout == H5D_CONTIGUOUS {
            let raw = locked { UInt64(H5Dget_offset(dataset.id)) }
            address = raw == UInt64.max ? nil : raw   // HADDR_UNDEF: not allocated
        } else if layout == H5D_CHUNKED, rank > 0 {
            var dims = [hsize_t](repeating: 0, count: rank)
            _ = try call("H5Pget_chunk", file: file, object: object) { H5Pget_chunk(creation.id, Int32(rank), &dims) }
            chunkDims = dims.map { UInt64($0) }
            var n: hsize_t = 0
            let space = try datasetSpace(dataset, file: file, object: object)
            _ = try call("H5Dget_num_chunks", file: file, object: object) { H5Dget_num_chunks(dataset.id, space.id, &n) }
            allocated = UInt64(n)
        }
        return Storage(layout: layout, externalCount: externalCount, filters: filters, storedBytes: stored,
                       address: address, chunkDims: chunkDims, allocatedChunks: allocated)
    }

    /// The dataset's chunk dimensions, or nil when it is not chunked.
    static func chunkDimensions(_ dataset: H5Handle, rank: Int, file: String, object: String) throws(HDF5Error) -> [Int]? {
        let creation = try creationList(dataset, file: file, object: object)
        guard locked({ H5Pget_layout(creation.id) }) == H5D_CHUNKED else { return nil }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        _ = try call("H5Pget_chunk", file: file, object: object) { H5Pget_chunk(creation.id, Int32(rank), &dims) }
        return dims.prefix(rank).map { Int($0) }
    }
}

// MARK: Variable-length strings

extension HDF5 {
    /// Registers `convertStrings` as a soft conversion between variable-length strings. libhdf5 tries the
    /// soft conversions registered last first, so it takes every conversion its INIT accepts.
    fileprivate static func registerStringConversion() -> Bool {
        let template = qkv_h5t_make_vlen_utf8()
        guard template >= 0 else { return false }
        defer { H5Tclose(template) }
        return H5Tregister(H5T_PERS_SOFT, "qkv: variable-length strings read through HDF5GlobalHeap", template, template) {
            source, destination, data, count, stride, _, buffer, _, _ in
            HDF5.convertStrings(source: source, destination: destination, data: data, count: count, stride: stride, buffer: buffer)
        } >= 0
    }

    /// libhdf5's conversion of variable-length strings from a file into memory, done by qkv instead:
    /// libhdf5's own (H5T__conv_vlen, H5HG_read) copies whatever the global heap says without checking it
    /// (Specs/hdf5-layout.md, "Hostile files"). Each element is read through `HDF5GlobalHeap` and copied
    /// into a `malloc`ed C string, as libhdf5 hands them out (H5free_memory and H5Dvlen_reclaim free them);
    /// a null element becomes a null pointer. INIT declines everything else, which stays libhdf5's:
    /// memory to file (writing), memory to memory, sequences, and strings whose character sets differ
    /// (libhdf5 has no conversion for those either). A string refused, or a conversion outside a call that
    /// named its source (`call(strings:)`), fails the libhdf5 call.
    fileprivate static func convertStrings(source: hid_t, destination: hid_t, data: UnsafeMutablePointer<H5T_cdata_t>?,
                                           count: Int, stride: Int, buffer: UnsafeMutableRawPointer?) -> herr_t {
        guard let data else { return -1 }
        let pointerSize = MemoryLayout<UnsafeMutablePointer<CChar>?>.size
        switch data.pointee.command {
        case H5T_CONV_INIT:
            // In a file a string is 4 + address + 4 bytes; in memory it is a `char *`.
            guard H5Tis_variable_str(source) > 0, H5Tis_variable_str(destination) > 0,
                  H5Tget_size(source) != pointerSize, H5Tget_size(destination) == pointerSize,
                  H5Tget_cset(source) == H5Tget_cset(destination) else { return -1 }
            data.pointee.need_bkg = H5T_BKG_NO
            return 0
        case H5T_CONV_FREE:
            return 0
        case H5T_CONV_CONV:
            return convert(stringSource, count: count, size: H5Tget_size(source), stride: stride, buffer: buffer)
        default:
            return -1
        }
    }

    /// `convertStrings`' H5T_CONV_CONV: `count` elements of `size` bytes in `buffer` become C strings.
    private static func convert(_ read: StringSource?, count: Int, size: Int, stride: Int, buffer: UnsafeMutableRawPointer?) -> herr_t {
        let pointerSize = MemoryLayout<UnsafeMutablePointer<CChar>?>.size
        guard let read, let buffer else { return -1 }
        // In place, front to back: each C string goes at or before its element's own bytes.
        let (from, to) = stride != 0 ? (stride, stride) : (size, pointerSize)
        guard to <= from else { return -1 }
        var made: [UnsafeMutableRawPointer] = []
        for i in 0..<count {
            do throws(HDF5GlobalHeap.Refusal) {
                var string: UnsafeMutablePointer<CChar>? = nil
                if let bytes = try read.string(UnsafeRawPointer(buffer + i * from), size: size) {
                    guard let copy = malloc(bytes.count + 1) else {
                        throw HDF5GlobalHeap.Refusal(reason: "\(read.subject) of \(bytes.count) bytes does not fit in memory")
                    }
                    made.append(copy)
                    if let start = bytes.baseAddress, bytes.count > 0 { copy.copyMemory(from: start, byteCount: bytes.count) }
                    copy.storeBytes(of: 0, toByteOffset: bytes.count, as: UInt8.self)
                    string = copy.assumingMemoryBound(to: CChar.self)
                }
                (buffer + i * to).storeBytes(of: string, as: UnsafeMutablePointer<CChar>?.self)
                read.converted += 1
            } catch {
                // libhdf5 drops the buffer on failure: free this batch's strings here.
                made.forEach { free($0) }
                read.refusal = .unsafeStructure(file: read.file, object: read.object, reason: error.reason)
                return -1
            }
        }
        return 0
    }
}

/// What a libhdf5 call that may convert variable-length strings reads them from, for
/// `HDF5.convertStrings`: the file libhdf5 has open (mapped at the first string), where its addresses
/// start, and the object a refusal names. Made and used under the libhdf5 lock.
final class StringSource {
    /// What the strings are: a scalar attribute's, an array's, or a dataset's fill value.
    enum Kind { case scalar, array, fillValue }

    let file: String
    let object: String
    let kind: Kind
    /// Elements converted so far (libhdf5 converts a dataset in batches).
    var converted = 0
    /// Why the conversion failed, thrown by `HDF5.call` instead of libhdf5's message.
    var refusal: HDF5Error?
    /// The path libhdf5 opened, nil if it would not say.
    private let path: String?
    /// The user block's size, from where HDF5 addresses count.
    private var base: UInt64 = 0
    /// Bytes in an address and in a length (the file's creation properties); 0 if unknown.
    private var sizes = (address: 0, length: 0)
    private var mapping: MappedFile?
    private var heap: HDF5GlobalHeap?

    /// Asks libhdf5 which file object `id` is in, with its user block and sizes.
    init(id: hid_t, file: String, object: String, kind: Kind) {
        self.file = file
        self.object = object
        self.kind = kind
        let length = H5Fget_name(id, nil, 0)
        if length > 0 {
            var name = [CChar](repeating: 0, count: length + 1)
            path = H5Fget_name(id, &name, name.count) > 0 ? String(nulTerminated: name) : nil
        } else {
            path = nil
        }
        let fileID = H5Iget_file_id(id)
        guard fileID >= 0 else { return }
        defer { H5Fclose(fileID) }
        let creation = H5Fget_create_plist(fileID)
        guard creation >= 0 else { return }
        defer { H5Pclose(creation) }
        var userBlock: hsize_t = 0
        var address = 0, lengthSize = 0
        if H5Pget_userblock(creation, &userBlock) >= 0, H5Pget_sizes(creation, &address, &lengthSize) >= 0 {
            base = UInt64(userBlock)
            sizes = (address, lengthSize)
        }
    }

    /// How a refusal names the string being converted.
    var subject: String {
        switch kind {
        case .scalar: "the string"
        case .array: "string \(converted)"
        case .fillValue: "the fill value"
        }
    }

    /// The bytes of the file element at `element` (`size` bytes), nil for a null string.
    func string(_ element: UnsafeRawPointer, size: Int) throws(HDF5GlobalHeap.Refusal) -> UnsafeRawBufferPointer? {
        guard sizes == (8, 8), size == 16 else {
            throw HDF5GlobalHeap.Refusal(reason: "qkv reads variable-length strings only from files with 8-byte addresses and lengths; this one has \(sizes.address)-byte addresses and \(sizes.length)-byte lengths")
        }
        if heap == nil {
            guard let path else { throw HDF5GlobalHeap.Refusal(reason: "libhdf5 did not say which file \(subject) is in") }
            do {
                let mapped = try MappedFile(path: path)
                mapping = mapped
                heap = HDF5GlobalHeap(file: mapped.bytes, base: base)
            } catch {
                throw HDF5GlobalHeap.Refusal(reason: "\(subject) cannot be read: \(error)")
            }
        }
        let length = UInt32(littleEndian: element.loadUnaligned(as: UInt32.self))
        let address = UInt64(littleEndian: element.loadUnaligned(fromByteOffset: 4, as: UInt64.self))
        let index = UInt32(littleEndian: element.loadUnaligned(fromByteOffset: 12, as: UInt32.self))
        return try heap!.string(length: length, address: address, index: index, subject: subject)
    }
}
