#if canImport(Glibc)
import Glibc
#endif

/// Memory that tensor views point into. Each view holds its storage, so the memory lives as long as any
/// view of it: a mapped file stays mapped, an owned buffer stays allocated.
///
/// Unchecked `Sendable` (Swift cannot see through the pointer): `bytes` is immutable and only read once
/// the storage is shared; the one subclass that writes, `OwnedStorage`, is filled by its maker first.
public class TensorStorage: @unchecked Sendable {
    /// The whole region; read-only for everyone but the subclass that fills it.
    public let bytes: UnsafeRawBufferPointer

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    /// Tells the system a streaming reader is done with `range`: a mapped file drops those pages from
    /// memory (they come back from the file if touched again), so converting a model does not grow the
    /// resident set to the model's size. Owned buffers ignore it.
    public func doneReading(_ range: UnsafeRawBufferPointer) {}

    /// Tells the system `range` is about to be read in full: a mapped file maps all its pages now, in one
    /// call, rather than taking a page fault per few pages on first touch. Owned buffers ignore it.
    public func willRead(_ range: UnsafeRawBufferPointer) {}

    /// Bytes a streaming reader handles at once before releasing them.
    public static let streamingChunk = 8 << 20
}

extension TensorView {
    /// Calls `body` with consecutive pieces of the tensor's bytes (at most `TensorStorage.streamingChunk`
    /// each) and releases each piece's pages after it: a whole model streams through a bounded resident set.
    public func forEachChunk(_ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try withUnsafeBytes { all in
            var offset = 0
            repeat {
                let piece = UnsafeRawBufferPointer(rebasing: all[offset..<min(offset + TensorStorage.streamingChunk, all.count)])
                try body(piece)
                storage.doneReading(piece)
                offset += piece.count
            } while offset < all.count
        }
    }
}

/// A file mapped read-only into memory. `.qkv` readers hand out views into it without copying.
///
/// Unchecked `Sendable` as its superclass: the mapping is `PROT_READ` and `path` is immutable.
public final class MappedFile: TensorStorage, @unchecked Sendable {
    /// The path as the user gave it, for error messages.
    public let path: String

    /// Maps `path` read-only. An empty file maps to an empty buffer (mmap rejects length 0).
    public init(path: String) throws(IOError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw IOError.cannotOpen(file: path, errno: errno) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw IOError.cannotOpen(file: path, errno: errno) }
        guard (status.st_mode & S_IFMT) == S_IFREG else { throw IOError.notARegularFile(file: path) }
        let length = Int(status.st_size)
        self.path = path
        if length == 0 {
            super.init(bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            return
        }
        // MAP_PRIVATE + PROT_READ: nobody can write through this mapping; pages come from the page cache.
        guard let base = mmap(nil, length, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw IOError.cannotMap(file: path, errno: errno)
        }
        super.init(bytes: UnsafeRawBufferPointer(start: base, count: length))
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }

    public override func willRead(_ range: UnsafeRawBufferPointer) {
        guard let start = range.baseAddress, range.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let from = Int(bitPattern: start) / page * page
        // MADV_POPULATE_READ (Linux 5.14): page tables filled from the page cache, reading the file where
        // a page is not cached. Older kernels answer EINVAL, and the pages fault in on first touch as before.
        _ = madvise(UnsafeMutableRawPointer(bitPattern: from), Int(bitPattern: start) + range.count - from, 22)
    }

    public override func doneReading(_ range: UnsafeRawBufferPointer) {
        guard let start = range.baseAddress, let base = bytes.baseAddress, range.count > 0 else { return }
        // Only whole pages inside the range: a neighbouring tensor may share the first or last page.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let from = (Int(bitPattern: start) + page - 1) / page * page
        let to = (Int(bitPattern: start) + range.count) / page * page
        guard to > from, from >= Int(bitPattern: base) else { return }
        // MADV_DONTNEED on a private read-only mapping drops the pages; later reads refault from the file.
        _ = madvise(UnsafeMutableRawPointer(bitPattern: from), to - from, MADV_DONTNEED)
    }
}

/// A heap buffer owned by the views into it: tensors read from HDF5 or converted to another dtype.
/// 64-byte aligned like tensors in a mapped `.qkv`.
///
/// Unchecked `Sendable`: `mutableBytes` is written only by the code that allocated the storage, before
/// it makes the first view of it; from then on every reader only reads.
public final class OwnedStorage: TensorStorage, @unchecked Sendable {
    package let mutableBytes: UnsafeMutableRawBufferPointer

    /// Allocates `count` zeroed bytes.
    public init(count: Int) {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(count, 1), alignment: 64)
        buffer.initializeMemory(as: UInt8.self, repeating: 0)
        mutableBytes = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count])
        super.init(bytes: UnsafeRawBufferPointer(mutableBytes))
    }

    deinit { UnsafeMutableRawBufferPointer(start: mutableBytes.baseAddress, count: max(mutableBytes.count, 1)).deallocate() }
}
