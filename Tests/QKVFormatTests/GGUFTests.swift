import Foundation
import XCTest
@testable import QKVFormat

/// The good GGUF fixtures (Fixtures/gguf/, written by gguf-py and by the byte-level builder in
/// tools/fixtures_gguf.py) against what the generator recorded in Fixtures/gguf/expected.json, and the
/// writer against them byte for byte.
final class GGUFFixtureTests: XCTestCase {
    static let dir = Paths.root.appendingPathComponent("Fixtures/gguf")
    static func fixture(_ name: String) -> String { dir.appendingPathComponent(name).path }

    /// Read at each use (JSON's `Any` values are not `Sendable`, so they are not kept in a global).
    static var expected: [String: [String: Any]] {
        let data = try! Data(contentsOf: dir.appendingPathComponent("expected.json"))
        return try! JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
    }

    /// The generator's canonical text of a value: decimal integers, true/false, strings as they are,
    /// floats as their bits in hex; arrays as a list of those.
    static func repr(_ value: GGUFValue) -> Any {
        switch value {
        case .float32(let v): return "0x" + String(v.bitPattern, radix: 16).leftPadded(to: 8)
        case .float64(let v): return "0x" + String(v.bitPattern, radix: 16).leftPadded(to: 16)
        case .bool(let v): return v ? "true" : "false"
        case .string(let v): return v
        case .array(let a): return (0..<a.count).map { repr(a[$0]) as! String }
        case .uint8(let v): return String(v)
        case .int8(let v): return String(v)
        case .uint16(let v): return String(v)
        case .int16(let v): return String(v)
        case .uint32(let v): return String(v)
        case .int32(let v): return String(v)
        case .uint64(let v): return String(v)
        case .int64(let v): return String(v)
        }
    }

    func testEveryFixture_matchesExpected() throws {
        XCTAssertEqual(Set(Self.expected.keys),
                       ["llama-tiny.gguf", "llama-tiny-f16.gguf", "llama-tiny-q8_0.gguf", "all-types-v2.gguf", "alignment-1.gguf"])
        for (name, expected) in Self.expected.sorted(by: { $0.key < $1.key }) {
            let file = try GGUFFile(path: Self.fixture(name))
            XCTAssertEqual(Int(file.version), expected["version"] as? Int, name)
            XCTAssertEqual(file.alignment, expected["alignment"] as? Int, name)
            XCTAssertEqual(file.dataStart, expected["data_start"] as? Int, name)

            let metadata = expected["metadata"] as! [[String: Any]]
            XCTAssertEqual(file.metadata.map(\.key), metadata.map { $0["key"] as! String }, "\(name): keys in order")
            for (entry, (key, value)) in zip(metadata, file.metadata) {
                XCTAssertEqual(value.type.name, entry["type"] as? String, "\(name) \(key)")
                if let array = value.arrayValue {
                    XCTAssertEqual(array.elementType.name, entry["element_type"] as? String, "\(name) \(key)")
                    XCTAssertEqual(array.count, entry["count"] as? Int, "\(name) \(key)")
                    XCTAssertEqual(Self.repr(value) as? [String], entry["repr"] as? [String], "\(name) \(key)")
                } else {
                    XCTAssertEqual(Self.repr(value) as? String, entry["repr"] as? String, "\(name) \(key)")
                }
                XCTAssertEqual(file[key], value, "\(name): lookup of \(key)")
            }

            let tensors = expected["tensors"] as! [[String: Any]]
            XCTAssertEqual(file.tensorInfos.map(\.name), tensors.map { $0["name"] as! String }, "\(name): tensors in order")
            for (entry, info) in zip(tensors, file.tensorInfos) {
                let label = "\(name) \(info.name)"
                XCTAssertEqual(info.type.name, entry["type"] as? String, label)
                XCTAssertEqual(info.dims, entry["dims"] as? [Int], label)
                XCTAssertEqual(info.offset, entry["offset"] as? Int, label)
                XCTAssertEqual(info.byteCount, entry["nbytes"] as? Int, label)
                let crc = try file.withUnsafeTensorBytes(info.name) { CRC32.checksum($0) }
                XCTAssertEqual(Int(crc), entry["crc32"] as? Int, label)
                guard let dtype = info.type.dtype else {
                    XCTAssertThrowsError(try file.tensor(info.name), label)
                    continue
                }
                let view = try file.tensor(info.name)
                XCTAssertEqual(view.dtype, dtype, label)
                XCTAssertEqual(view.shape, Array(info.dims.reversed()), label)
                XCTAssertEqual(view.withUnsafeBytes { CRC32.checksum($0) }, crc, label)
            }
        }
    }

