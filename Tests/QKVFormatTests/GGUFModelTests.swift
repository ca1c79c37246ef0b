import XCTest
@testable import QKVFormat

/// GGUF files through the LLaMA map: gguf-py's llama-tiny (written from the canonical fixture with
/// llama.cpp's permutation, tools/fixtures_gguf.py) must come back as the canonical tensors.
final class GGUFModelTests: XCTestCase {
    func gguf(_ name: String) -> String { Paths.fixture("gguf/\(name)") }

    /// A llama GGUF keeps its Q and K rows in llama.cpp's order and says so (`rope_layout` interleaved:
    /// Meta's pairing, which ggml's RoPE rotates), mapped without a copy; every other tensor is the
    /// canonical fixture's, bit for bit.
    func testLlamaGGUF_importsTheCanonicalFixture_withQAndKRowsInterleaved() throws {
        for name in ["llama-tiny.gguf", "llama-tiny-f16.gguf"] {
            let imported = try ModelFile(try openWeightFile(path: gguf(name)))
            let canonical = try ModelFile(try openWeightFile(path: Paths.fixture("llama-tiny.h5")))
            var config = canonical.config
            config.normEpsilon = Double(Float(config.normEpsilon))   // GGUF stores it as f32
            config.rope?.layout = .interleaved
            XCTAssertEqual(imported.config, config, name)
            XCTAssertEqual(imported.orderedTensors.map(\.name), canonical.orderedTensors.map(\.name))
            let d = config.headDim
            for info in canonical.orderedTensors {
                let ours = try imported.file.tensor(info.name)
                let want = name.contains("f16") && ours.dtype == .f16 ? try canonical.file.tensor(info.name).converted(to: .f16) : try canonical.file.tensor(info.name)
                guard info.role == .attentionQuery || info.role == .attentionKey else {
                    XCTAssertTrue(ours.hasSameBytes(as: want), "\(name) \(info.name) (\(ours.dtype))")
                    continue
                }
                // Within each head, row 2j + side is the canonical (half-order) row side·d/2 + j.
                let rows = info.shape[0] * info.shape[1], rowBytes = want.bytes.count / rows
                XCTAssertEqual(ours.bytes.count, want.bytes.count)
                for row in 0..<rows {
                    let (h, r) = (row / d, row % d)
                    let from = h * d + (r % 2) * (d / 2) + r / 2
                    XCTAssertEqual(Array(ours.bytes[(row * rowBytes)..<((row + 1) * rowBytes)]),
                                   Array(want.bytes[(from * rowBytes)..<((from + 1) * rowBytes)]), "\(name) \(info.name) row \(row)")
                }
                // In place: the bytes are the file's own, not a copy.
                XCTAssertFalse(ours.storage is OwnedStorage, "\(name) \(info.name) is a copy")
            }
            // The vocabulary is padded to vocab_size in GGUF, as llama.cpp's converter pads it.
            XCTAssertEqual(Array(imported.tokenizer!.tokens.prefix(100)), canonical.tokenizer!.tokens)
            XCTAssertEqual(imported.tokenizer?.kind, .sentencepieceBPE)
        }
    }

    func testGGUFToQKVToGGUF_isByteIdentical() throws {
        let dir = try scratchDirectory()
        for name in ["llama-tiny.gguf", "llama-tiny-f16.gguf"] {
            try Converter.convert(input: gguf(name), output: "\(dir)/m.qkv", format: .qkv)
            try Converter.convert(input: "\(dir)/m.qkv", output: "\(dir)/m.gguf", format: .gguf)
            XCTAssertEqual(try readBytes("\(dir)/m.gguf"), try readBytes(gguf(name)), name)
        }
    }

