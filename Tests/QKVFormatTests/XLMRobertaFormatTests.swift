import Foundation
import XCTest
@testable import QKVFormat

/// XLM-RoBERTa folders and classification heads in the schema (Specs/schema.md: `position_offset`,
/// `label_count`, `label_activation`, `classifier/*`; Specs/architectures.md, "XLM-RoBERTa"): what the
/// import reads from the folders tools/make_xlmr_references.py wrote with transformers, what an export
/// writes back, and every rule's negative case.
final class XLMRobertaFormatTests: XCTestCase {
    static func folder(_ name: String) -> String { Paths.fixture("xlmr/\(name)") }

    func testEncoderFolder_offsetsPositionsByPadPlusOne() throws {
        let model = try ModelFile(try openWeightFile(path: Self.folder("e5-small-shaped")))
        XCTAssertEqual(model.config.positionOffset, 2)
        XCTAssertEqual(model.config.maxPositions, 64)          // max_position_embeddings 66
        XCTAssertEqual(model.config.typeVocabSize, 1)
        XCTAssertEqual(model.config.labelCount, 0)
        XCTAssertNil(model.config.labelActivation)
        XCTAssertEqual(model.file.tensors.first { $0.name == "embed/position/weight" }?.shape, [66, 32])
        XCTAssertEqual(model.tokenizer?.kind, .unigram)
        XCTAssertEqual(model.file.metadata["provenance.architecture"], .string("xlm-roberta"))
    }

    func testRerankerFolders_readTheHeadAndItsActivation() throws {
        let xlmr = try ModelFile(try openWeightFile(path: Self.folder("xlmr-reranker")))
        XCTAssertEqual(xlmr.config.labelCount, 1)
        XCTAssertEqual(xlmr.config.labelActivation, .sigmoid)
        XCTAssertEqual(xlmr.config.maxPositions, 128)
        let names = Set(xlmr.file.tensors.map(\.name))
        XCTAssertTrue(names.isSuperset(of: ["pooler/weight", "pooler/bias", "classifier/weight", "classifier/bias"]))
        XCTAssertEqual(xlmr.file.tensors.first { $0.name == "classifier/weight" }?.role, .classifier)
        let bert = try ModelFile(try openWeightFile(path: Self.folder("bert-reranker")))
        XCTAssertEqual(bert.config.labelCount, 1)
        XCTAssertEqual(bert.config.positionOffset, 0)
        XCTAssertEqual(bert.file.tensors.first { $0.name == "classifier/weight" }?.shape, [1, 32])
    }

    func testRoundTrips_keepOffsetHeadTokenizerAndBytes() throws {
        let dir = try scratchDirectory()
        for name in ["e5-small-shaped", "xlmr-reranker", "bert-reranker"] {
            let original = try ModelFile(try openWeightFile(path: Self.folder(name)))
            try assertRoundTripsThroughEveryContainer(Self.folder(name), in: dir, name: name)
            let config = try XCTUnwrap(try JSONParser.parse(readBytes("\(dir)/\(name)/config.json")))
            if name != "bert-reranker" {
                XCTAssertEqual(config["model_type"], .string("xlm-roberta"))
                XCTAssertEqual(config["max_position_embeddings"]?.int64Value, Int64(original.config.maxPositions + 2))
                XCTAssertEqual(config["pad_token_id"]?.int64Value, 1)
            }
            if original.config.labelCount > 0 {
                let architecture = name == "bert-reranker" ? "BertForSequenceClassification" : "XLMRobertaForSequenceClassification"
                XCTAssertEqual(config["architectures"], .array([.string(architecture)]), name)
                XCTAssertEqual(config["id2label"]?.objectValue?.count, 1)
                let st = try XCTUnwrap(try JSONParser.parse(readBytes("\(dir)/\(name)/config_sentence_transformers.json")))
                XCTAssertEqual(st["activation_fn"], .string("torch.nn.modules.activation.Sigmoid"))
            }
        }
    }

