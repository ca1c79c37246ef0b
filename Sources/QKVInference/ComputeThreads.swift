import COpenBLAS
import CQKVKernels
import Foundation
import Synchronization

// Threads: a `ComputeContext` says how many threads a forward pass computes on and lends it a
// `ComputeTeam` of that many. The encoder splits its work over the team: whole sequences per thread for
// a batch, or shares of each product's columns and of the attention heads for one sequence; the
// decoders do the same. Each team thread runs its own products, so OpenBLAS should compute each on the
// thread that calls it: BLAS threads inside our threads would oversubscribe the cores, and OpenBLAS's
// threads spin and yield around small products (OpenBLAS #4387, #731, #1614). That is the host's
// setting to make (`qkv` makes it first thing, Sources/qkv/BLASThreads.swift); library code only reads
// it (`ComputeContext.withTeam`).
//
// Calling single-threaded OpenBLAS from several threads at once is safe in the pthread build
// (USE_THREAD=1, Debian's): its buffer allocation is locked since 0.3.7 (OpenBLAS #1761, #2126);
// EncoderThreadingTests checks it on the library installed here.

/// What running a model computes with: how many threads, which kernels, and the teams of threads
/// themselves. Whoever runs models owns one and passes it to them (`DecoderModel`, `LanguageModel`,
/// `SentenceEmbedder`, `CrossEncoder`, `AttentionAnalyzer`); `default` is every processor and the widest
/// kernels, which is what a model uses when given none.
///
/// The context keeps a small pool of thread teams. A forward pass (a prompt, a decode step, a batch
/// step, an encoder batch) checks one out and gives it back when it ends, so an idle session or model
/// holds no threads of its own, and users running at the same time (a server's generation scheduler and
/// its embedding batcher) each get a team; the pool grows to the most passes that ever ran at once. An
/// idle team's threads spin for about 100 µs after a pass and then sleep.
///
/// Kernels: the C kernels keep one process-wide level, chosen once, the first time any context is
/// made (or `NativeKernels.level` is read): the widest the processor has, or at most what the
/// environment variable `QKV_KERNELS` names (`swift`, `avx2`, `avx512`). `kernels` reports that level;
/// no library call changes it afterwards, so every context in a process has the same one.
///
/// OpenBLAS: the context never changes OpenBLAS's settings. When OpenBLAS runs products on one thread
/// (the host called `openblas_set_num_threads(1)`, as `qkv` does), the team's threads each call it for
/// their own share, in parallel. When OpenBLAS has threads of its own, a pass that multiplies with
/// OpenBLAS (a prompt, a batch step, an encoder pass) runs on the calling thread alone and lets OpenBLAS
/// spread each product over its threads: never several sgemm calls at once, each wanting every core.
/// One-token decode steps, which run qkv's own kernels, still take the whole team. The results are the
/// same either way, up to the order of float sums.
public final class ComputeContext: Sendable {
    /// A context for the whole machine: every active processor, the process's kernels.
    public static let `default` = ComputeContext()

    /// Threads a forward pass computes on, the calling thread included.
    public let threads: Int
    /// The kernels the products run in: the process's level (`NativeKernels.level`).
    public let kernels: NativeKernels.Level

    /// Teams not in use; a pass takes the last one given back (its threads are the likeliest to be
    /// still spinning) or makes one.
    private let idle = Mutex<[ComputeTeam]>([])
    /// Teams this context has made (tests check that sessions do not each start threads).
    let teamsMade = Atomic<Int>(0)

    /// A context computing on `threads` threads.
    /// - Parameter threads: threads per forward pass, the calling thread included; nil for every active
    ///   processor; below 1 counts as 1.
    public init(threads: Int? = nil) {
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        kernels = NativeKernels.level
    }

    /// Teams idle in the pool now.
    var idleTeams: Int { idle.withLock { $0.count } }

