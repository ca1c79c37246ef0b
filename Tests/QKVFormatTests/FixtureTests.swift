import XCTest
@testable import QKVFormat

/// The HDF5 fixtures written by h5py (tools/make_fixtures.py) read in qkv exactly as numpy recorded them.
final class FixtureTests: XCTestCase {
    func testHDF5Fixtures_readBitExactAgainstPythonChecksums() throws {
        XCTAssertEqual(Paths.expected.count, 5)
        for (name, expected) in Paths.expected {
            let file = try HDF5File(path: Paths.fixture(name))
            let model = try ModelFile(file)
            let tensors = expected["tensors"] as! [String: [String: Any]]
            XCTAssertEqual(Set(file.tensors.map(\.name)), Set(tensors.keys), name)
            for (tensorName, want) in tensors {
                let view = try file.tensor(tensorName)
                XCTAssertEqual(view.dtype.name, want["dtype"] as? String, "\(name) \(tensorName)")
                XCTAssertEqual(view.shape, want["shape"] as? [Int], "\(name) \(tensorName)")
                XCTAssertEqual(view.info.role?.name, want["role"] as? String, "\(name) \(tensorName)")
                XCTAssertEqual(view.withUnsafeBytes { CRC32.checksum($0) }, (want["crc32"] as! NSNumber).uint32Value, "\(name) \(tensorName)")
            }
            XCTAssertEqual(file.tensors.reduce(0) { $0 + $1.elementCount }, (expected["parameter_count"] as! NSNumber).intValue, name)
            XCTAssertEqual(model.tokenizer?.tokens.count, (expected["tokenizer_token_count"] as! NSNumber).intValue, name)

            // Every config value numpy wrote reads back with the same value.
            let config = expected["config"] as! [String: Any]
            for (key, value) in config {
                let ours = file.metadata["config.\(key)"]
                // JSON does not keep Python's int/float/bool apart reliably on Linux: compare by our type.
                switch ours {
                case .string(let s)?: XCTAssertEqual(s, value as? String, "\(name) config.\(key)")
                case .bool(let b)?: XCTAssertEqual(b, (value as? NSNumber)?.boolValue, "\(name) config.\(key)")
                case .int(let i)?: XCTAssertEqual(i, (value as? NSNumber)?.int64Value, "\(name) config.\(key)")
                case .float(let f)?: XCTAssertEqual(f, (value as? NSNumber)?.doubleValue, "\(name) config.\(key)")
                default: XCTFail("\(name): config.\(key) = \(String(describing: ours)), numpy wrote \(value)")
                }
            }
        }
    }

    func testHDF5Fixture_headSlabIsContiguousPerHead() throws {
        let file = try HDF5File(path: Paths.fixture("llama-tiny.h5"))
        let q = try file.tensor("layers/0/attn/q/weight")
        XCTAssertEqual(q.shape, [4, 8, 32])
        let head3 = q.slab(3)
        XCTAssertEqual(head3.shape, [8, 32])
        XCTAssertEqual(Array(head3.floats()), Array(q.floats()[3 * 256..<4 * 256]))
        let k = try file.tensor("layers/0/attn/k/weight")
        XCTAssertEqual(k.shape, [2, 8, 32], "GQA: two key heads")
    }

    func testHDF5Fixture_tokenizerAndSpecialTokens() throws {
        let model = try ModelFile(try HDF5File(path: Paths.fixture("llama-tiny.h5")))
        let tokenizer = try XCTUnwrap(model.tokenizer)
        XCTAssertEqual(tokenizer.kind, .sentencepieceBPE)
        XCTAssertEqual(tokenizer.scores?.count, tokenizer.tokens.count)
        XCTAssertEqual(tokenizer.tokenTypes?.count, tokenizer.tokens.count)
        XCTAssertEqual(model.config.specialTokens[.bos], 1)
        XCTAssertEqual(tokenizer.tokens[1], "<s>")
        XCTAssertEqual(model.config.rope, .init(theta: 10000, layout: .half))
        let bert = try ModelFile(try HDF5File(path: Paths.fixture("bert-tiny.h5")))
        XCTAssertEqual(bert.tokenizer?.options["tokenizer.continuing_prefix"], .string("##"))
        XCTAssertEqual(bert.tokenizer?.options["tokenizer.lowercase"], .bool(true))
    }
}

final class TensorViewTests: XCTestCase {
    func testTypedViewOfAMappedTensor_isZeroCopyAndEqualsTheValues() throws {
        let dir = try scratchDirectory()
        try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: "\(dir)/l.qkv", format: .qkv)
        let file = try QKVFile(path: "\(dir)/l.qkv")
        let view = try file.tensor("layers/0/attn/q/weight")
        let start = file.mapping.bytes.baseAddress!
        view.withUnsafeBufferPointer(of: Float.self) { floats in
            let entry = file.entries.first { $0.info.name == view.name }!
            XCTAssertEqual(UnsafeRawPointer(floats.baseAddress!), start + file.dataOffset + entry.offset, "points into the mapping")
            XCTAssertEqual(Array(floats), view.floats())
        }
        let head = view.slab(2)
        head.withUnsafeBufferPointer(of: Float.self) { XCTAssertEqual(Array($0), Array(view.floats()[2 * 256..<3 * 256])) }
    }

    func testViewsOutliveTheirFile() throws {
        let dir = try scratchDirectory()
        try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: "\(dir)/l.qkv", format: .qkv)
        var file: QKVFile? = try QKVFile(path: "\(dir)/l.qkv")
        let view = try file!.tensor("final_norm/weight")
        let values = view.floats()
        file = nil
        XCTAssertEqual(view.floats(), values, "the view keeps the mapping alive")
    }
}
