import COpenBLAS
import CQKVKernels
import Foundation
import Synchronization
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// qkv's own threads: OpenBLAS on the calling threads (several at once, its own pool stopped), the compute team,
/// and the encoder giving the same vectors however its work is shared out.
final class EncoderThreadingTests: XCTestCase {
    /// The installed OpenBLAS, on the calling thread as `qkv` runs it, called from four threads at once on
    /// the encoder's shapes, gives the same bits as the same calls one after another on one thread
    /// (OpenBLAS #1761, #2126 were races here).
    func testSingleThreadedOpenBLAS_isSafeFromConcurrentThreads() {
        withOpenBLASThreads(1) {
            let m = 34, n = 384, k = 384, calls = 4
            var random = SystemRandomNumberGenerator()
            let a = (0..<calls).map { _ in (0..<m * k).map { _ in Float.random(in: -1...1, using: &random) } }
            let w = (0..<n * k).map { _ in Float.random(in: -1...1, using: &random) }
            let serial = a.map { a in
                var c = [Float](repeating: 0, count: m * n)
                matmulTransposed(a, w, &c, m: m, n: n, k: k)
                return c
            }
            let mismatches = Atomic(0)
            DispatchQueue.concurrentPerform(iterations: calls) { i in
                var c = [Float](repeating: 0, count: m * n)
                for _ in 0..<200 {
                    matmulTransposed(a[i], w, &c, m: m, n: n, k: k)
                    if c != serial[i] { mismatches.add(1, ordering: .relaxed) }
                }
            }
            XCTAssertEqual(mismatches.load(ordering: .relaxed), 0)
        }
    }

    /// The hook `qkv` stops OpenBLAS's thread pool with (Sources/qkv/BLASThreads.swift), whose threads
    /// spin for a while after they start: a pool restarted by asking OpenBLAS for two threads is stopped
    /// again. (Its own flag, not a count of the process's threads: other tests' threads come and go
    /// meanwhile.)
    func testOpenBLASStopThreads_stopsOpenBLASsThreadPool() {
        let found = openblas_get_num_threads()
        defer { openblas_set_num_threads(found) }
        openblas_set_num_threads(1)
        _ = qkv_openblas_stop_threads()
        XCTAssertEqual(qkv_openblas_threads_running(), 0)
        openblas_set_num_threads(2)
        XCTAssertEqual(qkv_openblas_threads_running(), 1, "OpenBLAS started its pool again")
        openblas_set_num_threads(1)
        _ = qkv_openblas_stop_threads()
        XCTAssertEqual(qkv_openblas_threads_running(), 0)
        XCTAssertEqual(openblas_get_num_threads(), 1)
    }

    func testComputeTeam_runsEveryPartOncePerRun() {
        let team = ComputeTeam(size: 3)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 3)
        defer { counts.deallocate() }
        counts.initialize(repeating: 0, count: 3)
        for _ in 0..<1000 { team.run { part in counts[part] += 1 } }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: counts, count: 3)), [1000, 1000, 1000])
    }

    /// runPieces hands out every index exactly once, in pieces whose bounds are multiples of the
    /// alignment (but the end), however many threads claim them.
    func testComputeTeam_runPiecesCoversEveryIndexOnceInAlignedPieces() {
        for size in [1, 2, 3] {
            let team = ComputeTeam(size: size)
            for (count, align) in [(0, 16), (5, 16), (768, 16), (2048, 16), (32000, 16), (1000, 7)] {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(count, 1))
                defer { hits.deallocate() }
                hits.initialize(repeating: 0, count: max(count, 1))
                let lock = NSLock()
                var misaligned = 0
                team.runPieces(count: count, align: align) { _, piece in
                    if piece.lowerBound % align != 0 || (piece.upperBound % align != 0 && piece.upperBound != count) {
                        lock.lock(); misaligned += 1; lock.unlock()
                    }
                    for i in piece { hits[i] += 1 }   // pieces never overlap, so no two threads write one index
                }
                XCTAssertEqual(misaligned, 0, "\(size) threads, \(count) by \(align)")
                XCTAssertTrue(UnsafeBufferPointer(start: hits, count: count).allSatisfy { $0 == 1 }, "\(size) threads, \(count) by \(align)")
            }
        }
    }

    /// One thread, a team sharing each step of one sequence, and whole sequences per thread all give
    /// the same vectors (only the order of float sums differs); and so does one thread with OpenBLAS's
    /// own threads, what a host that leaves OpenBLAS threaded gets.
    func testEncoder_givesTheSameVectorsForEveryThreadSplit() throws {
        let path = BertEncoderTests.minilm
        XCTAssertTrue(FileManager.default.fileExists(atPath: path), "run tools/fetch-models.sh")
        let file = try ModelFile(try openWeightFile(path: path))
        let sequences = [[101, 2023, 2003, 1037, 3231, 6251, 102], [101, 7592, 102], Array(repeating: 2023, count: 40), [101, 102]]
        try withOpenBLASThreads(1) {
            let serial = try BertEncoder(file, context: ComputeContext(threads: 1)).embed(tokenIDs: sequences)
            for threads in [2, 3] {
                let encoder = try BertEncoder(file, context: ComputeContext(threads: threads))
                let batched = try encoder.embed(tokenIDs: sequences)            // whole sequences per thread
                let single = try sequences.map { try encoder.embed(tokenIDs: [$0])[0] }   // a team per sequence
                for (s, expected) in serial.enumerated() {
                    for (x, y) in zip(batched[s], expected) { XCTAssertEqual(x, y, accuracy: 1e-6, "\(threads) threads, sequence \(s)") }
                    for (x, y) in zip(single[s], expected) { XCTAssertEqual(x, y, accuracy: 1e-6, "\(threads) threads, sequence \(s) alone") }
                }
            }
            let blasThreaded = try withOpenBLASThreads(2) { try BertEncoder(file, context: ComputeContext(threads: 2)).embed(tokenIDs: sequences) }
            for (s, expected) in serial.enumerated() {
                for (x, y) in zip(blasThreaded[s], expected) { XCTAssertEqual(x, y, accuracy: 1e-6, "OpenBLAS threaded, sequence \(s)") }
            }
        }
    }
}

/// Runs `body` with OpenBLAS at `threads` threads, as a host may set it, then puts back the count it found.
func withOpenBLASThreads<R>(_ threads: Int32, _ body: () throws -> R) rethrows -> R {
    let found = openblas_get_num_threads()
    openblas_set_num_threads(threads)
    defer { openblas_set_num_threads(found) }
    return try body()
}