    /// Runs `body` with a team of `threads` threads checked out of the pool, and gives it back after.
    /// `usesBLAS`: the pass multiplies with OpenBLAS; when OpenBLAS has threads of its own, `body` then
    /// gets a team of the calling thread alone (see the type's discussion).
    func withTeam<R>(usesBLAS: Bool, _ body: (ComputeTeam) -> R) -> R {
        if threads == 1 || (usesBLAS && openblas_get_num_threads() > 1) { return body(ComputeTeam.callingThread) }
        let team = idle.withLock { $0.popLast() } ?? makeTeam()
        defer { idle.withLock { $0.append(team) } }
        return body(team)
    }

    private func makeTeam() -> ComputeTeam {
        teamsMade.add(1, ordering: .relaxed)
        return ComputeTeam(size: threads)
    }
}

/// Part `part` of `parts` of 0..<count, cut at multiples of `align` (so SIMD blocks stay whole); the
/// parts tile 0..<count in order and differ in size by at most `align`.
func share(_ count: Int, part: Int, of parts: Int, align: Int = 1) -> Range<Int> {
    let blocks = (count + align - 1) / align
    let start = min(count, blocks * part / parts * align)
    let end = part == parts - 1 ? count : min(count, blocks * (part + 1) / parts * align)
    return start..<end
}

/// A team of `size` threads: the caller of `run` plus `size - 1` workers that wait for the next
/// `run`, spinning for a while (a forward pass calls `run` several times per layer, tens of
/// microseconds apart) and then sleeping, so an idle team costs no processor time.
///
/// Unchecked `Sendable`: one `run` at a time, by one caller. A `ComputeContext` lends a team to one pass
/// at a time; taking it from the pool and giving it back go through the pool's mutex, which orders one
/// pass's use before the next's, whichever threads they run on. `callingThread` (size 1) has no workers
/// and no state its runs touch, so any number of callers may use it at once.
final class ComputeTeam: @unchecked Sendable {
    let size: Int
    private let state: TeamState

    /// The team of the calling thread alone.
    static let callingThread = ComputeTeam(size: 1)

    init(size: Int) {
        self.size = max(1, size)
        state = TeamState(yieldsWhileWaiting: self.size > ProcessInfo.processInfo.activeProcessorCount)
        for worker in 1..<self.size {
            let state = self.state
            let thread = Thread { state.work(as: worker) }
            thread.name = "qkv-compute-\(worker)"
            thread.start()
        }
    }

    deinit { state.stop() }

    /// The next unclaimed block of `runPieces`.
    private let nextBlock = Atomic<Int>(0)

    /// Runs `body(thread, range)` on pieces of 0..<count that the threads claim as they come free, until
    /// none is left; piece bounds are multiples of `align` (but the end). Pieces start large, a 1/(2P)
    /// of what is left, and shrink to `minimumBlocks` blocks of `align`, so each thread streams long
    /// runs and none waits at the end for more than a small piece: memory-bound steps (one token
    /// through a weight) take unequal times on the two cores, and with fixed halves the faster thread
    /// waited at every step (14 % of q8_0 decode, perf). Which thread computes a piece must not change
    /// its result.
    func runPieces(count: Int, align: Int, minimumBlocks: Int = 4, _ body: (Int, Range<Int>) -> Void) {
        if size == 1 { return body(0, 0..<count) }
        let blocks = (count + align - 1) / align, size = self.size
        nextBlock.store(0, ordering: .relaxed)   // published to the workers by `run`'s release
        run { thread in
            var start = nextBlock.load(ordering: .relaxed)
            while start < blocks {
                let claim = min(blocks - start, max(minimumBlocks, (blocks - start) / (2 * size)))
                let (claimed, current) = nextBlock.compareExchange(expected: start, desired: start + claim, ordering: .relaxed)
                if !claimed { start = current; continue }
                body(thread, start * align..<min(count, (start + claim) * align))
                start = nextBlock.load(ordering: .relaxed)
            }
        }
    }

