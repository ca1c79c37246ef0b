import XCTest
@testable import QKVFormat

/// Hugging Face TensorFlow checkpoints in the legacy Keras HDF5 format (`tf_model.h5`), written by
/// tools/fixtures_keras.py with h5py and numpy from the Hugging Face folders of tools/fixtures_hf.py.
final class KerasH5Tests: XCTestCase {
    static let keras = Paths.root.appendingPathComponent("Fixtures/keras")

    /// Fixtures/keras/expected.json: per weights file, its source folder, variables and canonical CRCs.
    func expected() throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: Self.keras.appendingPathComponent("expected.json"))
        return try JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
    }

    func keras(_ name: String) -> String { Self.keras.appendingPathComponent(name).path }

    func testFixtures_importEveryCanonicalTensorBitForBit() throws {
        let expected = try expected()
        XCTAssertEqual(Set(expected.keys), ["bert-tiny/tf_model.h5", "gpt2-tiny/tf_model.h5", "bert-tiny-chunked/tf_model.h5"])
        for (file, entry) in expected {
            let model = try ModelFile(try KerasH5.open(path: keras(file)))
            let tensors = entry["tensors"] as! [String: [String: Any]]
            XCTAssertEqual(Set(model.file.tensors.map(\.name)), Set(tensors.keys), file)
            for (name, want) in tensors {
                let view = try model.file.tensor(name)
                XCTAssertEqual(view.shape, want["shape"] as! [Int], "\(file) \(name)")
                XCTAssertEqual(view.withUnsafeBytes { CRC32.checksum($0) }, (want["crc32"] as! NSNumber).uint32Value, "\(file) \(name)")
            }
            XCTAssertEqual(model.file.format, .hdf5)
            XCTAssertEqual(model.file.metadata["provenance.source"], .string("tf_model.h5"))
        }
    }

    func testFixtures_configAndTokenizerEqualTheHFFolderImport() throws {
        let hf = Paths.root.appendingPathComponent("Fixtures/hf")
        for (file, folder) in [("bert-tiny/tf_model.h5", "bert-tiny"), ("gpt2-tiny/tf_model.h5", "gpt2-tiny-lmhead"),
                               ("bert-tiny-chunked/tf_model.h5", "bert-tiny")] {
            let imported = try ModelFile(try KerasH5.open(path: keras(file)))
            let reference = try ModelFile(try openWeightFile(path: hf.appendingPathComponent(folder).path))
            XCTAssertEqual(imported.config, reference.config, file)
            XCTAssertEqual(imported.tokenizer, reference.tokenizer, file)
            for info in reference.orderedTensors {
                XCTAssertTrue(try imported.file.tensor(info.name).hasSameBytes(as: reference.file.tensor(info.name)), "\(file) \(info.name)")
            }
        }
    }

    /// Before any architecture map: each variable under its PyTorch name equals the Hugging Face
    /// folder's tensor of that name (Dense kernels transposed, Conv1D biases squeezed), and nothing but
    /// PyTorch's buffers is missing.
    func testSourceTensors_equalTheHFStateDictBitForBit() throws {
        let expected = try expected()
        for (file, entry) in expected {
            let source = try KerasH5(path: keras(file))
            let folder = Paths.root.appendingPathComponent("Fixtures/" + (entry["source_folder"] as! String))
            let state = try SafetensorsFile(path: folder.appendingPathComponent("model.safetensors").path)
            // As Hugging Face loads a TF checkpoint into a base model: without the main layer's prefix
            // (`bert.`) when the PyTorch names have none.
            let names = Set(state.entries.map(\.info.name))
            let prefix = (entry["layer_names"] as! [String])[0] + "."
            let strip = !names.contains { $0.hasPrefix(prefix) }
            func pytorch(_ name: String) -> String { strip && name.hasPrefix(prefix) ? String(name.dropFirst(prefix.count)) : name }
            let weights = entry["weights"] as! [[String: Any]]
            XCTAssertEqual(source.order.map(pytorch), weights.map { $0["pytorch"] as! String }, "weight_names order, \(file)")
            XCTAssertEqual(Set(source.sourceInfos.keys.map(pytorch)), names.subtracting(["embeddings.position_ids"]), file)
            for (name, info) in source.sourceInfos {
                let want = try state.tensor(pytorch(name))
                XCTAssertEqual(info.shape, want.shape, "\(file) \(name)")
                let got = try source.sourceTensor(name)
                XCTAssertEqual(got.info, info, "\(file) \(name)")
                XCTAssertTrue(got.hasSameBytes(as: want), "\(file) \(name)")
                XCTAssertEqual(got.name, name)
            }
            XCTAssertEqual(source.layerNames, entry["layer_names"] as! [String], file)
        }
    }

    func testChunkedWeightNames_readAsOneList() throws {
        let whole = try KerasH5(path: keras("bert-tiny/tf_model.h5"))
        let chunked = try KerasH5(path: keras("bert-tiny-chunked/tf_model.h5"))
        XCTAssertEqual(chunked.order, whole.order)
        XCTAssertEqual(chunked.sourceInfos, whole.sourceInfos)
        // The file really holds chunks (fixed-length strings) and no whole list.
        let path = keras("bert-tiny-chunked/tf_model.h5")
        let file = try HDF5.openReadOnly(path)
        let group = try HDF5.openGroup(file, "bert", file: path, object: "/bert")
        XCTAssertFalse(try HDF5.attributeExists(group, "weight_names", file: path, path: "/bert"))
        XCTAssertTrue(try HDF5.attributeExists(group, "weight_names1", file: path, path: "/bert"))
        let chunks = (0..<3).map { try! KerasH5.stringList(group, "weight_names\($0)", file: path, object: "/bert")!.count }
        XCTAssertEqual(chunks.reduce(0, +), whole.order.count)
        XCTAssertGreaterThan(chunks.count, 1)
    }

    func testIsKerasLegacy() throws {
        for file in ["bert-tiny/tf_model.h5", "gpt2-tiny/tf_model.h5", "bert-tiny-chunked/tf_model.h5", "bad/sharded-layout.h5"] {
            XCTAssertTrue(KerasH5.isKerasLegacy(path: keras(file)), file)
        }
        for file in ["bert-tiny.h5", "hf/bert-tiny-state-dict.h5", "hf/bert-tiny/model.safetensors", "hf/bert-tiny/config.json", "no-such-file.h5"] {
            XCTAssertFalse(KerasH5.isKerasLegacy(path: Paths.fixture(file)), file)
        }
    }

    func testTensorFlowOnlyFolder_pointsAtItsWeights() {
        XCTAssertEqual(KerasH5.tensorFlowWeights(inFolder: keras("bert-tiny")), keras("bert-tiny") + "/tf_model.h5")
        XCTAssertNil(KerasH5.tensorFlowWeights(inFolder: Paths.fixture("hf/bert-tiny")), "safetensors weights win")
        XCTAssertNil(KerasH5.tensorFlowWeights(inFolder: keras("bad")))
    }

    func testNameRule_asHuggingFaceConvertsTFNames() {
        let cases: [(String, String, Bool)] = [
            ("tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0", "bert.encoder.layer.0.attention.self.query.weight", true),
            ("tf_bert_model/bert/encoder/layer_._11/output/dense/bias:0", "bert.encoder.layer.11.output.dense.bias", false),
            ("tf_bert_model/bert/embeddings/word_embeddings/weight:0", "bert.embeddings.word_embeddings.weight", false),
            ("tf_bert_model/bert/embeddings/position_embeddings/embeddings:0", "bert.embeddings.position_embeddings.weight", false),
            ("tf_bert_model/bert/embeddings/LayerNorm/gamma:0", "bert.embeddings.LayerNorm.weight", false),
            ("tf_bert_model/bert/embeddings/LayerNorm/beta:0", "bert.embeddings.LayerNorm.bias", false),
            ("tfgpt2lm_head_model/transformer/h_._10/attn/c_attn/weight:0", "transformer.h.10.attn.c_attn.weight", false),
            ("tfgpt2lm_head_model/transformer/wte/embeddings:0", "transformer.wte.weight", false),
            // '$1___$2' -> '$2' for an inner level; matches cannot overlap, so a level right after a
            // replaced one stays.
            ("tf_bert_for_pre_training/mlm___cls/predictions/transform/dense/kernel:0", "cls.predictions.transform.dense.weight", true),
            ("m/a___b/c___d/e:0", "b.c___d.e", false),
            ("m/a___b/x/c___d/e:0", "b.x.d.e", false),
            ("m/a____b/c:0", "b.c", false),
            ("a/b___/c:0", "c", false),
            ("/a___b/c", "b.c", false),
            ("m/x_._y_._z/w:0", "x.y.z.w", false),
            ("model//x:0", "x", false),
            ("final_logits_bias:0", "final_logits_bias", false),        // one level: kept (BART)
            ("dense/kernel", "weight", true),                             // Keras 3 paths have no :0
        ]
        for (tf, pt, kernel) in cases {
            let got = KerasH5.pytorchName(tf)
            XCTAssertEqual(got?.name, pt, tf)
            XCTAssertEqual(got?.isKernel, kernel, tf)
        }
        for tf in ["model/x/", "m/x:1", "m/conv/pointwise_kernel:0", "m/conv/depthwise_kernel:0", "m/emb_projs/0:0", ""] {
            XCTAssertNil(KerasH5.pytorchName(tf), tf)
        }
    }

    /// Each bad file is refused with its manifest's error, naming the object at fault.
    func testBadFiles_areRefusedWithTheirManifestError() throws {
        struct Case: Decodable { var error: String; var object: String; var why: String }
        let dir = Self.keras.appendingPathComponent("bad")
        let manifest = try JSONDecoder().decode([String: Case].self, from: Data(contentsOf: dir.appendingPathComponent("manifest.json")))
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".h5") }
        XCTAssertEqual(Set(manifest.keys), Set(files))
        for (name, want) in manifest.sorted(by: { $0.key < $1.key }) {
            let path = dir.appendingPathComponent(name).path
            do {
                _ = try KerasH5(path: path)
                XCTFail("\(name) (\(want.why)) was accepted")
            } catch {
                let label = Mirror(reflecting: error).children.first?.label ?? "\(error)"
                XCTAssertEqual("\(type(of: error)).\(label)", want.error, "\(name): \(error)")
                XCTAssertTrue("\(error)".hasPrefix(path + ":"), "names the file: \(error)")
                XCTAssertTrue("\(error)".contains(want.object), "\(name) names \(want.object): \(error)")
            }
        }
    }

    func testUnmappedTFName_isAnErrorNamingIt() {
        let path = keras("bad/unmapped-conv-kernel.h5")
        assertThrows(ImportError.unmappedTensors(file: path, tensors: ["/bert/tf_bert_model/bert/embeddings/conv/kernel:0"])) {
            _ = try KerasH5(path: path)
        }
    }

    func testMissingWeightNames_isAnError() {
        let path = keras("bad/missing-weight-names.h5")
        assertThrows(HDF5Error.badGroupStructure(file: path, object: "/bert", reason: "has no weight_names attribute (nor weight_names0, weight_names1, ...)")) {
            _ = try KerasH5(path: path)
        }
    }

    func testListedButAbsentDataset_isAnError() {
        let path = keras("bad/listed-but-absent.h5")
        assertThrows(ImportError.missingSourceTensor(file: path, tensor: "/bert/tf_bert_model/bert/encoder/layer_._0/attention/self/query/kernel:0")) {
            _ = try KerasH5(path: path)
        }
    }

    func testStrayDataset_isAnErrorNotASilentDrop() {
        let path = keras("bad/stray-dataset.h5")
        assertThrows(HDF5Error.badGroupStructure(file: path, object: "/bert/tf_bert_model/bert/embeddings/extra:0", reason: "is in layer 'bert' but not in its weight_names")) {
            _ = try KerasH5(path: path)
        }
    }

    func testWithoutConfig_saysTheArchitectureIsUnknown() throws {
        let dir = try scratchDirectory()
        try FileManager.default.copyItem(atPath: keras("bert-tiny/tf_model.h5"), toPath: "\(dir)/tf_model.h5")
        XCTAssertThrowsError(try KerasH5.open(path: "\(dir)/tf_model.h5")) { error in
            guard case ImportError.notACheckpoint(let path, _)? = error as? ImportError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, "\(dir)/tf_model.h5")
        }
    }

    func testNotKeras_isNotACheckpoint() {
        XCTAssertThrowsError(try KerasH5(path: Paths.fixture("hf/bert-tiny-state-dict.h5"))) { error in
            guard case ImportError.notACheckpoint? = error as? ImportError else { return XCTFail("\(error)") }
        }
    }

    func testOpenWeightFile_readsKerasFilesAndTensorFlowOnlyFolders() throws {
        for path in [keras("bert-tiny/tf_model.h5"), keras("bert-tiny"), keras("gpt2-tiny/tf_model.h5"), keras("gpt2-tiny")] {
            let file = try openWeightFile(path: path)
            XCTAssertTrue(file is HFCheckpoint, path)
            XCTAssertNoThrow(try ModelFile(file), path)
        }
        XCTAssertTrue(try openWeightFile(path: Paths.fixture("hf/bert-tiny-state-dict.h5")) is HFCheckpoint)
        XCTAssertTrue(try openWeightFile(path: Paths.fixture("bert-tiny.h5")) is HDF5File)
    }

    func testConvertKerasToQKV_givesTheCanonicalTensors() throws {
        let dir = try scratchDirectory()
        for (input, fixture) in [("bert-tiny/tf_model.h5", "bert-tiny.h5"), ("gpt2-tiny", "gpt2-tiny.h5")] {
            let output = "\(dir)/\(fixture).qkv"
            try Converter.convert(input: keras(input), output: output, format: .qkv)
            let back = try ModelFile(try openWeightFile(path: output))
            let canonical = try ModelFile(try openWeightFile(path: Paths.fixture(fixture)))
            XCTAssertEqual(back.config, canonical.config, input)
            XCTAssertEqual(back.orderedTensors.map(\.name), canonical.orderedTensors.map(\.name), input)
            for info in canonical.orderedTensors {
                XCTAssertTrue(try back.file.tensor(info.name).hasSameBytes(as: canonical.file.tensor(info.name)), "\(input) \(info.name)")
            }
        }
    }

    func testKerasWithoutConfig_throughOpenWeightFile_isNotACheckpoint() throws {
        let dir = try scratchDirectory()
        try FileManager.default.copyItem(atPath: keras("bert-tiny/tf_model.h5"), toPath: "\(dir)/tf_model.h5")
        XCTAssertThrowsError(try openWeightFile(path: "\(dir)/tf_model.h5")) { error in
            guard case ImportError.notACheckpoint? = error as? ImportError else { return XCTFail("\(error)") }
        }
    }
}
