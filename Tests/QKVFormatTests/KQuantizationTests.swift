import XCTest
@testable import QKVFormat
@testable import QKVSchema

/// The K-type quantizers and llama.cpp's per-tensor choices. Bit-identity with llama.cpp's
/// `llama-quantize` is checked on whole models by tools/tests/test_kquant.py; these pin the rules down
/// one at a time.
final class KQuantizationTests: XCTestCase {
    static let kTypes: [DType] = [.q2_k, .q3_k, .q4_k, .q5_k, .q6_k]

    func roundTrip(_ x: [Float], _ dtype: DType) -> (bytes: [UInt8], values: [Float]) {
        var bytes = [UInt8](repeating: 0xAA, count: dtype.blockBytes)
        var values = [Float](repeating: .nan, count: 256)
        x.withUnsafeBufferPointer { x in
            bytes.withUnsafeMutableBytes { BlockQuantization.quantizeSuperBlock(x.baseAddress!, dtype: dtype, into: $0.baseAddress!) }
        }
        bytes.withUnsafeBytes { b in
            values.withUnsafeMutableBufferPointer { BlockQuantization.dequantize(b.baseAddress!, dtype: dtype, count: 1, into: $0.baseAddress!) }
        }
        return (bytes, values)
    }

    func testAllZeroBlock_isAllZeroBytes() {
        for dtype in Self.kTypes {
            XCTAssertEqual(roundTrip([Float](repeating: 0, count: 256), dtype).bytes, [UInt8](repeating: 0, count: dtype.blockBytes), "\(dtype)")
        }
    }

    func testRandomBlock_dequantizesWithinTheTypesResolution() {
        // 64 seeded blocks of uniform values in -1...1 (SplitMix64's steps: the same blocks every run).
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Float {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Float((z ^ (z >> 31)) >> 40) / Float(1 << 24) * 2 - 1
        }
        // Worst-case error, loose: half a level step of each type's grid (a range of 2 over 3, 7, 15, 31, 63
        // levels) plus the rounding of 4- to 8-bit scales and mins.
        let bound: [DType: Float] = [.q2_k: 0.6, .q3_k: 0.35, .q4_k: 0.12, .q5_k: 0.05, .q6_k: 0.03]
        for block in 0..<64 {
            let x = (0..<256).map { _ in next() }
            for dtype in Self.kTypes {
                let values = roundTrip(x, dtype).values
                let worst = zip(values, x).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(worst, bound[dtype]!, "\(dtype) block \(block)")
            }
        }
    }