    func testTensorViews_pointIntoTheMappingAndAreAligned() throws {
        let file = try GGUFFile(path: Self.fixture("llama-tiny-f16.gguf"))
        let mapped = file.mapping.bytes
        for info in file.tensorInfos {
            let view = try file.tensor(info.name)
            XCTAssertTrue(view.storage === file.mapping, info.name)
            view.withUnsafeBytes { bytes in
                XCTAssertEqual(bytes.baseAddress, mapped.baseAddress! + file.dataStart + info.offset, info.name)
                XCTAssertEqual(Int(bitPattern: bytes.baseAddress!) % 32, 0, "\(info.name) is 32-byte aligned")
            }
        }
    }

    /// general.alignment 1 puts an f32 at byte 3 of the data: the view is a correct, aligned copy.
    func testMisalignedTensors_areCopied() throws {
        let file = try GGUFFile(path: Self.fixture("alignment-1.gguf"))
        XCTAssertEqual(file.alignment, 1)
        XCTAssertEqual(file.tensorInfos.map(\.offset), [0, 3, 11, 19])
        XCTAssertEqual(file.dataStart, 242)
        for (info, size) in zip(file.tensorInfos, [1, 4, 8, 2]) {
            let view = try file.tensor(info.name)
            let aligned = (file.dataStart + info.offset) % size == 0
            XCTAssertEqual(view.storage === file.mapping, aligned, "\(info.name): zero-copy exactly when aligned")
            view.withUnsafeBytes { XCTAssertEqual(Int(bitPattern: $0.baseAddress!) % size, 0, info.name) }
        }
        XCTAssertFalse(try file.tensor("f32").storage === file.mapping)
        XCTAssertEqual(try file.tensor("f32").floats(), [1.5, -2.0])
        XCTAssertEqual(try file.tensor("f64").withUnsafeBufferPointer(of: Double.self) { Array($0) }, [0.25])
        XCTAssertEqual(try file.tensor("f16").floats(), [1.0, 2.0])
        XCTAssertEqual(try file.tensor("odd").withUnsafeBytes { Array($0) }, [1, 2, 3])
    }