    func testQ8_0GGUF_keepsEveryBlockWithTheOutputProjectionAsRows() throws {
        let model = try ModelFile(try openWeightFile(path: gguf("llama-tiny-q8_0.gguf")))
        XCTAssertEqual(try model.file.tensor("layers/0/attn/q/weight").dtype, .q8_0)
        // W_O stays as GGUF has it, [D, H·d], blocks along H·d: the rows layout.
        XCTAssertEqual(model.config.attentionOutputLayout, .rows)
        let o = try model.file.tensor("layers/0/attn/o/weight")
        XCTAssertEqual(o.dtype, .q8_0)
        let (D, HD) = (model.config.modelDim, model.config.headCount * model.config.headDim)
        XCTAssertEqual(o.shape, [D, HD])
        // Its dequantized values are the f32 original's transpose within half a quantisation step.
        let original = try ModelFile(try openWeightFile(path: Paths.fixture("llama-tiny.h5"))).file.tensor("layers/0/attn/o/weight").floats()
        let values = o.converted(to: .f32).floats()
        let maxAbs = original.map(abs).max()!
        for m in 0..<D {
            for j in 0..<HD { XCTAssertLessThanOrEqual(abs(original[j * D + m] - values[m * HD + j]), maxAbs / 127) }
        }
    }

    func testCanonicalToGGUF_matchesGGUFPyTensors() throws {
        let dir = try scratchDirectory()
        try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: "\(dir)/m.gguf", format: .gguf)
        let ours = try GGUFFile(path: "\(dir)/m.gguf")
        let reference = try GGUFFile(path: gguf("llama-tiny.gguf"))
        XCTAssertEqual(Set(ours.tensorInfos.map(\.name)), Set(reference.tensorInfos.map(\.name)))
        for info in reference.tensorInfos {
            XCTAssertTrue(try ours.tensor(info.name).hasSameBytes(as: try reference.tensor(info.name)), info.name)
        }
        XCTAssertEqual(ours["llama.attention.head_count_kv"], .uint32(2))
    }

    func testGPT2ToGGUFAndBack_keepsEveryTensorAndTheConfig() throws {
        let dir = try scratchDirectory()
        try Converter.convert(input: Paths.fixture("gpt2-tiny.h5"), output: "\(dir)/g.gguf", format: .gguf)
        let gguf = try GGUFFile(path: "\(dir)/g.gguf")
        XCTAssertEqual(gguf.tensorInfo("blk.0.attn_qkv.weight")?.shape, [96, 32], "Q|K|V fused as rows")
        XCTAssertTrue(try gguf.tensor("output.weight").hasSameBytes(as: try gguf.tensor("token_embd.weight")), "tied head written as a copy")
        try Converter.convert(input: "\(dir)/g.gguf", output: "\(dir)/g.qkv", format: .qkv)
        let original = try ModelFile(try openWeightFile(path: Paths.fixture("gpt2-tiny.h5")))
        let back = try ModelFile(try openWeightFile(path: "\(dir)/g.qkv"))
        XCTAssertEqual(back.config, original.config)
        // GGUF always carries token types (llama.cpp needs them), so the tokenizer comes back with them.
        XCTAssertEqual(back.tokenizer?.tokens, original.tokenizer?.tokens)
        XCTAssertEqual(back.tokenizer?.merges, original.tokenizer?.merges)
        XCTAssertEqual(back.tokenizer?.options, original.tokenizer?.options)
        XCTAssertEqual(back.tokenizer?.tokenTypes?.last, 3, "<|endoftext|> is a control token")
        for info in original.orderedTensors {
            XCTAssertTrue(try back.file.tensor(info.name).hasSameBytes(as: try original.file.tensor(info.name)), info.name)
        }
    }

    func testRopePermutation_roundTrips() {
        let rows = 8, rowBytes = 4
        let source = (0..<rows * rowBytes).map { UInt8($0) }
        var permuted = [UInt8](repeating: 0, count: source.count), back = permuted
        source.withUnsafeBytes { s in permuted.withUnsafeMutableBytes { permuteRopeRows(s, rows: rows, heads: 2, rowBytes: rowBytes, undo: false, into: $0) } }
        permuted.withUnsafeBytes { s in back.withUnsafeMutableBytes { permuteRopeRows(s, rows: rows, heads: 2, rowBytes: rowBytes, undo: true, into: $0) } }
        XCTAssertEqual(back, source)
        // Head 0 (rows 0-3, d = 4): Hugging Face rows [0, 1 | 2, 3] interleave to [0, 2, 1, 3].
        XCTAssertEqual(stride(from: 0, to: 16, by: 4).map { permuted[$0] / 4 }, [0, 2, 1, 3])
    }

    /// Bands of output rows, as the GGUF writer makes them, put together are the whole permutation: bands
    /// of 1, 3 (not dividing a head) and 7 rows, the last one partial, both ways.
    func testRopePermutation_inBands_equalsTheWholePermutation() {
        let rows = 24, rowBytes = 3, heads = 3
        let source = (0..<rows * rowBytes).map { UInt8($0 % 251) }
        for undo in [false, true] {
            var whole = [UInt8](repeating: 0, count: source.count)
            source.withUnsafeBytes { s in whole.withUnsafeMutableBytes { permuteRopeRows(s, rows: rows, heads: heads, rowBytes: rowBytes, undo: undo, into: $0) } }
            // llama.cpp's order within a head of d = 8: Hugging Face row side·4 + j at 2j + side.
            let reference = (0..<rows).flatMap { to -> ArraySlice<UInt8> in
                let (h, k) = to.quotientAndRemainder(dividingBy: 8)
                let from = undo ? h * 8 + (k % 4) * 2 + k / 4 : h * 8 + (k % 2) * 4 + k / 2
                return source[from * rowBytes..<(from + 1) * rowBytes]
            }
            XCTAssertEqual(whole, reference, "undo \(undo)")
            for band in [1, 3, 7] {
                var banded: [UInt8] = []
                for first in stride(from: 0, to: rows, by: band) {
                    let count = min(band, rows - first)
                    var piece = [UInt8](repeating: 0, count: count * rowBytes)
                    source.withUnsafeBytes { s in
                        piece.withUnsafeMutableBytes { permuteRopeRows(s, rows: rows, heads: heads, rowBytes: rowBytes, undo: undo, firstRow: first, rowCount: count, into: $0) }
                    }
                    banded += piece
                }
                XCTAssertEqual(banded, whole, "bands of \(band), undo \(undo)")
            }
        }
    }

    /// The tiled transpose equals the element-by-element definition on shapes around its 32-element tile
    /// (one short, exact, one over, narrower than a tile), for every element size, whole and by column bands.
    func testTransposeBlock_inTiles_equalsTheDefinition() {
        for (rows, columns) in [(1, 1), (31, 33), (32, 64), (65, 7), (3, 100), (70, 70)] {
            for size in [1, 2, 4, 8] {
                let source = (0..<rows * columns * size).map { UInt8(truncatingIfNeeded: ($0 &* 2654435761) >> 13) }
                for (first, count) in [(0, columns), (columns / 3, columns - columns / 3), (columns - 1, 1)] {
                    var out = [UInt8](repeating: 0, count: count * rows * size)
                    source.withUnsafeBytes { s in
                        out.withUnsafeMutableBytes { transposeBlock(s, rows: rows, columns: columns, firstColumn: first, columnCount: count, elementSize: size, into: $0) }
                    }
                    var reference = [UInt8](repeating: 0, count: out.count)
                    for r in 0..<rows {
                        for c in 0..<count {
                            let from = (r * columns + first + c) * size, to = (c * rows + r) * size
                            reference[to..<to + size] = source[from..<from + size]
                        }
                    }
                    XCTAssertEqual(out, reference, "\(rows)×\(columns), \(size)-byte elements, columns \(first) ..< \(first + count)")
                }
            }
        }
    }
}