    /// llama.cpp's form (its converter's `XLMRobertaModel`): `bert` with the first `pad_token_id + 1`
    /// position rows cut, read back as BERT with positions from 0 (tools/tests/test_xlmr_gguf.py compares
    /// the file with the converter's).
    func testGGUFExport_writesXLMRobertaAsBertWithThePositionTableCut() throws {
        let dir = try scratchDirectory()
        let original = try ModelFile(try openWeightFile(path: Self.folder("e5-small-shaped")))
        try Converter.convert(input: Self.folder("e5-small-shaped"), output: "\(dir)/e5.gguf", format: .gguf)
        let gguf = try GGUFFile(path: "\(dir)/e5.gguf")
        XCTAssertEqual(gguf["general.architecture"]?.stringValue, "bert")
        XCTAssertEqual(gguf["bert.context_length"]?.integerValue, 64)
        XCTAssertEqual(gguf["tokenizer.ggml.model"]?.stringValue, "t5")
        let back = try ModelFile(try openWeightFile(path: "\(dir)/e5.gguf"))
        XCTAssertEqual(back.config.positionOffset, 0)
        XCTAssertEqual(back.config.maxPositions, 64)
        let table = try original.file.tensor("embed/position/weight").floats()
        XCTAssertEqual(try back.file.tensor("embed/position/weight").floats(), Array(table.dropFirst(2 * 32)))
    }

    /// XLMRobertaForSequenceClassification's head is llama.cpp's `cls` (tanh) and `cls.output`; the GGUF
    /// reads back with the head and CrossEncoder's default activation.
    func testGGUFExport_writesTheXLMRobertaHeadAsLlamaCppsCls() throws {
        let dir = try scratchDirectory()
        try Converter.convert(input: Self.folder("xlmr-reranker"), output: "\(dir)/r.gguf", format: .gguf)
        let gguf = try GGUFFile(path: "\(dir)/r.gguf")
        XCTAssertEqual(gguf.tensorInfo("cls.output.weight")?.dims, [32, 1])
        XCTAssertEqual(gguf.tensorInfo("cls.weight")?.dims, [32, 32])
        XCTAssertEqual(gguf["bert.classifier.output_labels"], .array(.string(["LABEL_0"])))
        let back = try ModelFile(try openWeightFile(path: "\(dir)/r.gguf"))
        XCTAssertEqual(back.config.labelCount, 1)
        XCTAssertEqual(back.config.labelActivation, .sigmoid)
    }

