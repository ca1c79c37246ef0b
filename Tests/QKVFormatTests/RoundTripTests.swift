import XCTest
@testable import QKVFormat

/// Conversions keep every bit, and dtype conversion rounds exactly as numpy does.
final class RoundTripTests: XCTestCase {
    let fixtures = ["bert-tiny.h5", "gpt2-tiny.h5", "gpt2-tiny-f16.h5", "llama-tiny.h5", "llama-tiny-bf16.h5"]

    /// Every tensor of `a` equals `b`'s byte for byte, and the config and tokenizer are equal.
    func assertSameModel(_ a: String, _ b: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let x = try ModelFile(try openWeightFile(path: a))
        let y = try ModelFile(try openWeightFile(path: b))
        XCTAssertEqual(x.config, y.config, file: file, line: line)
        XCTAssertEqual(x.tokenizer, y.tokenizer, file: file, line: line)
        XCTAssertEqual(x.orderedTensors, y.orderedTensors, file: file, line: line)
        for info in x.orderedTensors {
            let (p, q) = (try x.file.tensor(info.name), try y.file.tensor(info.name))
            XCTAssertTrue(p.hasSameBytes(as: q), "\(info.name) differs between \(a) and \(b)", file: file, line: line)
        }
        // Provenance and user keys are carried over; a conversion only adds provenance keys the input lacks.
        XCTAssertEqual(x.file.metadata.names(in: .user), y.file.metadata.names(in: .user), file: file, line: line)
        for section in [MetadataSection.provenance, .user] {
            for name in x.file.metadata.names(in: section) {
                let key = "\(section.rawValue).\(name)"
                XCTAssertEqual(x.file.metadata[key], y.file.metadata[key], key, file: file, line: line)
            }
        }
    }

    func testHDF5ToQKVToHDF5_keepsEveryBit() throws {
        let dir = try scratchDirectory()
        for name in fixtures {
            let source = Paths.fixture(name)
            try Converter.convert(input: source, output: "\(dir)/\(name).qkv", format: .qkv)
            try Converter.convert(input: "\(dir)/\(name).qkv", output: "\(dir)/\(name).back.h5", format: .hdf5)
            try assertSameModel(source, "\(dir)/\(name).qkv")
            try assertSameModel(source, "\(dir)/\(name).back.h5")
        }
    }

    func testQKVToHDF5ToQKV_keepsEveryBitAndBytes() throws {
        let dir = try scratchDirectory()
        for name in fixtures {
            try Converter.convert(input: Paths.fixture(name), output: "\(dir)/a.qkv", format: .qkv)
            try Converter.convert(input: "\(dir)/a.qkv", output: "\(dir)/b.h5", format: .hdf5, options: WriteOptions(compress: true))
            try Converter.convert(input: "\(dir)/b.h5", output: "\(dir)/c.qkv", format: .qkv)
            try assertSameModel("\(dir)/a.qkv", "\(dir)/c.qkv")
            // The metadata is carried unchanged, so the whole file comes back byte for byte.
            XCTAssertEqual(try readBytes("\(dir)/a.qkv"), try readBytes("\(dir)/c.qkv"), name)
        }
    }

