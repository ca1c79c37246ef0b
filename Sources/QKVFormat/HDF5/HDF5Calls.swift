import CHDF5
import Foundation

// Every libhdf5 call in qkv goes through this file. libhdf5 (Debian's serial build) is not thread-safe,
// so each wrapper holds one process-wide lock for the call and for reading its error stack; a negative
// status becomes an `HDF5Error.libraryCall` naming the C function, the file and the object. Handles are
// `H5Handle`s, which release their id when the last reference goes.

/// A libhdf5 identifier (file, group, dataset, attribute, type, space, property list) owned by Swift.
final class H5Handle {
    let id: hid_t
    /// Set once the id was closed explicitly (`HDF5.close(file:)`).
    fileprivate var isClosed = false
    init(_ id: hid_t) { self.id = id }
    deinit { if !isClosed { HDF5.locked { _ = H5Idec_ref(id) } } }
}

enum HDF5 {
    private static let lock = NSLock()
    /// Before the first libhdf5 call: no error stack printed to stderr, and no atexit cleanup. After a
    /// failed write (a full disk) H5Fclose cannot flush and leaves the file half-closed; libhdf5's own
    /// exit handler then crashes closing it again (H5F__close_cb, 1.10.8). qkv closes every file it
    /// writes explicitly, so the handler has nothing left to do for a successful run.
    private static let silenced: Void = {
        H5dont_atexit()
        qkv_h5e_silence()
    }()

    /// Runs `body` holding the libhdf5 lock.
    static func locked<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        lock.lock()
        defer { lock.unlock() }
        _ = silenced
        return try body()
    }

    /// One C call under the lock; a negative result throws with libhdf5's own explanation.
    static func call<T: BinaryInteger>(_ function: String, file: String, object: String, _ body: () -> T) throws(HDF5Error) -> T {
        lock.lock()
        defer { lock.unlock() }
        _ = silenced
        let result = body()
        if result < 0 {
            var message = [CChar](repeating: 0, count: 512)
            qkv_h5e_innermost(&message)
            throw .libraryCall(file: file, function: function, object: object, message: String(cString: message))
        }
        return result
    }

    /// A call that returns an id, wrapped in a handle.
    static func handle(_ function: String, file: String, object: String, _ body: () -> hid_t) throws(HDF5Error) -> H5Handle {
        H5Handle(try call(function, file: file, object: object, body))
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
        file.isClosed = true
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
            names.append(String(cString: buffer))
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
        case .u8, .q8_0: predefined = qkv_h5t_std_u8le()
        case .i16: predefined = qkv_h5t_std_i16le()
        case .i32: predefined = qkv_h5t_std_i32le()
        case .i64: predefined = qkv_h5t_std_i64le()
        case .f16: return try handle("H5Tcopy", file: file, object: object) { qkv_h5t_make_f16() }
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
            names.append(String(cString: buffer))
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

    /// Reads a variable-length string attribute and frees libhdf5's copy.
    static func readVariableStringAttribute(_ attribute: H5Handle, file: String, object: String) throws(HDF5Error) -> String {
        let type = stringType()
        var pointer: UnsafeMutablePointer<CChar>? = nil
        _ = try call("H5Aread", file: file, object: object) { H5Aread(attribute.id, type.id, &pointer) }
        defer { if let pointer { locked { _ = H5free_memory(pointer) } } }
        return pointer.map { String(cString: $0) } ?? ""
    }

    /// Reads a one-dimensional variable-length string attribute of `count` strings, as bytes, in the
    /// attribute's own string type (no character-set conversion), and reclaims libhdf5's copies.
    static func readVariableStringArrayAttribute(_ attribute: H5Handle, count: Int, file: String, object: String) throws(HDF5Error) -> [[UInt8]] {
        let type = try attributeType(attribute, file: file, object: object)
        let space = try attributeSpace(attribute, file: file, object: object)
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(count, 1))
        _ = try call("H5Aread", file: file, object: object) { H5Aread(attribute.id, type.id, &pointers) }
        let strings = pointers.prefix(count).map { $0.map { Array(UnsafeRawBufferPointer(start: $0, count: strlen($0))) } ?? [] }
        _ = locked { H5Dvlen_reclaim(type.id, space.id, defaultList, &pointers) }
        return strings
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

    /// Reads a one-dimensional variable-length string dataset of `count` strings.
    static func readStrings(_ dataset: H5Handle, count: Int, file: String, object: String) throws(HDF5Error) -> [String] {
        let type = stringType()
        let space = try datasetSpace(dataset, file: file, object: object)
        var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(count, 1))
        _ = try call("H5Dread", file: file, object: object) { H5Dread(dataset.id, type.id, all, all, defaultList, &pointers) }
        let strings = pointers.prefix(count).map { $0.map { String(cString: $0) } ?? "" }
        _ = locked { H5Dvlen_reclaim(type.id, space.id, defaultList, &pointers) }
        return strings
    }

    /// Writes strings into a one-dimensional variable-length string dataset.
    static func writeStrings(_ dataset: H5Handle, _ strings: [String], file: String, object: String) throws(HDF5Error) {
        let type = stringType()
        // strdup'd copies: libhdf5 needs stable C strings for the whole call.
        var pointers: [UnsafePointer<CChar>?] = strings.map { UnsafePointer(strdup($0)) }
        defer { for p in pointers { free(UnsafeMutableRawPointer(mutating: p)) } }
        _ = try call("H5Dwrite", file: file, object: object) { H5Dwrite(dataset.id, type.id, all, all, defaultList, &pointers) }
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
        let creation = try handle("H5Dget_create_plist", file: file, object: object) { H5Dget_create_plist(dataset.id) }
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
            filters.append((id, String(cString: name)))
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
        let creation = try handle("H5Dget_create_plist", file: file, object: object) { H5Dget_create_plist(dataset.id) }
        guard locked({ H5Pget_layout(creation.id) }) == H5D_CHUNKED else { return nil }
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        _ = try call("H5Pget_chunk", file: file, object: object) { H5Pget_chunk(creation.id, Int32(rank), &dims) }
        return dims.prefix(rank).map { Int($0) }
    }
}
