import Foundation
import Synchronization

/// The scratch memory of one encoder forward pass, with each of the context's threads' own; kept and
/// reused between passes (no allocation per pass once grown), one pass at a time. Concurrent callers
/// of the encoder each take their own workspace from the encoder's pool (and a team of threads from
/// its `ComputeContext`).
///
/// Unchecked `Sendable`: the buffers are mutable, but one pass at a time uses a workspace: it takes it
/// from the pool and gives it back through the pool's mutex, which orders one pass's use before the
/// next's, whichever threads they run on.
final class EncoderWorkspace: @unchecked Sendable {
    let x = FloatBuffer()        // residual stream [N, D]
    let q = FloatBuffer()        // [N, H·d]
    let k = FloatBuffer()
    let v = FloatBuffer()
    let z = FloatBuffer()        // every head's output, side by side [N, H·d]
    let out = FloatBuffer()      // attention or MLP output before its bias [N, D]
    let hidden = FloatBuffer()   // MLP hidden [N, F]
    let keys: [FloatBuffer]      // per thread: one head's Kᵀ [d, L rounded up to 8]
    let scores: [FloatBuffer]    // per thread: one query's scores [L rounded up to 8]
    let tiles: [FloatBuffer]     // per thread: a tile of an f16/bf16/q8_0 weight widened for sgemm

    init(threads: Int) {
        keys = (0..<threads).map { _ in FloatBuffer() }
        scores = (0..<threads).map { _ in FloatBuffer() }
        tiles = (0..<threads).map { _ in FloatBuffer() }
    }

    /// Grows the buffers for N packed tokens whose longest sequence has L tokens.
    func reserve(tokens N: Int, longest L: Int, _ config: ModelConfigDims) {
        let HD = config.heads * config.headDim, width = (L + 7) & ~7
        x.reserve(N * config.modelDim)
        out.reserve(N * config.modelDim)
        for buffer in [q, k, v, z] { buffer.reserve(N * HD) }
        hidden.reserve(N * config.ffnDim)
        for buffer in keys { buffer.reserve(config.headDim * width) }
        for buffer in scores { buffer.reserve(width) }
        for buffer in tiles { buffer.reserve(WeightMatrix.scratchFloats(modelDim: config.modelDim, ffnDim: config.ffnDim, headsTimesHeadDim: HD)) }
    }
}

/// The sizes a workspace is cut to.
struct ModelConfigDims {
    let modelDim, heads, headDim, ffnDim: Int
}

/// A growable f32 buffer at a fixed address between growths, 64-byte aligned (a cache line; what
/// OpenBLAS's kernels like). Its contents are scratch: growing drops them.
final class FloatBuffer {
    private(set) var pointer = UnsafeMutablePointer<Float>.allocate(capacity: 0)
    private(set) var capacity = 0

    func reserve(_ count: Int) {
        guard count > capacity else { return }
        pointer.deallocate()
        // The one allocation of the encoder's scratch: raw memory bound to Float, freed in deinit.
        pointer = UnsafeMutableRawPointer.allocate(byteCount: count * MemoryLayout<Float>.stride, alignment: 64)
            .bindMemory(to: Float.self, capacity: count)
        capacity = count
    }

    deinit { pointer.deallocate() }
}

/// The encoder's workspaces not in use; a pass takes one (or makes one) and gives it back.
final class EncoderWorkspacePool: Sendable {
    private let free = Mutex<[EncoderWorkspace]>([])

    /// A workspace with scratch for `threads` threads (always the encoder's context's count).
    func take(threads: Int) -> EncoderWorkspace {
        free.withLock { $0.popLast() } ?? EncoderWorkspace(threads: threads)
    }

    func giveBack(_ workspace: EncoderWorkspace) {
        free.withLock { $0.append(workspace) }
    }
}