    /// Runs `body(thread, range)` over 0..<count cut at multiples of `align`: pieces the threads claim as
    /// they come free (`runPieces`) when `claimed`, else one fixed `share` per thread (for sgemm, where
    /// every call packs its inputs again).
    func runShares(count: Int, align: Int, claimed: Bool, _ body: (Int, Range<Int>) -> Void) {
        if claimed {
            runPieces(count: count, align: align, body)
        } else {
            run { p in body(p, share(count, part: p, of: size, align: align)) }
        }
    }

    /// Runs `body(0)` on the calling thread and `body(1)` ... `body(size - 1)` on the workers at the
    /// same time; returns when all have returned.
    func run(_ body: (Int) -> Void) {
        if size == 1 { return body(0) }
        withoutActuallyEscaping(body) { body in
            state.start(body, workers: size - 1)
            body(0)
            state.waitUntilDone()
        }
    }
}

/// What a team's threads share: the run's body, the atomics that order it, and a condition to sleep on.
///
/// Unchecked `Sendable` because of `body`, a plain variable the caller writes and the workers read; the
/// team's barrier orders every access to it:
/// - `start` writes `body`, then increments `generation` with release; a worker calls `body` only after
///   it loaded that new `generation` with acquire, so it sees this run's body (a sleeping worker loads
///   it again after waking).
/// - A worker decrements `remaining` with release after its last use of `body`; `waitUntilDone` clears
///   `body`, and `run` returns (ending the non-escaping closure's life), only after loading
///   `remaining == 0` with acquire, so no worker still uses it.
/// - The next `start` comes after that return, so no worker reads `body` while the caller writes it.
/// `stop` (the team's deinit) stores `stopping` before its release of `generation`, so a worker that
/// acquires that generation sees it and returns without touching `body`.
private final class TeamState: @unchecked Sendable {
    let generation = Atomic<Int>(0)
    let remaining = Atomic<Int>(0)
    let stopping = Atomic<Bool>(false)
    let wake = NSCondition()
    private var body: ((Int) -> Void)?
    /// Polls of `generation` before a worker sleeps: about 100 µs.
    static let spinLimit = 200_000
    /// Whether a waiting thread gives its core away now and then (`sched_yield`): only when the team has
    /// more threads than there are cores, where the thread it waits for may be waiting for that core.
    /// Otherwise a yield hands the core to any other runnable process for a whole time slice (up to
    /// milliseconds), and a forward pass waits at tens of barriers per token: under a background build,
    /// yielding made decode 2 to 4 times slower than spinning (Specs/benchmarks.md).
    let yieldsWhileWaiting: Bool

    init(yieldsWhileWaiting: Bool) { self.yieldsWhileWaiting = yieldsWhileWaiting }

    func start(_ body: @escaping (Int) -> Void, workers: Int) {
        self.body = body
        remaining.store(workers, ordering: .relaxed)
        generation.wrappingAdd(1, ordering: .releasing)
        // A worker checks `generation` under the lock before it sleeps, so it either sees the new
        // value or is already waiting when this broadcast comes.
        wake.lock(); wake.broadcast(); wake.unlock()
    }

    func waitUntilDone() {
        var spins = 0
        while remaining.load(ordering: .acquiring) > 0 { spins += 1; if yieldsWhileWaiting && spins & 1023 == 0 { sched_yield() } }
        body = nil
    }

    func stop() {
        stopping.store(true, ordering: .relaxed)
        generation.wrappingAdd(1, ordering: .releasing)
        wake.lock(); wake.broadcast(); wake.unlock()
    }

    func work(as index: Int) {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if yieldsWhileWaiting && spins & 1023 == 0 { sched_yield() }
                if spins >= Self.spinLimit {
                    wake.lock()
                    while generation.load(ordering: .acquiring) == seen { wake.wait() }
                    wake.unlock()
                }
            }
            seen = generation.load(ordering: .acquiring)
            if stopping.load(ordering: .relaxed) { return }
            body!(index)
            remaining.wrappingSubtract(1, ordering: .releasing)
        }
    }
}
