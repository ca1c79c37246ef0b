import Foundation
import Synchronization
import XCTest

/// Runs the built `qkv` binary as a user would and checks its output and exit codes.
final class CommandTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    func fixture(_ name: String) -> String { Self.root.appendingPathComponent("Fixtures/\(name)").path }

    /// The `qkv` next to the test bundle (SwiftPM builds both into the same directory).
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["QKV_BIN"] { return path }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        if dir.path.hasSuffix(".xctest/Contents/MacOS") { dir = dir.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent() }
        for candidate in [dir, Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("qkv").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return dir.appendingPathComponent("qkv").path
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    func qkv(_ arguments: String...) throws -> Result { try qkv(arguments, environment: nil) }

    /// Runs qkv with `environment` changes (a nil value removes the variable).
    func qkv(_ arguments: [String], environment changes: [String: String?]?) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        if let changes {
            var environment = ProcessInfo.processInfo.environment
            for (key, value) in changes { environment[key] = value }
            process.environment = environment
        }
        let (out, err) = (Pipe(), Pipe())
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Both pipes at once: qkv blocks once a pipe's buffer (64 KiB) is full, so reading one to its
        // end before the other would wait forever for a command that fills the other.
        let errors = PipeReader(err.fileHandleForReading)
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.wait()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self), stderr: String(decoding: stderr, as: UTF8.self))
    }

    func scratch() throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("qkv-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    func testLongErrorMessage_isReadWhileStdoutIsOpen() throws {
        // 100 KB of stderr, more than a pipe holds, before qkv closes stdout by exiting.
        let path = String(repeating: "x", count: 100_000)
        let r = try qkv("inspect", path)
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stdout, "")
        XCTAssertTrue(r.stderr.hasPrefix("error: \(path)"), String(r.stderr.prefix(80)))
        XCTAssertTrue(r.stderr.hasSuffix(": cannot open: File name too long\n"), String(r.stderr.suffix(80)))
    }

    // MARK: convert

    func testConvert_printsOneSummaryLineAndExitsZero() throws {
        let dir = try scratch()
        let r = try qkv("convert", fixture("llama-tiny.h5"), "\(dir)/l.qkv")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stderr, "", "no progress bar when stderr is not a terminal")
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 1)
        XCTAssertTrue(lines[0].hasPrefix("\(fixture("llama-tiny.h5")) -> \(dir)/l.qkv: 21 tensors, 22,176 parameters, "), String(lines[0]))
        XCTAssertTrue(lines[0].contains(" qkv in "))
    }

    func testConvert_quietPrintsNothing() throws {
        let dir = try scratch()
        let r = try qkv("convert", fixture("bert-tiny.h5"), "\(dir)/b.h5", "--dtype", "bf16", "--compress", "--quiet")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout, "")
        XCTAssertEqual(try qkv("validate", "\(dir)/b.h5").status, 0)
    }

    func testConvert_toOverridesTheExtension() throws {
        let dir = try scratch()
        XCTAssertEqual(try qkv("convert", fixture("llama-tiny.h5"), "\(dir)/model.bin", "--to", "qkv", "-q").status, 0)
        let r = try qkv("inspect", "\(dir)/model.bin")
        XCTAssertTrue(r.stdout.contains("(qkv, "), r.stdout)
    }

    func testConvert_unknownOutputExtensionIsAUsageError() throws {
        let dir = try scratch()
        let r = try qkv("convert", fixture("llama-tiny.h5"), "\(dir)/model.bin")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("cannot tell the output format from '\(dir)/model.bin'"), r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/model.bin"))
    }

    func testConvert_compressNeedsHDF5() throws {
        let dir = try scratch()
        let r = try qkv("convert", fixture("llama-tiny.h5"), "\(dir)/m.qkv", "--compress")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("--compress applies to HDF5 output only"), r.stderr)
    }

    func testConvert_badDTypeIsAUsageError() throws {
        let r = try qkv("convert", fixture("llama-tiny.h5"), "/tmp/x.qkv", "--dtype", "f8")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("f8"), r.stderr)
    }

    func testConvert_refusesToOverwriteItsInput() throws {
        let dir = try scratch()
        XCTAssertEqual(try qkv("convert", fixture("llama-tiny.h5"), "\(dir)/l.qkv", "-q").status, 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/l.qkv"))
        let r = try qkv("convert", "\(dir)/l.qkv", "\(dir)/l.qkv")
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr, "error: \(dir)/l.qkv: is the input file \(dir)/l.qkv; refusing to overwrite it\n")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: "\(dir)/l.qkv")), before)
    }

    func testConvert_invalidInputExitsOneAndWritesNothing() throws {
        let dir = try scratch()
        try Data("not a model".utf8).write(to: URL(fileURLWithPath: "\(dir)/junk.qkv"))
        let r = try qkv("convert", "\(dir)/junk.qkv", "\(dir)/out.h5")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.hasPrefix("error: \(dir)/junk.qkv: not a .qkv, HDF5, safetensors or GGUF file"), r.stderr)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["junk.qkv"])
    }

    func testConvert_missingInputIsAnIOError() throws {
        let r = try qkv("convert", "/nonexistent/model.h5", "/tmp/out.qkv")
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.stderr, "error: /nonexistent/model.h5: cannot open: No such file or directory\n")
    }

    // MARK: validate

    func testValidate_validFileExitsZero() throws {
        let r = try qkv("validate", fixture("gpt2-tiny.h5"))
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.stdout, "\(fixture("gpt2-tiny.h5")): valid (hdf5, gpt2, 36 tensors)\n")
    }

    func testValidateDeep_onAConvertedFile() throws {
        let dir = try scratch()
        XCTAssertEqual(try qkv("convert", fixture("gpt2-tiny.h5"), "\(dir)/g.qkv", "--dtype", "f16", "-q").status, 0)
        let r = try qkv("validate", "--deep", "\(dir)/g.qkv")
        XCTAssertEqual(r.status, 0, r.stdout)
        XCTAssertEqual(r.stdout, "\(dir)/g.qkv: valid (qkv, gpt2, 36 tensors, deep)\n")
    }

    func testValidate_corruptFileExitsOneNamingTheTensor() throws {
        let dir = try scratch()
        let path = "\(dir)/l.qkv"
        XCTAssertEqual(try qkv("convert", fixture("llama-tiny.h5"), path, "-q").status, 0)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 3] ^= 0x01   // inside the last tensor, lm_head/weight
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        XCTAssertEqual(try qkv("validate", path).status, 0, "without --deep the data is not read")
        let r = try qkv("validate", "--deep", path)
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stdout.hasPrefix("\(path): invalid\n  - \(path): tensor 'lm_head/weight' has CRC-32 "), r.stdout)
    }

    func testValidate_truncatedFileExitsOne() throws {
        let dir = try scratch()
        let path = "\(dir)/l.qkv"
        XCTAssertEqual(try qkv("convert", fixture("llama-tiny.h5"), path, "-q").status, 0)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: path))
        let r = try qkv("validate", path)
        XCTAssertEqual(r.status, 1)
        XCTAssertEqual(r.stdout, "\(path): invalid\n  - \(path): header says the file is \(bytes.count) bytes but it is \(bytes.count - 100) bytes (truncated?)\n")
    }

    func testValidate_wellFormedFileOfAnUnmappedArchitectureExitsThree() throws {
        // all-types-v2.gguf is a correct GGUF whose architecture is "test": not invalid, just not ours.
        let r = try qkv("validate", fixture("gguf/all-types-v2.gguf"))
        XCTAssertEqual(r.status, 3, r.stdout + r.stderr)
        XCTAssertTrue(r.stdout.contains("valid gguf container, but qkv cannot map it"), r.stdout)
        XCTAssertTrue(r.stdout.contains("architecture 'test' has no map in qkv"), r.stdout)
        XCTAssertTrue(try qkv("validate", "--help").stdout.replacingOccurrences(of: "\n", with: " ").contains("3 a valid container of an architecture"))
    }

    func testInspect_unmappedGGUFShowsItsKeysAndValues() throws {
        let r = try qkv("inspect", fixture("gguf/all-types-v2.gguf"))
        XCTAssertEqual(r.status, 0, r.stderr)
        // Scalars as they are, the key that names the architecture among them.
        for expected in ["gguf.general.architecture=\"test\"", "gguf.test.u32=4294967295", "gguf.test.bool=true"] {
            XCTAssertTrue(r.stdout.contains(expected), "\(expected) in\n\(r.stdout)")
        }
    }

    func testInspect_namesTheArchitectureAndItsSteps() throws {
        // Gemma 3's tiny model from transformers (Fixtures/reference/archs/gemma3): every step in words.
        let r = try qkv("inspect", fixture("reference/archs/gemma3"))
        XCTAssertEqual(r.status, 0, r.stderr)
        for expected in ["gemma3 (llama family): 6 layers", "gated gelu_tanh MLP", "q/k RMSNorm per head", "norms after attention and MLP",
                         "norms scale by 1.0 + w", "embeddings × 8.0", "sliding window 8, layers 5 global (RoPE theta 10000.0 on the sliding layers)"] {
            XCTAssertTrue(r.stdout.contains(expected), "\(expected) in\n\(r.stdout)")
        }
    }

    func testValidate_missingFileExitsTwo() throws {
        let r = try qkv("validate", "/nonexistent.qkv")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("cannot open"), r.stderr)
    }

    func testValidate_noArgumentsIsAUsageErrorExitingTwo() throws {
        let r = try qkv("validate")
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("Missing expected argument '<file>'"), r.stderr)
    }

    func testHelpExitsZero() throws {
        let r = try qkv("--help")
        XCTAssertEqual(r.status, 0)
        for sub in ["convert", "inspect", "validate"] { XCTAssertTrue(r.stdout.contains(sub), r.stdout) }
    }

    // MARK: inspect

    func testInspect_showsConfigParametersAndDTypes() throws {
        let r = try qkv("inspect", fixture("llama-tiny.h5"))
        XCTAssertEqual(r.status, 0, r.stderr)
        let expected = [
            "model         llama: 2 layers, d_model 32, 4 heads (2 key/value heads, GQA) of d_head 8, d_ff 48, vocab 104, 128 positions",
            "tokenizer     sentencepiece_bpe, 100 tokens",
            "parameters    22,176",
            "  attention   6,144 (27.7%)",
            "  per layer   attention 3,072, 3,072",
            "dtypes        f32: 21 tensors, 22,176 parameters, 86.6 KiB",
        ]
        for line in expected { XCTAssertTrue(r.stdout.contains(line + "\n"), "missing line: \(line)\n\(r.stdout)") }
    }

    func testInspectJSON_isParseableAndComplete() throws {
        let r = try qkv("inspect", "--json", "--tensors", "--heads", fixture("llama-tiny.h5"))
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any]
        XCTAssertEqual(json["parameters"] as? Int, 22176)
        XCTAssertEqual((json["config"] as? [String: String])?["kv_head_count"], "2")
        XCTAssertEqual((json["tensors"] as? [Any])?.count, 21)
        let heads = json["heads"] as! [[String: Any]]
        XCTAssertEqual(heads.count, 8, "2 layers x 4 heads")
        XCTAssertEqual(heads[3]["kvHead"] as? Int, 1, "query head 3 reads key/value head 1")
        XCTAssertEqual(json["schemaProblems"] as? [String], [])
    }

    func testInspectJSON_keepsFoundationsLayout() throws {
        // Sorted keys, two spaces a level, `"key" : value`, `/` as `\/`, whole norms without `.0`: as
        // JSONEncoder printed it before inspect wrote its JSON with the project's writer.
        let r = try qkv("inspect", "--json", "--heads", fixture("heads-roles.h5"))
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.hasPrefix("{\n  \"attentionParametersByLayer\" : [\n"), String(r.stdout.prefix(80)))
        XCTAssertTrue(r.stdout.contains("\"file\" : \"" + fixture("heads-roles.h5").replacingOccurrences(of: "/", with: "\\/") + "\",\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("      \"key\" : 8,\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  \"user\" : {\n\n  }\n}\n"), String(r.stdout.suffix(80)))
    }

    func testInspectHeads_normsMatchNumpy() throws {
        // ||W_Q[h]||_F for layer 0 as numpy computes it from the fixture (tools/make_fixtures.py records them).
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.root.appendingPathComponent("Fixtures/expected.json"))) as! [String: [String: Any]]
        guard let norms = expected["llama-tiny.h5"]?["head_norms"] as? [String: [[Double]]] else {
            return XCTFail("Fixtures/expected.json has no head_norms for llama-tiny.h5")
        }
        let r = try qkv("inspect", "--json", "--heads", fixture("llama-tiny.h5"))
        let heads = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: Any])["heads"] as! [[String: Any]]
        for head in heads {
            let (layer, h, kv) = (head["layer"] as! Int, head["head"] as! Int, head["kvHead"] as! Int)
            XCTAssertEqual(head["query"] as! Double, norms["q"]![layer][h], accuracy: 1e-9)
            XCTAssertEqual(head["key"] as! Double, norms["k"]![layer][kv], accuracy: 1e-9)
            XCTAssertEqual(head["value"] as! Double, norms["v"]![layer][kv], accuracy: 1e-9)
            XCTAssertEqual(head["output"] as! Double, norms["o"]![layer][h], accuracy: 1e-9)
        }
    }

    func testInspect_fileBreakingTheSchemaStillShowsWithItsProblems() throws {
        let path = fixture("bad-hdf5/stray-tensor.h5")
        let r = try qkv("inspect", path)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("schema        does not follow Specs/schema.md (1 problem):\n"
                                        + "  - \(path): tensor 'layers/0/attn/extra/weight' is not part of this model's schema (a stray tensor)\n"), r.stdout)
        XCTAssertTrue(r.stdout.contains("  other       "), "the stray's parameters are counted apart:\n\(r.stdout)")
        let v = try qkv("validate", path)
        XCTAssertEqual(v.status, 1)
    }

    // MARK: embed

    func testEmbed_tsvGivesOneLinePerTextOfModelDimFloats() throws {
        let r = try qkv("embed", fixture("bert-tiny.h5"), "hello world", "the dog", "--format", "tsv", "-q")
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = r.stdout.split(separator: "\n")
        XCTAssertEqual(lines.count, 2)
        let values = lines[0].split(separator: "\t").compactMap { Float($0) }
        XCTAssertEqual(values.count, 32)
        XCTAssertEqual(values.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-4, "the fixture normalises")
        XCTAssertEqual(r.stderr, "")
    }

    func testEmbed_usesOpenBLASKernelsForThisProcessor_andKeepsTheUsersChoice() throws {
        func kernels(_ coretype: String?) throws -> String {
            let r = try qkv(["embed", fixture("bert-tiny.h5"), "hello"], environment: ["OPENBLAS_CORETYPE": coretype, "QKV_BLAS_RELAUNCHED": nil])
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.stderr.components(separatedBy: "BLAS kernels ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        }
        let flags = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("flags") } ?? ""
        let chosen = try kernels(nil)
        if flags.contains(" avx2") && flags.contains(" fma") {
            // Debian's OpenBLAS 0.3.21 takes newer processors for SSE3 "Prescott"; qkv must not leave it so.
            XCTAssertNotEqual(chosen.lowercased(), "prescott")
            XCTAssertFalse(chosen.isEmpty)
        }
        XCTAssertEqual(try kernels("Haswell").lowercased(), "haswell", "a user's OPENBLAS_CORETYPE wins")
    }

    func testEmbed_npyFileHasNumpysHeader() throws {
        let dir = try scratch()
        let r = try qkv("embed", fixture("bert-tiny.h5"), "hello", "--format", "npy", "-o", "\(dir)/v.npy")
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("embedded 1 text in "), r.stderr)
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/v.npy"))
        XCTAssertEqual(Array(data.prefix(8)), [0x93] + Array("NUMPY".utf8) + [1, 0])
        let headerLength = Int(data[8]) | Int(data[9]) << 8
        XCTAssertEqual((10 + headerLength) % 64, 0)
        XCTAssertTrue(String(decoding: data[10..<10 + headerLength], as: UTF8.self).contains("'shape': (1, 32)"))
        XCTAssertEqual(data.count, 10 + headerLength + 32 * 4)
    }

    func testEmbed_decoderModelIsAnInvalidInput() throws {
        let r = try qkv("embed", fixture("llama-tiny.h5"), "hello")
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("cannot run this model: not a BERT encoder"), r.stderr)
    }

    func testEmbed_withoutTextsIsAUsageError() throws {
        let r = try qkv("embed", fixture("bert-tiny.h5"))
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("give texts as arguments or --file"), r.stderr)
    }
}

/// Reads a pipe to its end on a thread of its own, so the caller can read another pipe meanwhile.
final class PipeReader: Sendable {
    private let data = Mutex(Data())
    private let done = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread { [self] in
            let read = handle.readDataToEndOfFile()
            data.withLock { $0 = read }
            done.signal()
        }.start()
    }

    /// Everything the pipe carried, once its writer closed it.
    func wait() -> Data {
        done.wait()
        return data.withLock { $0 }
    }
}