final class QuantizedConversionTests: XCTestCase {
    func testQ8_0IntoAFormatWithoutIt_isRefusedAndWritesNothing() throws {
        let dir = try scratchDirectory()
        for (name, format) in [("q.safetensors", ContainerFormat.safetensors)] {
            XCTAssertThrowsError(try Converter.convert(input: Paths.fixture("gguf/llama-tiny-q8_0.gguf"), output: "\(dir)/\(name)", format: format)) { error in
                guard case ConversionError.unsupportedTarget(let output, let reason)? = error as? ConversionError else { return XCTFail("\(error)") }
                XCTAssertEqual(output, "\(dir)/\(name)")
                XCTAssertTrue(reason.contains("add --dtype f32"), reason)
            }
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    func testQ8_0WithDTypeF32_dequantizesExactly() throws {
        let dir = try scratchDirectory()
        let source = Paths.fixture("gguf/llama-tiny-q8_0.gguf")
        try Converter.convert(input: source, output: "\(dir)/q.safetensors", format: .safetensors, options: WriteOptions(dtype: .f32))
        let quantized = try ModelFile(try openWeightFile(path: source))
        let widened = try ModelFile(try openWeightFile(path: "\(dir)/q.safetensors"))
        let q = try quantized.file.tensor("layers/1/mlp/up/weight")
        XCTAssertEqual(q.dtype, .q8_0)
        let w = try widened.file.tensor("layers/1/mlp/up/weight")
        XCTAssertEqual(w.dtype, .f32)
        // Block by block: value = f16 scale x int8, computed here independently of DTypeConversion.
        let values = w.floats()
        q.withUnsafeBytes { bytes in
            for block in 0..<bytes.count / 34 {
                let scale = Float(Float16(bitPattern: UInt16(bytes[block * 34]) | UInt16(bytes[block * 34 + 1]) << 8))
                for i in 0..<32 { XCTAssertEqual(values[block * 32 + i], scale * Float(Int8(bitPattern: bytes[block * 34 + 2 + i]))) }
            }
        }
    }
}

final class BertGGUFTests: XCTestCase {
    func testBertToGGUFAndBack_keepsEveryTensorButThePoolerAndTheWholeConfig() throws {
        let dir = try scratchDirectory()
        let summary = try Converter.convert(input: Paths.fixture("bert-tiny.h5"), output: "\(dir)/b.gguf", format: .gguf)
        XCTAssertEqual(summary.omittedTensors, ["pooler/weight", "pooler/bias"])
        let gguf = try GGUFFile(path: "\(dir)/b.gguf")
        XCTAssertEqual(gguf["general.architecture"], .string("bert"))
        XCTAssertNotNil(gguf.tensorInfo("blk.1.layer_output_norm.bias"))
        try Converter.convert(input: "\(dir)/b.gguf", output: "\(dir)/b.qkv", format: .qkv)
        let original = try ModelFile(try openWeightFile(path: Paths.fixture("bert-tiny.h5")))
        let back = try ModelFile(try openWeightFile(path: "\(dir)/b.qkv"))
        XCTAssertEqual(back.config, original.config)
        XCTAssertEqual(back.tokenizer?.tokens, original.tokenizer?.tokens)
        XCTAssertEqual(back.file.tensors.count, original.file.tensors.count - 2)
        for info in back.orderedTensors {
            XCTAssertTrue(try back.file.tensor(info.name).hasSameBytes(as: try original.file.tensor(info.name)), info.name)
        }
    }

    func testPhantomSpelling_survivesCombiningMarksAfterTheContinuationPrefix() throws {
        // "##" followed by a combining mark is one grapheme "#\u{093E}" after the first "#": byte-level
        // prefix checks must still see "##".
        XCTAssertTrue("##\u{093E}".hasBytePrefix("##"))
        XCTAssertFalse("##\u{093E}".hasPrefix("##"), "the Character-level check this guards against")
        XCTAssertEqual("##\u{093E}".droppingBytePrefix("##"), "\u{093E}")
    }
}

final class UnmappedGGUFTests: XCTestCase {
    func testGGUFOfAnUnknownArchitecture_isRefusedButInspectable() throws {
        let dir = try scratchDirectory()
        let path = "\(dir)/phi.gguf"
        let writer = try GGUFWriter(target: path, metadata: [("general.architecture", .string("phi2"))],
                                    tensors: [.init(name: "blk.0.attn_qkv.weight", type: .f32, dims: [8, 24])])
        let storage = OwnedStorage(count: 8 * 24 * 4)
        try writer.append(name: "blk.0.attn_qkv.weight", bytes: storage.bytes)
        try writer.finish()
        assertThrows(ImportError.unknownArchitecture(file: path, modelType: "phi2", tensors: ["blk.0.attn_qkv.weight"])) {
            _ = try openWeightFile(path: path)
        }
        let (raw, problem) = try openForInspection(path: path)
        XCTAssertNotNil(problem)
        XCTAssertEqual(raw.tensors, [TensorInfo(name: "blk.0.attn_qkv.weight", role: nil, dtype: .f32, shape: [24, 8])])
    }
}
