/// A tensor's description, as any container lists it: name, role, dtype and shape.
public struct TensorInfo: Equatable, Sendable {
    /// The canonical name, a `/`-separated path (Specs/schema.md).
    public var name: String
    /// The role the file states (`.qkv`) or the schema gives the name (HDF5); nil for a stray.
    public var role: TensorRole?
    public var dtype: DType
    /// Row-major, outermost first.
    public var shape: [Int]

    public init(name: String, role: TensorRole?, dtype: DType, shape: [Int]) {
        self.name = name
        self.role = role
        self.dtype = dtype
        self.shape = shape
    }

    /// Elements; containers check at open that it does not overflow.
    public var elementCount: Int { DType.elementCount(shape) ?? 0 }

    /// Bytes of data; containers check at open that it does not overflow.
    public var byteCount: Int { dtype.byteCount(for: shape) ?? 0 }
}
