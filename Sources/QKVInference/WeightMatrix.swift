import CQKVKernels
import COpenBLAS
import QKVFormat

/// A 2-D weight [rows, columns] as the file stores it — f32, f16, bf16, q8_0 or another runnable block
/// type (q4_0 … q6_k, iq4_nl, iq4_xs: blocks along each row) — used in place from the mapping: no f32
/// copy. The dequantize-only block types (iq1_s … mxfp4) are widened to f32 once at load. One token multiplies it with the matrix-vector
/// kernels (MatrixVectorKernels.swift, CQKVKernels), which widen in registers; many rows (a prompt, an
/// encoder's batch) widen tiles of it into a thread's scratch and run sgemm on them.
/// A tensor of rank > 2 is read as [first dimensions, last]: per-head slabs [H, d, D] as [H·d, D].
///
/// Unchecked `Sendable`: every field is immutable and `base` points into `view`'s storage, which the
/// view keeps alive and nobody writes once views of it exist (`TensorView`).
struct WeightMatrix: @unchecked Sendable {
    let view: TensorView
    let dtype: DType
    let base: UnsafeRawPointer
    let rows: Int, columns: Int
    /// Bytes from one row to the next.
    let rowBytes: Int
    /// Its products take 8-bit activations (a block-quantized matrix under `.q8`, with the C kernels): one
    /// token's always, many tokens' where `NativeKernels.eightBitPrompts`.
    let integerActivations: Bool
    /// A prompt's products take bf16 activations (a bf16 or f32 matrix under `.bf16`, where the CPU has
    /// AVX512_BF16; f32 weights are rounded to bf16 too, as the panels are packed).
    let bf16Activations: Bool

    init(_ file: any WeightFile, _ name: String, activations: ActivationPrecision = .f32) throws {
        var view = try file.tensor(name)
        switch view.dtype {
        case .f32:
            // sgemm wants floats on float boundaries (.qkv tensors start on 64 bytes; safetensors and
            // GGUF promise less): an unaligned f32 tensor is copied once.
            let aligned = view.withUnsafeBytes { Int(bitPattern: $0.baseAddress) % MemoryLayout<Float>.alignment == 0 }
            if !aligned { view = view.converted(to: .f32) }
        case .f16, .bf16: break
        case let blocked where blocked.isRunnable: break
        default: view = view.converted(to: .f32)
        }
        self.view = view
        dtype = view.dtype
        columns = view.shape.last ?? 1
        rows = view.info.elementCount / max(columns, 1)
        rowBytes = dtype.byteCount(for: [columns])!   // the container checked: whole blocks
        integerActivations = activations == .q8 && dtype.isBlockQuantized && NativeKernels.enabled
        bf16Activations = activations == .bf16 && (dtype == .bf16 || dtype == .f32) && NativeKernels.enabled
        // The view keeps its storage alive for as long as this matrix lives.
        base = view.withUnsafeBytes { UnsafeRawPointer($0.baseAddress!) }
    }

    /// The f32 elements in place (f32 matrices only).
    var floats: UnsafePointer<Float> { base.assumingMemoryBound(to: Float.self) }

