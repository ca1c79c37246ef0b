/// A tensor's bytes in memory with its dtype and shape: a zero-copy view into a mapped file or an owned
/// buffer, which it keeps alive.
///
/// Views are made only by containers after they validated the file, so the byte count always matches
/// the dtype and shape.
///
/// Unchecked `Sendable` (Swift cannot see through the pointer): every field is immutable, and `bytes`
/// points into `storage`, which this view keeps alive and which is read-only once views of it exist.
public struct TensorView: @unchecked Sendable {
    public let info: TensorInfo
    /// Keeps the memory under `bytes` alive.
    public let storage: TensorStorage
    /// Exactly `info.byteCount` bytes, valid only while this view (and so `storage`) is alive: use
    /// `withUnsafeBytes` outside the module, where a view's lifetime may end before its last use.
    package let bytes: UnsafeRawBufferPointer

    package init(info: TensorInfo, storage: TensorStorage, bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == info.byteCount, "view of '\(info.name)' has \(bytes.count) bytes, dtype and shape say \(info.byteCount)")
        self.info = info
        self.storage = storage
        self.bytes = bytes
    }

    /// Calls `body` with the tensor's bytes, keeping the memory alive for the call.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(bytes) }
    }

    /// Calls `body` with the elements typed as `T` (`Float` for f32, `Float16` or `UInt16` for f16,
    /// `UInt16` for bf16, `Int32` for i32, ...), zero-copy. `T` must have the dtype's element size; in a
    /// `.qkv` mapping and in owned buffers every tensor is 64-byte aligned, so the typed view is aligned.
    public func withUnsafeBufferPointer<T, R>(of type: T.Type, _ body: (UnsafeBufferPointer<T>) throws -> R) rethrows -> R {
        precondition(dtype.blockSize == 1 && MemoryLayout<T>.stride == dtype.blockBytes,
                     "\(T.self) does not match dtype \(dtype) of '\(name)'")
        return try withUnsafeBytes { try body($0.assumingMemoryBound(to: T.self)) }
    }

    /// Whether both views hold the same bytes (bit-identical tensors; NaNs compare by bits).
    public func hasSameBytes(as other: TensorView) -> Bool {
        withUnsafeBytes { a in other.withUnsafeBytes { b in a.elementsEqual(b) } }
    }

    public var name: String { info.name }
    public var dtype: DType { info.dtype }
    public var shape: [Int] { info.shape }

    /// The `index`-th slab along the first dimension: for attention weights `[heads, d, D]`, head `index`
    /// as a `[d, D]` view. Zero-copy.
    public func slab(_ index: Int) -> TensorView {
        precondition(!shape.isEmpty && index >= 0 && index < shape[0], "slab \(index) out of range for \(shape)")
        let rest = Array(shape.dropFirst())
        let size = dtype.byteCount(for: rest)!
        let start = index * size
        let sub = UnsafeRawBufferPointer(rebasing: bytes[start..<start + size])
        return TensorView(info: TensorInfo(name: "\(name)[\(index)]", role: info.role, dtype: dtype, shape: rest),
                          storage: storage, bytes: sub)
    }

    /// The values widened to f32 (a copy). Float dtypes only.
    public func floats() -> [Float] {
        precondition(dtype.isFloat, "floats() of \(dtype) tensor '\(name)'")
        return [Float](unsafeUninitializedCapacity: info.elementCount) { out, count in
            DTypeConversion.convert(bytes, from: dtype, to: .f32, into: UnsafeMutableRawBufferPointer(out))
            count = info.elementCount
        }
    }
}
