/// The data movements of the architecture maps (Specs/architectures.md, "Transforms"), on raw bytes of
/// any plain dtype. Each returns a new view in canonical shape; `view` copies nothing.
enum TensorTransform: Equatable, Sendable {
    /// Same bytes, canonical shape (the same, or with the head dimensions split out).
    case view
    /// `[a, b]` -> `[b, a]`.
    case transpose
    /// GPT-2's fused `[in, 3·n]` Conv1D weight: block `part` (0 Q, 1 K, 2 V) of n columns, transposed.
    case fusedColumns(part: Int)
    /// GPT-2's fused `[3·n]` bias: block `part`.
    case fusedSlice(part: Int)
    /// llama.cpp's GPT-2 `attn_qkv` `[3·n, D]` (Linear layout): rows of block `part`, zero-copy.
    case fusedRows(part: Int)
    /// Rows `first ..< first + count` of a `[total, ...]` weight, zero-copy: one block of a fused weight
    /// whose blocks may differ in size (Phi-3's `qkv_proj` with GQA, `gate_up_proj`).
    case rowRange(first: Int, count: Int, total: Int)
    /// llama.cpp's RoPE row order for Q/K undone: within each of `heads` heads, row `2j + half` of the
    /// file becomes row `half·d/2 + j` (Specs/architectures.md, "GGUF").
    case unpermuteRope(heads: Int)
    /// The reverse, for a canonical tensor in the `interleaved` RoPE layout (a llama GGUF's Q and K, kept as
    /// they are) whose source has Hugging Face's `half` order: within each of `heads` heads, row
    /// `half·d/2 + j` of the file becomes row `2j + half`. Weights [H·d, D], biases [H·d], q/k norms [d].
    case permuteRope(heads: Int)

    /// The transform from a source to W_O stored as rows instead of per-head slabs: a transpose becomes a
    /// view and a view a transpose (the two layouts are each other's transpose).
    var turnedForRowLayout: TensorTransform {
        switch self {
        case .transpose: .view
        case .view: .transpose
        default: self
        }
    }

    /// GPT-2's three equal blocks of columns or elements.
    var isGPT2Fused: Bool {
        switch self {
        case .fusedColumns, .fusedSlice: true
        default: false
        }
    }

    /// Whether a source of this shape can become `target`.
    func fits(source: TensorInfo, target: TensorInfo) -> Bool {
        let count = DType.elementCount(target.shape) ?? -1
        switch self {
        case .view:
            // The same shape, or the head dimensions merged: [H*d, D] for [H, d, D], [H*d] for [H, d].
            let merged = target.shape.count >= 2 ? [target.shape[0] * target.shape[1]] + target.shape.dropFirst(2) : target.shape
            return source.shape == target.shape || source.shape == merged
        case .transpose:
            return source.shape.count == 2 && source.elementCount == count && target.shape.last == source.shape[0]
        case .fusedColumns:
            return source.shape.count == 2 && source.shape[1] % 3 == 0 && source.shape[1] / 3 * source.shape[0] == count
                && target.shape.last == source.shape[0]
        case .fusedSlice:
            return source.shape.count == 1 && source.shape[0] % 3 == 0 && source.shape[0] / 3 == count
        case .fusedRows:
            return source.shape.count == 2 && source.shape[0] % 3 == 0 && source.shape[0] / 3 * source.shape[1] == count
                && target.shape.last == source.shape[1]
        case .unpermuteRope(let heads), .permuteRope(let heads):
            // llama.cpp's order comes only for weights; Hugging Face's also for biases and head norms.
            let ranks = if case .unpermuteRope = self { 2...2 } else { 1...2 }
            let merged = target.shape.count >= 2 ? [target.shape[0] * target.shape[1]] + target.shape.dropFirst(2) : target.shape
            return source.shape == merged && ranks.contains(source.shape.count) && heads > 0 && source.shape[0] % (2 * heads) == 0
        case .rowRange(let first, let rowCount, let total):
            return source.shape.count == 2 && source.shape[0] == total && first >= 0 && rowCount > 0 && first + rowCount <= total
                && rowCount * source.shape[1] == count && target.shape.last == source.shape[1]
        }
    }

