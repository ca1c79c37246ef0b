import XCTest
@testable import QKVFormat

/// `qkv convert --dtype q8_0`: ggml's `quantize_row_q8_0_ref` block by block (tools/tests/test_quantize.py
/// checks whole files against a numpy re-implementation), which tensors are quantized, and Q8_0 GGUF
/// tensors kept as they are.
final class QuantizeTests: XCTestCase {
    func block(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 34)
        values.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBytes { DTypeConversion.quantizeBlockQ8_0(x.baseAddress!, into: $0.baseAddress!) }
        }
        return out
    }

    func testBlock_scaleIsMaxOver127_valuesRoundHalfAwayFromZero() {
        // max |x| = 127: d = 1, so q = round(x) exactly, ties away from zero (C's roundf).
        var x = [Float](repeating: 0, count: 32)
        x[0] = 127; x[1] = -127; x[2] = 2.5; x[3] = -2.5; x[4] = 0.5; x[5] = -0.49; x[6] = 3.4999
        let b = block(x)
        XCTAssertEqual(UInt16(b[0]) | UInt16(b[1]) << 8, Float16(1).bitPattern)
        XCTAssertEqual(b[2...8].map { Int8(bitPattern: $0) }, [127, -127, 3, -3, 1, 0, 3])
        XCTAssertEqual(b[9...].filter { $0 != 0 }.count, 0)
    }

    func testBlock_allZero_hasScaleZeroAndZeros() {
        XCTAssertEqual(block([Float](repeating: 0, count: 32)), [UInt8](repeating: 0, count: 34))
    }

    func testBlock_valuesUseTheF32ScaleNotTheStoredF16() {
        // d = 1/127 rounds in f16, but q = round(x · 127) uses the f32 d: the maximum is exactly ±127.
        var x = (0..<32).map { Float($0) / 31 - 0.5 }
        x[7] = 1
        let b = block(x)
        XCTAssertEqual(Int8(bitPattern: b[2 + 7]), 127)
        let d = Float(1) / 127, id = 1 / d
        for j in 0..<32 { XCTAssertEqual(Int8(bitPattern: b[2 + j]), Int8((x[j] * id).rounded(.toNearestOrAwayFromZero)), "\(j)") }
        XCTAssertEqual(UInt16(b[0]) | UInt16(b[1]) << 8, Float16(d).bitPattern)
    }

    func testConvert_quantizesMatricesOnly_andDequantizesCloseToTheSource() throws {
        let dir = try scratchDirectory()
        let source = Paths.fixture("hf/llama-tiny")
        try Converter.convert(input: source, output: "\(dir)/q.qkv", format: .qkv, options: WriteOptions(dtype: .q8_0))
        let original = try ModelFile(try openWeightFile(path: source))
        let quantized = try ModelFile(try openWeightFile(path: "\(dir)/q.qkv"))
        var matrices = 0
        for info in original.orderedTensors {
            let q = try quantized.file.tensor(info.name)
            let want = try original.file.tensor(info.name)
            // W_O's rows are H·d long once stored as rows; every other matrix's, its last dimension.
            let rowLength = info.role == .attentionOutput ? info.shape[0] * info.shape[1] : info.shape.last!
            if QuantizationPlan.isQuantizable(info) && rowLength % 32 == 0 {
                XCTAssertEqual(q.dtype, .q8_0, info.name)
                matrices += 1
                let values = DTypeConversion.dequantizeQ8_0(q).floats()
                var reference = want.floats()
                if info.role == .attentionOutput {
                    // Quantized W_O is stored as rows [D, H·d]: the source [H·d, D] transposed.
                    XCTAssertEqual(q.shape, [info.shape[2], info.shape[0] * info.shape[1]], info.name)
                    XCTAssertEqual(quantized.config.attentionOutputLayout, .rows)
                    let (rows, columns) = (info.shape[0] * info.shape[1], info.shape[2])
                    let source = reference
                    reference = (0..<(rows * columns)).map { i in source[(i % rows) * columns + i / rows] }
                }
                for block in stride(from: 0, to: values.count, by: 32) {
                    let amax = reference[block..<block + 32].map(abs).max()!
                    for j in block..<block + 32 {
                        // Half a step of the block's grid, plus the f16 rounding of its scale.
                        XCTAssertLessThanOrEqual(abs(values[j] - reference[j]), amax / 127 * 0.5 + amax * 1e-3, "\(info.name)[\(j)]")
                    }
                }
            } else if QuantizationPlan.isQuantizable(info) {
                XCTAssertEqual(q.dtype, .f16, info.name)   // rows that are not whole blocks, as llama.cpp writes them
            } else {
                XCTAssertEqual(q.dtype, want.dtype, info.name)
                XCTAssertTrue(q.hasSameBytes(as: want), info.name)
            }
        }
        XCTAssertGreaterThan(matrices, 0)
    }

    func testConvertQ8_0GGUF_toQ8_0_keepsItsBlocksByteForByte() throws {
        let dir = try scratchDirectory()
        let source = Paths.fixture("gguf/llama-tiny-q8_0.gguf")
        try Converter.convert(input: source, output: "\(dir)/q.qkv", format: .qkv, options: WriteOptions(dtype: .q8_0))
        let imported = try ModelFile(try openWeightFile(path: source))
        let converted = try ModelFile(try openWeightFile(path: "\(dir)/q.qkv"))
        var kept = 0
        for info in imported.orderedTensors where info.dtype == .q8_0 {
            XCTAssertTrue(try converted.file.tensor(info.name).hasSameBytes(as: try imported.file.tensor(info.name)), info.name)
            kept += 1
        }
        XCTAssertGreaterThan(kept, 0)
    }
}