    func testGGUFExport_refusesABertClassificationHead() throws {
        let dir = try scratchDirectory()
        XCTAssertThrowsError(try Converter.convert(input: Self.folder("bert-reranker"), output: "\(dir)/b.gguf", format: .gguf)) { error in
            guard case ConversionError.unsupportedTarget(_, let reason)? = error as? ConversionError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("BERT classification head"), reason)
        }
    }

    // MARK: English RoBERTa (byte-level BPE, RobertaProcessing)

    /// tokenizers' `RobertaProcessing` (cls `<s>`, sep `</s>`) becomes BOS/EOS, the RoBERTa pair template and,
    /// for these encoders, sentence-transformers' maximum length (tools/make_roberta_references.py's folders).
    func testRobertaFolders_readTheirPostProcessor() throws {
        for (name, maxLength) in [("roberta-embedder", 48), ("roberta-reranker", 40)] {
            let model = try ModelFile(try openWeightFile(path: Paths.fixture("roberta/\(name)")))
            let tokenizer = try XCTUnwrap(model.tokenizer)
            XCTAssertEqual(tokenizer.kind, .bpe, name)
            XCTAssertEqual(tokenizer.options["tokenizer.add_bos"], .bool(true), name)
            XCTAssertEqual(tokenizer.options["tokenizer.add_eos"], .bool(true), name)
            XCTAssertEqual(tokenizer.options["tokenizer.pair_template"], .string("roberta"), name)
            XCTAssertEqual(tokenizer.options["tokenizer.max_length"], .int(Int64(maxLength)), name)
            XCTAssertEqual(model.config.specialTokens[.bos], 0, name)
            XCTAssertEqual(model.config.specialTokens[.eos], 2, name)
            XCTAssertEqual(model.config.positionOffset, 2, name)
        }
        // A decoder's byte-level BPE (GPT-2) has no pair template and no length limit.
        let gpt2 = try XCTUnwrap(try ModelFile(try openWeightFile(path: Paths.fixture("hf/gpt2-tiny"))).tokenizer)
        XCTAssertNil(gpt2.options["tokenizer.pair_template"])
        XCTAssertNil(gpt2.options["tokenizer.max_length"])
    }

    /// The Hugging Face folder written back has a tokenizer.json with RoBERTa's template as
    /// TemplateProcessing, which reads back as the same template.
    func testRobertaExport_writesThePairTemplate() throws {
        let dir = try scratchDirectory()
        try Converter.convert(input: Paths.fixture("roberta/roberta-reranker"), output: "\(dir)/back/", format: .safetensors)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/back/tokenizer.json"))) as? [String: Any])
        let post = try XCTUnwrap(json["post_processor"] as? [String: Any])
        let pair = try XCTUnwrap(post["pair"] as? [[String: Any]])
        let spelled = pair.map { ($0["SpecialToken"] as? [String: Any])?["id"] as? String ?? ($0["Sequence"] as? [String: Any])?["id"] as? String ?? "?" }
        XCTAssertEqual(spelled, ["<s>", "A", "</s>", "</s>", "B", "</s>"])
        let back = try XCTUnwrap(try ModelFile(try openWeightFile(path: "\(dir)/back/")).tokenizer)
        XCTAssertEqual(back.options["tokenizer.pair_template"], .string("roberta"))
        XCTAssertEqual(back.options["tokenizer.max_length"], .int(40))
    }

    /// llama.cpp writes RoBERTa with a `gpt2` vocabulary; qkv's BERT export does not, so it refuses.
    func testGGUFExport_refusesAnEncoderWithByteLevelBPE() throws {
        let dir = try scratchDirectory()
        XCTAssertThrowsError(try Converter.convert(input: Paths.fixture("roberta/roberta-embedder"), output: "\(dir)/r.gguf", format: .gguf)) { error in
            guard case ConversionError.unsupportedTarget(_, let reason)? = error as? ConversionError else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("bpe tokenizer"), reason)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/r.gguf"))
    }

    /// `tokenizer.pair_template` has one value, `roberta`.
    func testPairTemplate_mustBeRoberta() throws {
        let file = try openWeightFile(path: Paths.fixture("roberta/roberta-reranker"))
        let model = try ModelFile(file)
        var metadata = file.metadata
        metadata["tokenizer.pair_template"] = .string("bert")
        XCTAssertThrowsError(try TokenizerData(metadata: metadata, config: model.config, file: "r.qkv")) { error in
            guard case ModelError.invalidValue("r.qkv", "tokenizer.pair_template", "bert", _)? = error as? ModelError else { return XCTFail("\(error)") }
        }
    }

    // MARK: Config rules

    func bertMetadata() throws -> Metadata { try openWeightFile(path: Paths.fixture("bert-tiny.h5")).metadata }

    func testPositionOffset_onlyWithLearnedPositions() throws {
        var metadata = Metadata()
        for (key, value) in tinyLlamaConfig().metadata { metadata[key] = value }
        metadata["config.position_offset"] = .int(2)
        assertThrows(ModelError.invalidValue(file: "m", key: "config.position_offset", value: "2", reason: "is for learned positions only")) {
            _ = try ModelConfig(metadata: metadata, file: "m")
        }
        var bert = try bertMetadata()
        bert["config.position_offset"] = .int(-1)
        XCTAssertThrowsError(try ModelConfig(metadata: bert, file: "m")) { error in
            guard case ModelError.invalidValue(_, "config.position_offset", _, _)? = error as? ModelError else { return XCTFail("\(error)") }
        }
    }

    func testPositionOffset_growsThePositionTable() throws {
        var config = try ModelConfig(metadata: try bertMetadata(), file: "m")
        let rows = config.maxPositions
        config.positionOffset = 2
        XCTAssertEqual(ModelSchema.expectedTensors(for: config).first { $0.name == "embed/position/weight" }?.shape, [rows + 2, config.modelDim])
        XCTAssertEqual(config.metadata["config.position_offset"], .int(2))
        config.positionOffset = 0
        XCTAssertNil(config.metadata["config.position_offset"], "written only when not 0")
    }

    func testLabelKeys_comeTogetherOnEncodersOnly() throws {
        var bert = try bertMetadata()
        bert["config.label_count"] = .int(1)
        assertThrows(ModelError.missingKey(file: "m", key: "config.label_activation")) { _ = try ModelConfig(metadata: bert, file: "m") }
        bert["config.label_activation"] = .string("softmax")
        assertThrows(ModelError.invalidValue(file: "m", key: "config.label_activation", value: "softmax",
                                             reason: "expected one of identity, tanh, relu, gelu_erf, sigmoid, silu")) {
            _ = try ModelConfig(metadata: bert, file: "m")
        }
        bert["config.label_count"] = nil
        bert["config.label_activation"] = .string("sigmoid")
        assertThrows(ModelError.invalidValue(file: "m", key: "config.label_activation", value: "sigmoid", reason: "needs config.label_count > 0")) {
            _ = try ModelConfig(metadata: bert, file: "m")
        }
        var llama = Metadata()
        for (key, value) in tinyLlamaConfig().metadata { llama[key] = value }
        llama["config.label_count"] = .int(1)
        llama["config.label_activation"] = .string("sigmoid")
        assertThrows(ModelError.invalidValue(file: "m", key: "config.label_count", value: "1", reason: "a classification head is for encoders (bert) only")) {
            _ = try ModelConfig(metadata: llama, file: "m")
        }
    }

    func testClassificationHead_needsThePoolerAndClassifier() throws {
        var config = try ModelConfig(metadata: try bertMetadata(), file: "m")
        config.labelCount = 3
        config.labelActivation = .identity
        let full = conformingFile(config)
        XCTAssertEqual(ModelSchema.problems(tensors: full.tensors, config: config, file: "m"), [])
        let withoutPooler = full.tensors.filter { $0.role != .pooler }
        XCTAssertEqual(ModelSchema.problems(tensors: withoutPooler, config: config, file: "m"), [
            .missingTensor(file: "m", tensor: "pooler/weight", expectedShape: [config.modelDim, config.modelDim]),
            .missingTensor(file: "m", tensor: "pooler/bias", expectedShape: [config.modelDim]),
        ])
        let withoutClassifier = full.tensors.filter { $0.role != .classifier }
        XCTAssertEqual(ModelSchema.problems(tensors: withoutClassifier, config: config, file: "m"), [
            .missingTensor(file: "m", tensor: "classifier/weight", expectedShape: [3, config.modelDim]),
            .missingTensor(file: "m", tensor: "classifier/bias", expectedShape: [3]),
        ])
    }

    // MARK: Folders qkv refuses

    /// A copy of fixture folder `name` with `change` applied to the JSON file `file`.
    func changedFolder(_ name: String, _ file: String, _ change: (inout [String: Any]) -> Void) throws -> String {
        let dir = try scratchDirectory() + "/\(name)"
        try FileManager.default.copyItem(atPath: Self.folder(name), toPath: dir)
        var json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(file)"))) as! [String: Any]
        change(&json)
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: "\(dir)/\(file)"))
        return dir
    }

    func testImport_refusesAnActivationItDoesNotCompute() throws {
        let dir = try changedFolder("xlmr-reranker", "config_sentence_transformers.json") { $0["activation_fn"] = "torch.nn.modules.activation.Softmax" }
        XCTAssertThrowsError(try openWeightFile(path: dir)) { error in
            guard case ImportError.configField(let file, "activation_fn", _)? = error as? ImportError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "\(dir)/config_sentence_transformers.json")
        }
    }

    func testImport_readsTheOlderActivationPlace() throws {
        let dir = try changedFolder("xlmr-reranker", "config.json") { $0["sentence_transformers"] = ["activation_fn": "torch.nn.modules.linear.Identity"] }
        try FileManager.default.removeItem(atPath: "\(dir)/config_sentence_transformers.json")
        XCTAssertEqual(try ModelFile(try openWeightFile(path: dir)).config.labelActivation, .identity)
    }

    func testImport_refusesAPadIDThatLeavesNoPositions() throws {
        let dir = try changedFolder("e5-small-shaped", "config.json") { $0["pad_token_id"] = 70 }
        XCTAssertThrowsError(try openWeightFile(path: dir)) { error in
            guard case ImportError.configField(_, "pad_token_id", _)? = error as? ImportError else { return XCTFail("\(error)") }
        }
    }

    func testImport_refusesAHeadWithoutItsTensors() throws {
        let dir = try changedFolder("e5-small-shaped", "config.json") { json in
            json["architectures"] = ["XLMRobertaForSequenceClassification"]
            json["id2label"] = ["0": "LABEL_0"]
        }
        XCTAssertThrowsError(try openWeightFile(path: dir)) { error in
            guard case ImportError.missingSourceTensor(_, "classifier.dense.weight")? = error as? ImportError else { return XCTFail("\(error)") }
        }
    }
}