    /// Calls `body` with the whole matrix as f32: the mapped floats of an f32 matrix, else a widened copy
    /// made for the call (for `qkv attention`'s update norms, not the hot path).
    func withFloats<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
        if dtype == .f32 { return body(floats) }
        let copy = [Float](unsafeUninitializedCapacity: rows * columns) { out, count in
            for r in 0..<rows { widenRow(r, 0..<columns, into: out.baseAddress! + r * columns) }
            count = rows * columns
        }
        return copy.withUnsafeBufferPointer { body($0.baseAddress!) }
    }

    /// out [columns.count] = row r's `columns`, widened exactly (block types as ggml dequantizes them).
    @inline(__always)
    func widenRow(_ r: Int, _ columns: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        QKVInference.widenRow(dtype, base, rowBytes: rowBytes, row: r, columns: columns, into: out)
    }

    /// y [r] = W [r, :] · x [columns] for r in `rows` (one token through a Linear weight). Called from
    /// the team's threads (or, where that would call OpenBLAS while it has threads of its own, from the
    /// calling thread alone: `ComputeContext`). Every dtype runs in the C kernels where the
    /// processor has them (`NativeKernels`); f32 otherwise goes to OpenBLAS's sgemv.
    func multiplyVector(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        // With 8-bit activations every runnable block type, q8_0 included, takes the C integer kernels.
        if integerActivations,
           qkv_dot_rows_blocks_q8(CInt(dtype.rawValue), base, rowBytes, x, y, rows.lowerBound, rows.upperBound, columns) != 0 {
            return
        }
        if dtype.isBlockQuantized && dtype != .q8_0 {
            // C for every runnable block type where the processor has AVX2; else per block in Swift.
            if NativeKernels.enabled,
               qkv_dot_rows_blocks(CInt(dtype.rawValue), base, rowBytes, x, y, rows.lowerBound, rows.upperBound, columns) != 0 {
                return
            }
            dotRowsBlocks(dtype, base, rowBytes: rowBytes, x, y, rows: rows, k: columns)
            return
        }
        if NativeKernels.enabled {
            nativeDotRows(dtype, base, rowBytes: rowBytes, x, y, rows: rows, k: columns)
            return
        }
        switch dtype {
        case .f16: dotRows(F16Elements.self, base, rowBytes: rowBytes, x, y, rows: rows, k: columns)
        case .bf16: dotRows(BF16Elements.self, base, rowBytes: rowBytes, x, y, rows: rows, k: columns)
        case .q8_0: dotRowsQ8_0(base, x, y, rows: rows, k: columns)
        default:
            // f32 without the C kernels: OpenBLAS's sgemv on this share,
            // whose AVX-512 kernel beats the SSE2 Swift kernel (gpt2-124m, 1 thread: 25-27 vs 17 tok/s);
            // the C kernel, which prefetches a page ahead, beats sgemv by 7 % (llama-134m, 1 thread).
            guard !rows.isEmpty else { return }
            cblas_sgemv(CblasRowMajor, CblasNoTrans, Int32(rows.count), Int32(columns), 1, floats + rows.lowerBound * columns,
                        Int32(columns), x, 1, 0, y + rows.lowerBound, 1)
        }
    }

    /// y [c] = Σ_i x [i] · W [i, c] for c in `columns` (x [rows]; the attention output projection
    /// stored [H·d, D]). Any bounds: q8_0's kernels take whole blocks, other bounds go the block path.
    func multiplyVectorTransposed(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, columns range: Range<Int>) {
        if dtype.isBlockQuantized && (dtype != .q8_0 || range.lowerBound % 32 != 0 || range.upperBound % 32 != 0) {
            dotColumnsBlocks(dtype, base, rowBytes: rowBytes, x, y, columns: range, k: rows)
            return
        }
        if NativeKernels.enabled {
            nativeDotColumns(dtype, base, rowBytes: rowBytes, n: columns, x, y, columns: range, k: rows)
            return
        }
        switch dtype {
        case .f16: dotColumns(F16Elements.self, base, rowBytes: rowBytes, x, y, columns: range, k: rows)
        case .bf16: dotColumns(BF16Elements.self, base, rowBytes: rowBytes, x, y, columns: range, k: rows)
        case .q8_0: dotColumnsQ8_0(base, n: columns, x, y, columns: range, k: rows)
        default:
            guard !range.isEmpty else { return }
            cblas_sgemv(CblasRowMajor, CblasTrans, Int32(rows), Int32(range.count), 1, floats + range.lowerBound,
                        Int32(columns), x, 1, 0, y + range.lowerBound, 1)
        }
    }

    /// Floats of a widened tile: 1 MiB of f32, at least what `multiply` and `multiplyTransposed` take from
    /// the scratch. Every sgemm call packs the tokens' rows again, so fewer, larger tiles pay that less
    /// often; a tile of about L2's size (256 KiB) repacked the tokens four times as often (Specs/benchmarks.md).
    static let tileFloats = 262_144

    /// The scratch floats each thread needs for the tiles of a model's matrices: 8 rows of the widest
    /// ([*, max(D, F)]) or 32 columns of W_O ([H·d, D]), and a whole tile.
    static func scratchFloats(modelDim: Int, ffnDim: Int, headsTimesHeadDim: Int) -> Int {
        max(tileFloats, 8 * max(modelDim, ffnDim), 32 * headsTimesHeadDim)
    }

    /// Up to this many tokens, `multiply` runs the C kernel that reads W in place (qkv_gemm_rows_*)
    /// instead of sgemm, which packs its share of W first. With AVX-512, at 17–64 tokens the kernel
    /// measured 1.0–2.0x sgemm's rate on MiniLM's shapes, at 96 the same, beyond that slower; the AVX2
    /// kernel's tiles are a third as wide, so it takes only the few rows of a batched decode step
    /// (Specs/benchmarks.md).
    static let directTokens = NativeKernels.level == .avx512 ? 64 : 8

    /// Up to this many tokens, a block-quantized `multiply` dequantizes each row once for all of them
    /// (qkv_gemm_rows_blocks), every token's row of Y then equal to its own one-token product; more take
    /// the widened tiles and sgemm.
    static let directBlockTokens = 8

    /// Whether a many-token `multiply` widens tiles of W into the scratch; else it reads W in place (f32
    /// through sgemm, or the panel kernels of 8-bit and bf16 activations, which take any share at once).
    var widensTiles: Bool {
        dtype != .f32 && !(integerActivations && NativeKernels.eightBitPrompts) && !(bf16Activations && NativeKernels.bf16Prompts)
    }

    /// Whether a product of `m` tokens reads this f32 matrix in place with qkv's own kernels (the one-token
    /// kernels, `qkv_gemm_rows_f32` up to `directTokens`; or, under bf16 activations, the bf16 panels,
    /// whose lane r is row r's alone), which sum each element of Y in the same order however the rows are cut. sgemm, the other path, must not be cut: OpenBLAS sends a small enough
    /// product (its SkylakeX kernels: rows × tokens ≤ 1200) to a kernel that sums k in another order.
    func readsInPlaceCutAnywhere(tokens m: Int) -> Bool {
        dtype == .f32 && NativeKernels.enabled && (m == 1 || (m <= Self.directTokens && columns % 16 == 0))
    }

    /// Rows of about 256 KiB of this matrix (a multiple of 16): a piece that stays in L2 between two
    /// products over it.
    var cachedRows: Int { max(16, 65_536 * MemoryLayout<Float>.size / max(rowBytes, 1) / 16 * 16) }

    /// The rows of a tile converted at once into a thread's scratch.
    func tileRows(scratchFloats: Int) -> Int { max(8, min(scratchFloats, Self.tileFloats) / max(columns, 1) / 8 * 8) }

    /// Y [m, r] = X [m, columns] · W [r, :]ᵀ for r in `rows`, Y's rows `ldy` apart (many tokens through
    /// a Linear weight). With 8-bit activations on a CPU with VNNI, the tokens' 8-bit blocks meet panels of
    /// W unpacked once in `scratch` (qkv_gemm_panels_q8), and with bf16 activations on a CPU with AVX512_BF16
    /// the tokens rounded to bf16 meet panels of W as bf16 (qkv_gemm_panels_bf16); else a few tokens (`directTokens`,
    /// `directBlockTokens`) go to the C kernels that read W in place, f32 to sgemm in place, other dtypes a
    /// tile of rows at a time through `scratch` (at least `scratchFloats`). Calls OpenBLAS on the calling
    /// thread's terms.
    func multiply(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, rows range: Range<Int>,
                  scratch: UnsafeMutablePointer<Float>, scratchFloats: Int) {
        guard !range.isEmpty else { return }
        let k = columns
        if integerActivations, m > 1,
           qkv_gemm_panels_q8(CInt(dtype.rawValue), x, k, m, base, rowBytes, k, y, ldy, range.lowerBound, range.upperBound,
                              scratch, scratchFloats * MemoryLayout<Float>.size) != 0 {
            return
        }
        if bf16Activations, m > 1,
           qkv_gemm_panels_bf16(x, k, m, base, dtype == .f32 ? 1 : 0, rowBytes, k, y, ldy, range.lowerBound, range.upperBound,
                                scratch, scratchFloats * MemoryLayout<Float>.size) != 0 {
            return
        }
        if m <= (dtype.isBlockQuantized ? Self.directBlockTokens : Self.directTokens), NativeKernels.enabled,
           nativeMultiplyRows(dtype, base, rowBytes: rowBytes, k: k, x, ldx: k, m: m, y, ldy: ldy, rows: range) {
            return
        }
        if dtype == .f32 {
            matmulTransposed(x, floats + range.lowerBound * k, y + range.lowerBound, m: m, n: range.count, k: k, ldc: ldy)
            return
        }
        let tile = tileRows(scratchFloats: scratchFloats)
        var r = range.lowerBound
        while r < range.upperBound {
            let count = min(tile, range.upperBound - r)
            for i in 0..<count { widenRow(r + i, 0..<k, into: scratch + i * k) }
            matmulTransposed(x, scratch, y + r, m: m, n: count, k: k, ldc: ldy)
            r += count
        }
    }

    /// Y [m, r] = X [m, columns] · W [r, :]ᵀ for r in `rows` with 8-bit activations, each token's row of Y
    /// bit-identical to `multiplyVector` on it: a batched decode step, where every sequence must get the
    /// numbers it would get decoded alone. As many tokens at a time as `scratch` holds the 8-bit blocks of,
    /// each pass of weight rows read once for all of them. False, computing nothing, unless this matrix
    /// takes 8-bit activations.
    func multiplyEachToken(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, rows range: Range<Int>,
                           scratch: UnsafeMutablePointer<Float>, scratchFloats: Int) -> Bool {
        guard integerActivations else { return false }
        let k = columns, scratchBytes = scratchFloats * MemoryLayout<Float>.size
        let group = max(1, min(m, scratchBytes / max(qkv_gemm_rows_blocks_q8_scratch(1, k), 1)))
        var t = 0
        while t < m {
            let count = min(group, m - t)
            guard qkv_gemm_rows_blocks_q8(CInt(dtype.rawValue), x + t * k, k, count, base, rowBytes, k, y + t * ldy, ldy,
                                          range.lowerBound, range.upperBound, scratch, scratchBytes) != 0 else {
                precondition(t == 0, "the 8-bit kernel refused a later group of the same product")
                return false
            }
            t += count
        }
        return true
    }

    /// Y [m, c] = X [m, rows] · W [:, c] for c in `columns` (bounds multiples of 32 unless the upper is
    /// the end), Y's rows `ldy` apart (many tokens through the attention output projection). With bf16
    /// activations on a CPU with AVX512_BF16, panels of W's columns as bf16 (qkv_gemm_panels_bf16_columns).
    func multiplyTransposed(_ x: UnsafePointer<Float>, m: Int, into y: UnsafeMutablePointer<Float>, ldy: Int, columns range: Range<Int>,
                            scratch: UnsafeMutablePointer<Float>, scratchFloats: Int) {
        guard !range.isEmpty else { return }
        let k = rows
        if bf16Activations, m > 1,
           qkv_gemm_panels_bf16_columns(x, k, m, base, dtype == .f32 ? 1 : 0, rowBytes, k, y, ldy, range.lowerBound, range.upperBound,
                                        scratch, scratchFloats * MemoryLayout<Float>.size) != 0 {
            return
        }
        if dtype == .f32 {
            matmul(x, floats + range.lowerBound, y + range.lowerBound, m: m, n: range.count, k: k, ldb: columns, ldc: ldy)
            return
        }
        let tile = max(32, min(scratchFloats, Self.tileFloats) / max(k, 1) / 32 * 32)
        var c = range.lowerBound
        while c < range.upperBound {
            let count = min(tile, range.upperBound - c)
            for i in 0..<k { widenRow(i, c..<(c + count), into: scratch + i * count) }
            matmul(x, scratch, y + c, m: m, n: count, k: k, ldb: count, ldc: ldy)
            c += count
        }
    }
}
