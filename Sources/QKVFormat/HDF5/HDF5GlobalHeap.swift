/// The global heap of an HDF5 file, where variable-length strings live, read by qkv itself with every
/// bound checked (Specs/hdf5-layout.md, "Hostile files"). libhdf5 1.10's reader trusts it: it takes a
/// collection's object table as written (H5HG__cache_heap_deserialize), then copies an object's declared
/// size from wherever the table says into a buffer sized by the string's own length (H5HG_read), so an
/// object that overruns its collection, an index past the table, or a string shorter than its object
/// crashes it. qkv's string conversion (`HDF5.convertStrings`) reads every string through this instead.
///
/// On disk (HDF5 file format spec, "Global Heap"; 8-byte lengths), a collection is "GCOL", version 1, 3
/// reserved bytes, its size in bytes (header included), then objects: index (u16), reference count (u16),
/// 4 reserved bytes, data size (u64), the data padded to 8 bytes. Index 0 is the free space, which runs to
/// the end of the collection; a tail too short for an object header is free space too. A string element
/// is its length (u32), the collection's address (u64, from the file's base) and the object's index (u32).
struct HDF5GlobalHeap {
    /// Why a string or its collection is refused: a sentence ending the error message.
    struct Refusal: Error {
        let reason: String
    }

    /// The format's minimum collection size, which libhdf5 also reads first whatever the size says.
    static let minimumCollectionBytes = 4096
    /// Larger collections are refused: one would have to hold a string of more than 1 GiB.
    static let maximumCollectionBytes = 1 << 30
    /// "GCOL", version, 3 reserved bytes, size.
    static let collectionHeaderBytes = 16
    /// Index, reference count, 4 reserved bytes, size.
    static let objectHeaderBytes = 16

    /// The whole file, as mapped.
    private let file: UnsafeRawBufferPointer
    /// The file position HDF5 addresses count from (the user block's size; 0 for most files).
    private let base: UInt64
    /// Collections already checked, by file position: each object's data as a range of file positions.
    private var collections: [Int: [UInt16: Range<Int>]] = [:]

    init(file: UnsafeRawBufferPointer, base: UInt64) {
        self.file = file
        self.base = base
    }

    /// The bytes of the string element (`length`, `address`, `index`), nil for a null string (address 0,
    /// which libhdf5 reads as a null pointer). The element's collection is checked whole first, and the
    /// element must name an object of exactly its length. `subject` ("the string", "string 3") starts the
    /// refusal's sentence.
    mutating func string(length: UInt32, address: UInt64, index: UInt32, subject: String) throws(Refusal) -> UnsafeRawBufferPointer? {
        guard address != 0 else { return nil }
        let (position, overflow) = base.addingReportingOverflow(address)
        guard !overflow, position <= UInt64(file.count) else {
            throw Refusal(reason: "\(subject) refers to a global heap collection at byte \(overflow ? "beyond 2^64" : "\(position)"), past the end of the \(file.count)-byte file")
        }
        let objects = try collection(at: Int(position), subject: subject)
        let place = "the global heap collection at byte \(position)"
        guard index != 0 else {
            throw Refusal(reason: "\(subject) refers to object 0 of \(place), which is the collection's free space, not a string")
        }
        guard index <= UInt32(UInt16.max), let range = objects[UInt16(index)] else {
            throw Refusal(reason: "\(subject) refers to object \(index) of \(place), which has no such object")
        }
        guard range.count == Int(length) else {
            throw Refusal(reason: "\(subject) has length \(length), but object \(index) of \(place), which holds it, is \(range.count) bytes")
        }
        return UnsafeRawBufferPointer(rebasing: file[range])
    }

    /// The objects of the collection at file position `position`, checked once.
    private mutating func collection(at position: Int, subject: String) throws(Refusal) -> [UInt16: Range<Int>] {
        if let known = collections[position] { return known }
        let objects = try HDF5GlobalHeap.objects(in: file, at: position, subject: subject)
        collections[position] = objects
        return objects
    }

    /// Checks the collection at file position `position` whole, everything libhdf5 assumes of it without
    /// checking: the signature and version, a size from 4096 bytes to the end of the file, every object's
    /// data inside the collection (with its padding), no index twice, and the free space (index 0) running
    /// exactly to the end. Returns each object's data as a range of file positions.
    static func objects(in file: UnsafeRawBufferPointer, at position: Int, subject: String) throws(Refusal) -> [UInt16: Range<Int>] {
        let place = "the global heap collection at byte \(position)"
        func refuse(_ problem: String) -> Refusal { Refusal(reason: "\(subject) is in \(place), which \(problem)") }
        guard position <= file.count - collectionHeaderBytes else {
            throw Refusal(reason: "\(subject) refers to \(place), past the end of the \(file.count)-byte file")
        }
        guard file[position..<position + 4].elementsEqual("GCOL".utf8) else {
            throw Refusal(reason: "\(subject) refers to a global heap collection at byte \(position), where there is none (no GCOL signature)")
        }
        guard file[position + 4] == 1 else { throw refuse("has version \(file[position + 4]); qkv reads version 1") }
        let declared = UInt64(littleEndian: file.loadUnaligned(fromByteOffset: position + 8, as: UInt64.self))
        guard declared >= UInt64(minimumCollectionBytes) else {
            throw refuse("declares \(declared) bytes, fewer than the format's minimum of \(minimumCollectionBytes)")
        }
        guard declared <= UInt64(file.count - position), declared <= UInt64(maximumCollectionBytes) else {
            throw refuse("declares \(declared) bytes, past the end of the \(file.count)-byte file or over qkv's limit of \(maximumCollectionBytes)")
        }
        // At most 1 GiB from here on: offsets within the collection are Ints that cannot overflow.
        let size = Int(declared)
        var objects: [UInt16: Range<Int>] = [:]
        var offset = collectionHeaderBytes
        while size - offset >= objectHeaderBytes {
            let index = UInt16(littleEndian: file.loadUnaligned(fromByteOffset: position + offset, as: UInt16.self))
            let length = UInt64(littleEndian: file.loadUnaligned(fromByteOffset: position + offset + 8, as: UInt64.self))
            let room = size - offset - objectHeaderBytes
            if index == 0 {
                // The free space: its size counts its own header and reaches the end of the collection.
                guard length == UInt64(size - offset) else {
                    throw refuse("has its free space (object 0) at offset \(offset) declaring \(length) bytes, not the \(size - offset) to its end")
                }
                return objects
            }
            guard length <= UInt64(room), Int(length).roundedUp(to: 8) <= room else {
                throw refuse("has object \(index) of \(length) bytes at offset \(offset), past its end at \(size) bytes")
            }
            guard objects[index] == nil else { throw refuse("holds object \(index) twice") }
            let data = position + offset + objectHeaderBytes
            objects[index] = data..<data + Int(length)
            offset += objectHeaderBytes + Int(length).roundedUp(to: 8)
        }
        // What is left is shorter than an object header: free space without a header, as libhdf5 leaves it.
        return objects
    }
}

private extension Int {
    /// The next multiple of `step` (a power of two) from a value well below Int.max.
    func roundedUp(to step: Int) -> Int { (self + step - 1) & ~(step - 1) }
}
