import XCTest
@testable import QKVInference

/// The sampler: greedy, temperature, top-k, top-p and the seeded stream.
final class SamplerTests: XCTestCase {
    func draw(_ logits: [Float], _ options: SamplingOptions, count: Int) -> [Int] {
        var sampler = Sampler(options)
        return (0..<count).map { _ in logits.withUnsafeBufferPointer { sampler.next($0) } }
    }

    func testSplitMix64_matchesTheReferenceStream() {
        // Vigna's splitmix64.c from state 0.
        var random = SplitMix64(seed: 0)
        XCTAssertEqual(random.next(), 0xE220_A839_7B1D_CDAF)
        XCTAssertEqual(random.next(), 0x6E78_9E6A_A1B9_65F4)
    }

    func testTemperatureZero_isArgmaxWithTheFirstIndexOnTies() {
        XCTAssertEqual(draw([0.1, 3, -2, 3], .greedy, count: 3), [1, 1, 1])
    }

    func testTopKOne_andTinyTopP_areGreedy() {
        let logits: [Float] = [0.5, 0.2, 2.0, 1.9]
        XCTAssertEqual(Set(draw(logits, SamplingOptions(temperature: 5, topK: 1, seed: 1), count: 50)), [2])
        XCTAssertEqual(Set(draw(logits, SamplingOptions(temperature: 5, topP: 0.01, seed: 1), count: 50)), [2])
    }

    func testTopK_neverPicksOutsideTheKBest() {
        let logits: [Float] = [0, 1, 2, 3, 4, 5, 6, 7]
        XCTAssertEqual(Set(draw(logits, SamplingOptions(temperature: 100, topK: 3, seed: 9), count: 2000)), [5, 6, 7])
    }

    func testTopP_keepsTheSmallestSetReachingP() {
        // Probabilities 0.5, 0.3, 0.15, 0.05: p = 0.75 needs the first two; p = 0.85 the first three.
        let logits = [0.5, 0.3, 0.15, 0.05].map { Float(log($0)) }
        XCTAssertEqual(Set(draw(logits, SamplingOptions(temperature: 1, topP: 0.75, seed: 3), count: 3000)), [0, 1])
        XCTAssertEqual(Set(draw(logits, SamplingOptions(temperature: 1, topP: 0.85, seed: 3), count: 3000)), [0, 1, 2])
    }

    func testTemperatureOne_drawsWithTheSoftmaxProbabilities() {
        let probabilities = [0.6, 0.25, 0.1, 0.05]
        let n = 40_000
        let picks = draw(probabilities.map { Float(log($0)) }, SamplingOptions(temperature: 1, seed: 42), count: n)
        for (i, p) in probabilities.enumerated() {
            let observed = Double(picks.filter { $0 == i }.count) / Double(n)
            // Five standard deviations of a binomial proportion.
            XCTAssertEqual(observed, p, accuracy: 5 * (p * (1 - p) / Double(n)).squareRoot(), "token \(i)")
        }
    }

    func testSameSeed_sameDraws_otherSeed_otherDraws() {
        let logits = (0..<100).map { Float($0 % 7) * 0.3 }
        let options = SamplingOptions(temperature: 1, seed: 123)
        XCTAssertEqual(draw(logits, options, count: 64), draw(logits, options, count: 64))
        XCTAssertNotEqual(draw(logits, options, count: 64), draw(logits, SamplingOptions(temperature: 1, seed: 124), count: 64))
    }
}