    func testAllTypes_valuesLookupsAndSpecialTensors() throws {
        let file = try GGUFFile(path: Self.fixture("all-types-v2.gguf"))
        XCTAssertEqual(file.version, 2)
        XCTAssertEqual(file.alignment, 64)
        XCTAssertEqual(file.dataStart % 64, 0)
        XCTAssertEqual(file["test.u64"], .uint64(.max))
        XCTAssertEqual(file["test.i8"], .int8(-128))
        XCTAssertEqual(file["test.str"], .string("héllo wörld ✓ 日本"))
        XCTAssertEqual(file["test.empty_str"], .string(""))
        XCTAssertNil(file["test.missing"])
        // Two keys that differ only in Unicode normalisation stay two keys, as in ggml.
        XCTAssertEqual(file["test.caf\u{e9}"], .uint8(1))
        XCTAssertEqual(file["test.cafe\u{301}"], .uint8(2))
        guard case .float32(let specials)? = file["test.arr.f32"]?.arrayValue else { return XCTFail("f32 array") }
        XCTAssertTrue(specials[5].isNaN)
        XCTAssertEqual(specials[1].bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertEqual(file["test.arr.empty"], .array(.uint32([])))

        XCTAssertEqual(try file.tensor("scalar").shape, [])
        XCTAssertEqual(try file.tensor("scalar").floats(), [3.25])
        XCTAssertEqual(try file.tensor("four-d").shape, [2, 3, 1, 2])
        XCTAssertEqual(try file.tensor("four-d").floats(), (0..<12).map(Float.init))
        XCTAssertEqual(try file.tensor("empty").shape, [4, 0])
        XCTAssertEqual(try file.tensor("q8_0").dtype, .q8_0)
        XCTAssertEqual(try file.tensor("q8_0").shape, [1, 64])
        XCTAssertEqual(try file.tensor(String(repeating: "n", count: 63)).dtype, .f16)
        XCTAssertEqual(file.tensorInfo("q4_0")?.type, .q4_0)
        XCTAssertEqual(file.tensorInfo("q4_0")?.byteCount, 36)
        // Q4_0 is qkv's q4_0: viewed with the row-major shape, its 36 bytes as they are.
        let q4 = try file.tensor("q4_0")
        XCTAssertEqual(q4.dtype, .q4_0)
        XCTAssertEqual(q4.shape, [2, 32])
        try file.withUnsafeTensorBytes("q4_0") { raw in q4.withUnsafeBytes { XCTAssertEqual(Array($0), Array(raw)) } }
    }

    /// GGUF views have the canonical row-major shapes, so the tensors llama.cpp does not rearrange are
    /// bit for bit the HDF5 fixture's (which the same generator wrote from the same weights).
    func testLlamaTiny_matchesTheHDF5Fixture() throws {
        let gguf = try GGUFFile(path: Self.fixture("llama-tiny.gguf"))
        let h5 = try openWeightFile(path: Paths.fixture("llama-tiny.h5"))
        let pairs = [("token_embd.weight", "embed/token/weight"), ("output.weight", "lm_head/weight"),
                     ("output_norm.weight", "final_norm/weight"), ("blk.1.ffn_down.weight", "layers/1/mlp/down/weight"),
                     ("blk.0.ffn_gate.weight", "layers/0/mlp/gate/weight"), ("blk.0.attn_norm.weight", "layers/0/attn_norm/weight")]
        for (g, c) in pairs {
            let a = try gguf.tensor(g), b = try h5.tensor(c)
            XCTAssertEqual(a.shape, b.shape, g)
            XCTAssertTrue(a.hasSameBytes(as: b), g)
        }
        // V is [K*d, D] in both, O is transposed: O[h][j][m] = attn_output[m, h*d + j].
        let v = try gguf.tensor("blk.0.attn_v.weight"), canonicalV = try h5.tensor("layers/0/attn/v/weight")
        XCTAssertEqual(v.shape, [16, 32])
        XCTAssertEqual(v.floats(), canonicalV.floats())
        let o = try gguf.tensor("blk.0.attn_output.weight").floats(), canonicalO = try h5.tensor("layers/0/attn/o/weight").floats()
        for h in 0..<4 { for j in 0..<8 { for m in 0..<32 {
            XCTAssertEqual(o[m * 32 + h * 8 + j], canonicalO[(h * 8 + j) * 32 + m])
        } } }
        // Q rows are permuted within each head: GGUF row 2i is HF row i, row 2i + 1 is HF row i + d/2.
        let q = try gguf.tensor("blk.0.attn_q.weight").floats(), canonicalQ = try h5.tensor("layers/0/attn/q/weight").floats()
        for h in 0..<4 { for i in 0..<4 { for m in 0..<32 {
            XCTAssertEqual(q[(h * 8 + 2 * i) * 32 + m], canonicalQ[(h * 8 + i) * 32 + m])
            XCTAssertEqual(q[(h * 8 + 2 * i + 1) * 32 + m], canonicalQ[(h * 8 + i + 4) * 32 + m])
        } } }
    }

    // MARK: Writer

    /// Copies `file` through GGUFWriter: views where qkv has a dtype, raw bytes otherwise.
    func rewrite(_ file: GGUFFile, to target: String) throws {
        let writer = try GGUFWriter(target: target, inputs: [file.path], version: file.version, metadata: file.metadata,
                                    tensors: file.tensorInfos.map { GGUFWriter.Tensor(name: $0.name, type: $0.type, dims: $0.dims) })
        XCTAssertEqual(writer.tensorInfos, file.tensorInfos)
        XCTAssertEqual(writer.dataStart, file.dataStart)
        for info in writer.tensorInfos {
            if info.type.dtype != nil {
                try writer.append(try file.tensor(info.name))
            } else {
                try file.withUnsafeTensorBytes(info.name) { try writer.append(name: info.name, bytes: $0) }
            }
        }
        try writer.finish()
    }

    /// gguf-py and the builder pad every tensor, the last one too; so does GGUFWriter, and it writes the
    /// fixtures back byte for byte.
    func testWriter_reproducesEveryFixtureByteForByte() throws {
        let dir = try scratchDirectory()
        for name in Self.expected.keys.sorted() {
            let file = try GGUFFile(path: Self.fixture(name))
            let target = dir + "/" + name
            try rewrite(file, to: target)
            XCTAssertEqual(try readBytes(target), try readBytes(file.path), name)
            let back = try GGUFFile(path: target)
            XCTAssertEqual(back.metadata.map(\.key), file.metadata.map(\.key), name)
            XCTAssertEqual(back.metadata.map(\.value), file.metadata.map(\.value), name)
            XCTAssertEqual(back.tensorInfos, file.tensorInfos, name)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).count, Self.expected.count, "no temporary files left")
    }

