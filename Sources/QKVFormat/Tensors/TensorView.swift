/// A tensor's bytes in memory with its dtype and shape: a zero-copy view into a mapped file or an owned
/// buffer, which it keeps alive.
///
/// Views are made only by containers after they validated the file, so the byte count always matches
/// the dtype and shape.
public struct TensorView: @unchecked Sendable {
    public let info: TensorInfo
    /// Keeps the memory under `bytes` alive.
    public let storage: TensorStorage
    /// Exactly `info.byteCount` bytes.
    public let bytes: UnsafeRawBufferPointer

    init(info: TensorInfo, storage: TensorStorage, bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count == info.byteCount, "view of '\(info.name)' has \(bytes.count) bytes, dtype and shape say \(info.byteCount)")
        self.info = info
        self.storage = storage
        self.bytes = bytes
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