    /// Applies the transform to `source`, giving `target` (canonical name, role, shape; source dtype).
    func apply(_ source: TensorView, target: TensorInfo, file: String) throws -> TensorView {
        // Views and row moves keep blocks whole; transposes need plain elements.
        switch self {
        case .view, .unpermuteRope, .permuteRope, .fusedRows, .fusedSlice, .rowRange: break
        default:
            guard source.dtype.blockSize == 1 else { throw ImportError.sourceDType(file: file, tensor: source.name, dtype: source.dtype) }
        }
        guard fits(source: source.info, target: target) else {
            throw ImportError.sourceShapeMismatch(file: file, tensor: source.name, canonical: target.name, expected: target.shape, found: source.shape)
        }
        var info = target
        info.dtype = source.dtype
        let elementSize = source.dtype.blockBytes
        switch self {
        case .view:
            return TensorView(info: info, storage: source.storage, bytes: source.bytes)
        case .transpose:
            let (rows, columns) = (source.shape[0], source.shape[1])
            return copy(info) { out in
                transposeBlock(source.bytes, rows: rows, columns: columns, firstColumn: 0, columnCount: columns, elementSize: elementSize, into: out)
            }
        case .fusedColumns(let part):
            let (rows, columns) = (source.shape[0], source.shape[1])
            let n = columns / 3
            return copy(info) { out in
                transposeBlock(source.bytes, rows: rows, columns: columns, firstColumn: part * n, columnCount: n, elementSize: elementSize, into: out)
            }
        case .fusedSlice(let part), .fusedRows(let part):
            let n = info.byteCount
            return TensorView(info: info, storage: source.storage, bytes: UnsafeRawBufferPointer(rebasing: source.bytes[part * n..<(part + 1) * n]))
        case .rowRange(let first, _, let total):
            let rowBytes = source.bytes.count / total
            return TensorView(info: info, storage: source.storage, bytes: UnsafeRawBufferPointer(rebasing: source.bytes[first * rowBytes..<first * rowBytes + info.byteCount]))
        case .unpermuteRope(let heads), .permuteRope(let heads):
            let undo = if case .unpermuteRope = self { true } else { false }
            return copy(info) { out in
                permuteRopeRows(source.bytes, rows: source.shape[0], heads: heads, rowBytes: info.byteCount / source.shape[0], undo: undo, into: out)
            }
        }
    }

    private func copy(_ info: TensorInfo, _ fill: (UnsafeMutableRawBufferPointer) -> Void) -> TensorView {
        let storage = OwnedStorage(count: info.byteCount)
        fill(storage.mutableBytes)
        return TensorView(info: info, storage: storage, bytes: storage.bytes)
    }
}

// M [rows, columns] -> out [columnCount, rows] = (M[:, firstColumn ..< firstColumn + columnCount])^T
// In square tiles, so the strided side of each tile (one cache line per row or column) stays in the L1
// cache: element by element, every write of a wide matrix lands on another cache line and page.
func transposeBlock(_ source: UnsafeRawBufferPointer, rows: Int, columns: Int, firstColumn: Int, columnCount: Int,
                    elementSize: Int, into out: UnsafeMutableRawBufferPointer) {
    func run<T>(_: T.Type) {
        // Both buffers are at least element-aligned (mapped tensors start on 8-byte boundaries in
        // safetensors only by luck, so read unaligned; our own buffers are 64-byte aligned).
        let dst = out.bindMemory(to: T.self)
        let size = MemoryLayout<T>.stride
        let tile = 32
        for r0 in stride(from: 0, to: rows, by: tile) {
            let r1 = min(r0 + tile, rows)
            for c0 in stride(from: 0, to: columnCount, by: tile) {
                let c1 = min(c0 + tile, columnCount)
                for r in r0..<r1 {
                    let rowStart = (r * columns + firstColumn) * size
                    for c in c0..<c1 {
                        dst[c * rows + r] = source.loadUnaligned(fromByteOffset: rowStart + c * size, as: T.self)
                    }
                }
            }
        }
    }
    switch elementSize {
    case 1: run(UInt8.self)
    case 2: run(UInt16.self)
    case 4: run(UInt32.self)
    default: run(UInt64.self)
    }
}

// llama.cpp's convert_hf_to_gguf.py `permute`: per head, the Hugging Face rows [half, j] (half-major) are
// stored as [j, half] (interleaved) so ggml's RoPE, which rotates adjacent pairs, sees the right pairs.
// W [rows, ...] with rows = heads · d: `undo` false applies it, true undoes it. Whole rows move, so any
// dtype works, blocks included.
func permuteRopeRows(_ source: UnsafeRawBufferPointer, rows: Int, heads: Int, rowBytes: Int, undo: Bool,
                     into out: UnsafeMutableRawBufferPointer) {
    permuteRopeRows(source, rows: rows, heads: heads, rowBytes: rowBytes, undo: undo, firstRow: 0, rowCount: rows, into: out)
}

// The output rows firstRow ..< firstRow + rowCount of `permuteRopeRows`, into `out` from its start: a
// writer can make a large permuted weight a band at a time in one reused buffer.
func permuteRopeRows(_ source: UnsafeRawBufferPointer, rows: Int, heads: Int, rowBytes: Int, undo: Bool,
                     firstRow: Int, rowCount: Int, into out: UnsafeMutableRawBufferPointer) {
    let d = rows / heads, half = d / 2
    for to in firstRow..<firstRow + rowCount {
        // Within a head, Hugging Face's row side·half + j is llama.cpp's row 2j + side.
        let (h, k) = to.quotientAndRemainder(dividingBy: d)
        let from = undo ? h * d + (k % half) * 2 + k / half : h * d + (k % 2) * half + k / 2
        let at = (to - firstRow) * rowBytes
        UnsafeMutableRawBufferPointer(rebasing: out[at..<at + rowBytes])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: source[from * rowBytes..<(from + 1) * rowBytes]))
    }
}
