import XCTest
@testable import QKVFormat

/// Every block type's dequantization against gguf-py's `gguf.quants.dequantize` (the "<type>.f32"
/// tensors of Fixtures/quant/blocks.gguf, written by tools/fixtures_quant.py), bit for bit, NaN payloads
/// included; special scales (zero, -0, subnormal, largest, infinite, NaN) and extreme quants are planted.
final class BlockQuantizationTests: XCTestCase {
    let blockTypes = DType.allCases.filter(\.isBlockQuantized)

    func testEveryBlockType_dequantizesBitIdenticalToGGUFPy() throws {
        let file = try GGUFFile(path: Paths.fixture("quant/blocks.gguf"))
        for dtype in blockTypes {
            let blocks = try file.tensor(dtype.name), reference = try file.tensor(dtype.name + ".f32")
            XCTAssertEqual(blocks.dtype, dtype)
            XCTAssertEqual(blocks.shape, reference.shape, "\(dtype)")
            let ours = DTypeConversion.dequantize(blocks)
            let a = ours.withUnsafeBufferPointer(of: UInt32.self) { Array($0) }
            let b = reference.withUnsafeBufferPointer(of: UInt32.self) { Array($0) }
            let mismatches = zip(a, b).enumerated().filter { $0.element.0 != $0.element.1 }
            XCTAssertTrue(mismatches.isEmpty, "\(dtype): \(mismatches.count) of \(a.count) differ, first at \(mismatches.first.map { "\($0.offset): \(String($0.element.0, radix: 16)) vs gguf-py \(String($0.element.1, radix: 16))" } ?? "")")
        }
    }

    func testRowRanges_matchTheWholeRowAtEveryBoundary() throws {
        // Any column range of a row (the tails of tiles and column shares) equals that slice of the row.
        let file = try GGUFFile(path: Paths.fixture("quant/blocks.gguf"))
        for dtype in blockTypes {
            let view = try file.tensor(dtype.name)
            let columns = view.shape[1], rowBytes = dtype.byteCount(for: [columns])!
            let whole = DTypeConversion.dequantize(view).withUnsafeBufferPointer(of: UInt32.self) { Array($0) }
            let bounds = [0, 1, 7, 31, 32, 33, columns / 2, columns - 33, columns - 1, columns].filter { $0 >= 0 && $0 <= columns }
            view.withUnsafeBytes { bytes in
                for row in 0..<view.shape[0] {
                    for lower in bounds { for upper in bounds where upper >= lower {
                        var out = [Float](repeating: 0, count: upper - lower)
                        out.withUnsafeMutableBufferPointer { o in
                            BlockQuantization.dequantize(row: bytes.baseAddress! + row * rowBytes, dtype: dtype, columns: lower..<upper, into: o.baseAddress!)
                        }
                        XCTAssertEqual(out.map(\.bitPattern), Array(whole[(row * columns + lower)..<(row * columns + upper)]), "\(dtype) row \(row) \(lower)..<\(upper)")
                    } }
                }
            }
        }
    }

    func testNonFiniteScale_isFoundInTheBlockThatHoldsIt() throws {
        // The fixture plants an infinite scale in an early block of every type with f16 scales.
        let file = try GGUFFile(path: Paths.fixture("quant/blocks.gguf"))
        for dtype in blockTypes where ![.mxfp4, .iq1_m].contains(dtype) {
            let view = try file.tensor(dtype.name), reference = try file.tensor(dtype.name + ".f32")
            let found = DTypeConversion.firstNonFinite(view)
            XCTAssertNotNil(found, "\(dtype)")
            guard let found else { continue }
            XCTAssertEqual(found.index % dtype.blockSize, 0)
            XCTAssertFalse(found.value.isFinite)
            // gguf-py's values of that block are not all finite (a NaN or infinite scale spreads).
            let values = reference.withUnsafeBufferPointer(of: Float.self) { Array($0[found.index..<(found.index + dtype.blockSize)]) }
            XCTAssertTrue(values.contains { !$0.isFinite } || values.allSatisfy { $0 == 0 }, "\(dtype) block at \(found.index)")
            // Every block before it has finite scales: gguf-py's values there are finite.
            let before = reference.withUnsafeBufferPointer(of: Float.self) { Array($0[0..<found.index]) }
            XCTAssertTrue(before.allSatisfy(\.isFinite), "\(dtype)")
        }
    }

    func testSizes_matchGGMLTypeTraits() {
        for dtype in blockTypes {
            let ggml = GGMLType(dtype)
            XCTAssertNotNil(ggml, "\(dtype)")
            XCTAssertEqual(ggml?.blockSize, dtype.blockSize, "\(dtype)")
            XCTAssertEqual(ggml?.blockBytes, dtype.blockBytes, "\(dtype)")
            XCTAssertEqual(DType(name: dtype.name), dtype)
        }
        XCTAssertNil(DType.q4_k.byteCount(for: [2, 255]))
        XCTAssertEqual(DType.q4_k.byteCount(for: [2, 512]), 2 * 2 * 144)
        XCTAssertEqual(DType.q4_k.byteShape([3, 512]), [3, 288])
    }
}