    func testNearestInt_roundsHalfToEven() {
        XCTAssertEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.49, -2.51].map { BlockQuantization.nearestInt(Float($0)) }, [0, 2, 2, 0, -2, 2, -3])
    }

    func testUseMoreBits_isLlamaCppsLayerPattern() {
        XCTAssertEqual((0..<8).filter { QuantizationPlan.usesMoreBits(layer: $0, of: 8) }, [0, 3, 6, 7])
        XCTAssertEqual((0..<16).filter { QuantizationPlan.usesMoreBits(layer: $0, of: 16) }, [0, 1, 4, 7, 10, 13, 14, 15])
    }

    func testFallback_rowsThatAreNotWholeSuperBlocks_getA32ValueType_elseF16() {
        let cases: [(DType, DType)] = [(.q2_k, .q4_0), (.q3_k, .q4_0), (.q4_k, .q5_0), (.q5_k, .q5_1), (.q6_k, .q8_0)]
        for (type, fallback) in cases {
            XCTAssertEqual(QuantizationPlan.fallback(type, rowLength: 512), type)
            XCTAssertEqual(QuantizationPlan.fallback(type, rowLength: 320), fallback)
            XCTAssertEqual(QuantizationPlan.fallback(type, rowLength: 48), .f16)
        }
    }

    func testScheme_namesTheDTypesAndMixesConvertWrites() {
        XCTAssertEqual(QuantizationScheme(name: "q4_k_m"), .mix(.q4_k_m))
        XCTAssertEqual(QuantizationScheme(name: "q6_k"), .pure(.q6_k))
        XCTAssertEqual(QuantizationScheme(name: "q8_0"), .pure(.q8_0))
        XCTAssertNil(QuantizationScheme(name: "f16"))
        XCTAssertNil(QuantizationScheme(name: "iq4_nl"))   // read and run, not written
        XCTAssertNil(QuantizationScheme(name: "q4_k_x"))
    }

    func plan(_ scheme: QuantizationScheme, tied: Bool, layers: Int = 8) -> (QuantizationPlan, ModelConfig) {
        var config = tinyLlamaConfig()
        config.layerCount = layers
        config.tiedEmbeddings = tied
        let tensors = ModelSchema.expectedTensors(for: config).map { TensorInfo(name: $0.name, role: $0.role, dtype: .f32, shape: $0.shape) }
        return (QuantizationPlan(scheme: scheme, config: config, tensors: tensors, architecture: Llama.self), config)
    }

    func info(_ role: TensorRole, layer: Int? = nil, shape: [Int] = [256, 256]) -> TensorInfo {
        TensorInfo(name: role.tensorName(layer: layer, bias: false), role: role, dtype: .f32, shape: shape)
    }

    func testQ4KM_givesTheHeadQ6K_andTheChosenLayersQ6K() {
        let (p, _) = plan(.mix(.q4_k_m), tied: false)
        XCTAssertEqual(p.dtype(for: info(.lmHead), rowLength: 256), .q6_k)
        XCTAssertEqual(p.dtype(for: info(.tokenEmbedding), rowLength: 256), .q4_k)
        XCTAssertEqual((0..<8).map { p.dtype(for: info(.attentionValue, layer: $0), rowLength: 256) },
                       [.q6_k, .q4_k, .q4_k, .q6_k, .q4_k, .q4_k, .q6_k, .q6_k])
        XCTAssertEqual(p.dtype(for: info(.mlpDown, layer: 3), rowLength: 256), .q6_k)
        XCTAssertEqual(p.dtype(for: info(.attentionQuery, layer: 0), rowLength: 256), .q4_k)
        XCTAssertNil(p.dtype(for: info(.attentionNorm, layer: 0, shape: [256]), rowLength: 256))
    }

    func testTiedEmbedding_isTheHead_q8_0WhenItsRowsAreNotWholeSuperBlocks() {
        let (p, _) = plan(.mix(.q4_k_m), tied: true)
        XCTAssertEqual(p.dtype(for: info(.tokenEmbedding), rowLength: 256), .q6_k)
        XCTAssertEqual(p.dtype(for: info(.tokenEmbedding, shape: [100, 320]), rowLength: 320), .q8_0)
    }

    func testPureTypes_quantizeTheHeadLikeAnyMatrix_butNotPositionEmbeddings() {
        let (p, _) = plan(.pure(.q4_k), tied: false)
        XCTAssertEqual(p.dtype(for: info(.lmHead), rowLength: 256), .q4_k)
        XCTAssertNil(p.dtype(for: info(.positionEmbedding), rowLength: 256))
        XCTAssertNil(p.dtype(for: info(.tokenTypeEmbedding, shape: [2, 256]), rowLength: 256))
        // A matrix whose rows are not whole blocks of 32 is f16, as llama.cpp writes it.
        XCTAssertEqual(plan(.pure(.q4_0), tied: false).0.dtype(for: info(.attentionQuery, layer: 0, shape: [256, 48]), rowLength: 48), .f16)
    }

    func testQ3KM_attentionOutputAndFirstValueLayers() {
        let (p, _) = plan(.mix(.q3_k_m), tied: false)
        XCTAssertEqual(p.dtype(for: info(.attentionOutput, layer: 4), rowLength: 256), .q4_k)
        XCTAssertEqual((0..<3).map { p.dtype(for: info(.attentionValue, layer: $0), rowLength: 256) }, [.q5_k, .q5_k, .q4_k])
        XCTAssertEqual(p.dtype(for: info(.mlpDown, layer: 0), rowLength: 256), .q4_k)   // layers / 16 = 0 of 8
    }
}