    func testWriter_fromOwnedViews_withCustomAlignment() throws {
        let target = try scratchDirectory() + "/custom.gguf"
        func view(_ name: String, _ dtype: DType, _ shape: [Int], fill: UInt8) -> TensorView {
            let info = TensorInfo(name: name, role: nil, dtype: dtype, shape: shape)
            let storage = OwnedStorage(count: info.byteCount)
            storage.mutableBytes.initializeMemory(as: UInt8.self, repeating: fill)
            return TensorView(info: info, storage: storage, bytes: storage.bytes)
        }
        let views = [view("a", .f32, [3, 5], fill: 1), view("b", .bf16, [7], fill: 2), view("c", .q8_0, [2, 32], fill: 3), view("d", .i64, [], fill: 4)]
        let metadata: [(key: String, value: GGUFValue)] = [
            ("general.architecture", .string("test")), ("general.alignment", .uint32(128)),
            ("x.tokens", .array(.string(["a", "b"]))), ("x.flags", .array(.bool([true, false]))),
        ]
        let writer = try GGUFWriter(target: target, metadata: metadata, tensors: views.map { GGUFWriter.Tensor($0)! })
        XCTAssertEqual(writer.alignment, 128)
        XCTAssertEqual(writer.tensorInfos.map(\.offset), [0, 128, 256, 384])
        for v in views { try writer.append(v) }
        try writer.finish()

        let file = try GGUFFile(path: target)
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.alignment, 128)
        XCTAssertEqual(file.dataStart % 128, 0)
        XCTAssertEqual(file.metadata.map(\.value), metadata.map(\.value))
        XCTAssertEqual(file.tensorInfos.map(\.dims), [[5, 3], [7], [32, 2], []])
        XCTAssertEqual(file.tensorInfos.map(\.type), [.f32, .bf16, .q8_0, .i64])
        for v in views { XCTAssertTrue(try file.tensor(v.name).hasSameBytes(as: v), v.name) }
        XCTAssertEqual(try readBytes(target).count, file.dataStart + 384 + 128, "the last tensor is padded too")
    }

    /// The writer checks its header with the reader's rules: what GGUFFile would reject is never written.
    func testWriter_rejectsWhatTheReaderRejects_andWritesNothing() throws {
        let dir = try scratchDirectory()
        let target = dir + "/out.gguf"
        let ok = GGUFWriter.Tensor(name: "w", type: .f32, dims: [4])
        func attempt(_ metadata: [(key: String, value: GGUFValue)], _ tensors: [GGUFWriter.Tensor]) -> String {
            do {
                _ = try GGUFWriter(target: target, metadata: metadata, tensors: tensors)
                return "accepted"
            } catch let error as GGUFError {
                XCTAssertTrue("\(error)".hasPrefix(target + ":"), "\(error)")
                return Mirror(reflecting: error).children.first?.label ?? "\(error)"
            } catch {
                return "\(error)"
            }
        }
        XCTAssertEqual(attempt([("a", .uint8(1)), ("a", .uint8(2))], [ok]), "duplicateKey")
        XCTAssertEqual(attempt([("", .uint8(1))], [ok]), "emptyKey")
        XCTAssertEqual(attempt([("general.alignment", .uint32(48))], [ok]), "invalidAlignment")
        XCTAssertEqual(attempt([("general.alignment", .uint64(32))], [ok]), "alignmentNotU32")
        XCTAssertEqual(attempt([], [ok, ok]), "duplicateTensor")
        XCTAssertEqual(attempt([], [GGUFWriter.Tensor(name: String(repeating: "x", count: 64), type: .f32, dims: [1])]), "invalidTensorName")
        XCTAssertEqual(attempt([], [GGUFWriter.Tensor(name: "q", type: .q8_0, dims: [48])]), "partialBlock")
        XCTAssertEqual(attempt([], [GGUFWriter.Tensor(name: "n", type: .f32, dims: [-1])]), "negativeDimension")
        XCTAssertEqual(attempt([], [GGUFWriter.Tensor(name: "d", type: .f32, dims: [1, 1, 1, 1, 1])]), "tooManyDimensions")
        XCTAssertEqual(attempt([], [GGUFWriter.Tensor(name: "o", type: .f32, dims: [1 << 62])]), "elementCountOverflow")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [], "nothing written")
    }

    func testWriter_abandonLeavesNothing_andRefusesToReplaceItsInput() throws {
        let dir = try scratchDirectory()
        let writer = try GGUFWriter(target: dir + "/x.gguf", metadata: [("general.architecture", .string("t"))],
                                    tensors: [GGUFWriter.Tensor(name: "w", type: .f32, dims: [2])])
        writer.abandon()
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])

        let input = dir + "/in.gguf"
        try FileManager.default.copyItem(atPath: Self.fixture("alignment-1.gguf"), toPath: input)
        let file = try GGUFFile(path: input)
        assertThrows(IOError.sameFile(input: input, output: input)) { try rewrite(file, to: input) }
        XCTAssertEqual(try readBytes(input), try readBytes(Self.fixture("alignment-1.gguf")))
    }

    func testGGMLTypes_matchGgmlsTable() {
        // Every code below GGML_TYPE_COUNT is a case or a removed type, never both.
        for code in 0..<GGMLType.codeLimit {
            XCTAssertNotEqual(GGMLType(rawValue: code) != nil, GGMLType.removedName(code: code) != nil, "code \(code)")
        }
        XCTAssertEqual(GGMLType.allCases.count, 35)
        XCTAssertEqual(GGMLType.q8_0.blockBytes, DType.q8_0.blockBytes)
        XCTAssertEqual(GGMLType.q8_0.blockSize, DType.q8_0.blockSize)
        XCTAssertEqual(GGMLType.q4_K.byteCount(dims: [512, 3]), 2 * 3 * 144)
        XCTAssertNil(GGMLType.q4_K.byteCount(dims: [100]))
        XCTAssertEqual(GGMLType(name: "IQ2_XXS"), .iq2_xxs)
        for type in GGMLType.allCases where type.dtype != nil { XCTAssertEqual(GGMLType(type.dtype!), type) }
    }
}