    func testCompressedHDF5_usesOneChunkPerAttentionHead() throws {
        let dir = try scratchDirectory()
        try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: "\(dir)/c.h5", format: .hdf5, options: WriteOptions(compress: true))
        let file = try HDF5File(path: "\(dir)/c.h5")
        XCTAssertEqual(try file.chunkShape(of: "layers/1/attn/q/weight"), [1, 8, 32])
        XCTAssertEqual(try file.chunkShape(of: "layers/1/attn/k/weight"), [1, 8, 32])
        XCTAssertNotNil(try file.chunkShape(of: "embed/token/weight"))
        let plain = try HDF5File(path: Paths.fixture("llama-tiny.h5"))
        XCTAssertNil(try plain.chunkShape(of: "layers/1/attn/q/weight"), "default datasets are contiguous")
    }

    func testBF16Conversion_matchesNumpyRoundingBitForBit() throws {
        let dir = try scratchDirectory()
        try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: "\(dir)/b.qkv", format: .qkv, options: WriteOptions(dtype: .bf16))
        try assertSameModelIgnoringProvenance("\(dir)/b.qkv", Paths.fixture("llama-tiny-bf16.h5"))
    }

    func testF16Conversion_matchesNumpyRoundingBitForBit() throws {
        let dir = try scratchDirectory()
        try Converter.convert(input: Paths.fixture("gpt2-tiny.h5"), output: "\(dir)/h.h5", format: .hdf5, options: WriteOptions(dtype: .f16))
        try assertSameModelIgnoringProvenance("\(dir)/h.h5", Paths.fixture("gpt2-tiny-f16.h5"))
    }

    func testReducedPrecisionBackToF32_isWithinRoundingOfOriginal() throws {
        let dir = try scratchDirectory()
        // Half an ulp: relative 2^-11 (f16) or 2^-8 (bf16) for normal values; f16's subnormals below 2^-14
        // are spaced 2^-24 apart, so there the bound is absolute, 2^-25.
        for (dtype, relative, absolute) in [(DType.f16, Float(1) / 2048, Float(sign: .plus, exponent: -25, significand: 1)), (.bf16, Float(1) / 256, Float(0))] {
            try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: "\(dir)/r.qkv", format: .qkv, options: WriteOptions(dtype: dtype))
            try Converter.convert(input: "\(dir)/r.qkv", output: "\(dir)/w.qkv", format: .qkv, options: WriteOptions(dtype: .f32))
            let original = try ModelFile(try openWeightFile(path: Paths.fixture("llama-tiny.h5")))
            let widened = try ModelFile(try openWeightFile(path: "\(dir)/w.qkv"))
            for info in original.orderedTensors {
                let (a, b) = (try original.file.tensor(info.name).floats(), try widened.file.tensor(info.name).floats())
                XCTAssertEqual(try widened.file.tensor(info.name).dtype, .f32)
                for (x, y) in zip(a, b) where x.isNormal {
                    XCTAssertLessThanOrEqual(abs(x - y), max(abs(x) * relative, absolute), "\(dtype) \(info.name): \(x) -> \(y)")
                }
            }
        }
    }

    func testBFloat16Rounding_tiesToEvenAndKeepsNaN() {
        XCTAssertEqual(DTypeConversion.floatToBFloat16(Float(bitPattern: 0x3F80_8000)), 0x3F80, "tie rounds to even (down)")
        XCTAssertEqual(DTypeConversion.floatToBFloat16(Float(bitPattern: 0x3F81_8000)), 0x3F82, "tie rounds to even (up)")
        XCTAssertEqual(DTypeConversion.floatToBFloat16(Float(bitPattern: 0x3F80_8001)), 0x3F81, "above the tie rounds up")
        XCTAssertEqual(DTypeConversion.floatToBFloat16(.greatestFiniteMagnitude), 0x7F80, "overflow becomes infinity")
        XCTAssertTrue(DTypeConversion.bfloat16ToFloat(DTypeConversion.floatToBFloat16(.nan)).isNaN)
        XCTAssertTrue(DTypeConversion.bfloat16ToFloat(DTypeConversion.floatToBFloat16(Float(bitPattern: 0x7F80_0001))).isNaN,
                      "a NaN whose payload is only in the low bits must not become infinity")
    }

    /// Same tensors and config; provenance differs because one side was written by h5py.
    func assertSameModelIgnoringProvenance(_ a: String, _ b: String) throws {
        let x = try ModelFile(try openWeightFile(path: a))
        let y = try ModelFile(try openWeightFile(path: b))
        XCTAssertEqual(x.config, y.config)
        XCTAssertEqual(x.orderedTensors, y.orderedTensors)
        for info in x.orderedTensors {
            XCTAssertTrue(try x.file.tensor(info.name).hasSameBytes(as: try y.file.tensor(info.name)), info.name)
        }
    }
}
