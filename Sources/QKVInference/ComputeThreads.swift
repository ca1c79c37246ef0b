import COpenBLAS
import CQKVKernels
import Foundation
import Synchronization

// Threads: `--threads N` sets qkv's own thread count; qkv owns the cores and OpenBLAS runs every product
// on the thread that calls it. The encoder splits its work over threads of its own (a `ComputeTeam`):
// whole sequences per thread for a batch, or shares of each product's columns and of the attention heads
// for one sequence; the decoders do the same with their own team. BLAS threads inside our threads would
// oversubscribe the cores, and OpenBLAS's threads spin and yield around small products (OpenBLAS #4387,
// #731, #1614).
//
// Calling single-threaded OpenBLAS from several threads at once is safe in the pthread build
// (USE_THREAD=1, Debian's): its buffer allocation is locked since 0.3.7 (OpenBLAS #1761, #2126);
// EncoderThreadingTests checks it on the library installed here.

/// The `--threads` count, 0 until set: set by the command, read by whichever thread makes a team.
private let configuredThreads = Atomic<Int>(0)

/// Sets the number of threads qkv computes on (`qkv ... --threads N`), and puts OpenBLAS on the calling
/// thread for good (`runBLASOnCallingThreads`). Call it once, before any product.
/// - Parameter count: threads per forward pass, the calling thread included; below 1 counts as 1.
public func setComputeThreads(_ count: Int) {
    configuredThreads.store(max(1, count), ordering: .relaxed)
    runBLASOnCallingThreads()
}

/// The number of threads qkv computes on: as set, else every processor.
var computeThreads: Int {
    let count = configuredThreads.load(ordering: .relaxed)
    return count > 0 ? count : ProcessInfo.processInfo.activeProcessorCount
}

/// Makes OpenBLAS run every product on the thread that calls it, for the rest of the process, and stops
/// its thread pool; done once, by `setComputeThreads` and by the first `ComputeTeam`. The pool's
/// threads, started when the library loads, spin on `sched_yield` for about 0.1 s after they start (and
/// after each threaded product) before they sleep: on two cores that spin took a core from qkv's own
/// threads for the first 0.1 s of every command, a third of a 256-token prompt (perf, llama-134m).
/// The pool would start again only for a threaded product, which qkv no longer asks for. `qkv` calls it
/// first thing for every command (a conversion has no products, but the pool spun anyway: 30 % of the
/// samples of `qkv convert`, perf).
public func runBLASOnCallingThreads() { _ = blasOnCallingThreads }

private let blasOnCallingThreads: Void = stopBLASThreads()

/// `runBLASOnCallingThreads`' work, each time it is called (tests restart the pool to check it stops).
/// Setting the thread count comes first: OpenBLAS restarts a stopped pool on every count it is given.
func stopBLASThreads() {
    openblas_set_num_threads(1)
    _ = qkv_openblas_stop_threads()
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
/// microseconds apart) and then sleeping, so an idle team costs no processor time. One `run` at a time,
/// hence not `Sendable`: its owner (a session, a batch, an encoder workspace) is used by one caller at a
/// time.
final class ComputeTeam {
    let size: Int
    private let state: TeamState

    init(size: Int) {
        self.size = max(1, size)
        state = TeamState(yieldsWhileWaiting: self.size > ProcessInfo.processInfo.activeProcessorCount)
        runBLASOnCallingThreads()
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
