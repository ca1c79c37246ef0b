import XCTest
@testable import QKVFormat

/// gguf-split's grouping rules (whole files are checked against gguf-split itself by
/// tools/tests/test_gguf_split.py).
final class GGUFSplitTests: XCTestCase {
    func testSizeLimit_countsPaddedTensorBytes_andStartsAShardBeforeTheTensorThatWouldPassIt() {
        // 40 bytes pad to 64; 64 + 64 > 100, so every tensor gets its own shard.
        XCTAssertEqual(GGUFSplit.groups([40, 40, 40], limit: .bytes(100)), [[0], [1], [2]])
        XCTAssertEqual(GGUFSplit.groups([32, 32, 32, 32], limit: .bytes(64)), [[0, 1], [2, 3]])
        // A tensor larger than the limit fills a shard of its own when it is not first.
        XCTAssertEqual(GGUFSplit.groups([10, 1000, 10], limit: .bytes(100)), [[0], [1], [2]])
    }

    func testSizeLimit_smallerThanTheFirstTensor_isRefused() {
        XCTAssertNil(GGUFSplit.groups([1000, 10], limit: .bytes(100)))
    }

    func testTensorLimit_startsAShardEveryNTensors() {
        XCTAssertEqual(GGUFSplit.groups([1, 1, 1, 1, 1], limit: .tensors(2)), [[0, 1], [2, 3], [4]])
    }

    func testSizeSyntax_isGGUFSplits() {
        XCTAssertEqual(GGUFSplit.Limit(size: "500M"), .bytes(500_000_000))
        XCTAssertEqual(GGUFSplit.Limit(size: "2G"), .bytes(2_000_000_000))
        XCTAssertNil(GGUFSplit.Limit(size: "100K"))
        XCTAssertNil(GGUFSplit.Limit(size: "M"))
        XCTAssertNil(GGUFSplit.Limit(size: "0M"))
    }

    func testShardNames_areLlamaCpps() {
        XCTAssertEqual(GGUFFile.splitPath("dir/model", shard: 0, of: 3), "dir/model-00001-of-00003.gguf")
        XCTAssertEqual(GGUFFile.splitPrefix("dir/model-00002-of-00003.gguf", shard: 1, of: 3), "dir/model")
        XCTAssertNil(GGUFFile.splitPrefix("dir/model-00002-of-00003.gguf", shard: 0, of: 3))
    }
}
