import XCTest
@testable import QKVFormat

/// Variable-length strings are read from the global heap by qkv, not libhdf5 (Specs/hdf5-layout.md,
/// "Hostile files"): every malformed collection and every string that does not match its object is
/// refused with `HDF5Error.unsafeStructure`, where libhdf5 1.10 would crash, hang or read garbage.
final class HDF5GlobalHeapTests: XCTestCase {
    // MARK: The corpus files (tools/fixtures_conformance.py), through the reader

    /// The error opening `name` from Fixtures/conformance/hdf5/, which must be `unsafeStructure`.
    func refusal(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> (path: String, object: String, reason: String)? {
        let path = Paths.fixture("conformance/hdf5/\(name)")
        do {
            _ = try openWeightFile(path: path)
            XCTFail("\(name) was accepted", file: file, line: line)
        } catch HDF5Error.unsafeStructure(let reported, let object, let reason) {
            XCTAssertEqual(reported, path, file: file, line: line)
            return (path, object, reason)
        } catch {
            XCTFail("\(name): expected HDF5Error.unsafeStructure, got \(error)", file: file, line: line)
        }
        return nil
    }

    /// The fuzzer's crash (memcpy-param-overlap in H5HG_read): an object overrunning its collection is
    /// refused when the collection is first used, for the root attribute read before anything else.
    func testObjectPastItsCollection_theFuzzersCrash_isRefused() throws {
        let (path, object, reason) = try XCTUnwrap(refusal("heap-object-past-collection.h5"))
        XCTAssertEqual(object, "/@qkv_format")
        XCTAssertTrue(reason.hasPrefix("the string is in the global heap collection at byte "), reason)
        XCTAssertTrue(reason.contains("of 65540 bytes at offset"), reason)
        XCTAssertTrue(reason.hasSuffix("past its end at 4096 bytes"), reason)
        let message = "\(HDF5Error.unsafeStructure(file: path, object: object, reason: reason))"
        XCTAssertEqual(message, "\(path): '/@qkv_format' is refused before reading: \(reason)")
    }

    func testStringNamingAMissingObject_isRefused() throws {
        let (_, object, reason) = try XCTUnwrap(refusal("heap-index-missing.h5"))
        XCTAssertEqual(object, "/tokenizer/tokens")
        XCTAssertTrue(reason.hasPrefix("string 3 refers to object 999 of the global heap collection at byte "), reason)
        XCTAssertTrue(reason.hasSuffix("which has no such object"), reason)
    }

    func testFreeSpaceOfZeroBytes_isRefusedNotLoopedOn() throws {
        let (_, object, reason) = try XCTUnwrap(refusal("heap-free-space-zero.h5"))
        XCTAssertEqual(object, "/@qkv_format")
        XCTAssertTrue(reason.contains("has its free space (object 0) at offset"), reason)
        XCTAssertTrue(reason.contains("declaring 0 bytes"), reason)
    }

    func testStringShorterThanItsObject_isRefused() throws {
        let (_, object, reason) = try XCTUnwrap(refusal("heap-string-shorter-than-object.h5"))
        XCTAssertEqual(object, "/user/notes")
        XCTAssertTrue(reason.hasPrefix("string 0 has length 1, but object "), reason)
        XCTAssertTrue(reason.hasSuffix("is 10000 bytes"), reason)
    }

    /// HDF5 addresses count from the superblock: with a user block in front, strings still read.
    func testFileWithAUserBlock_readsTheSameStrings() throws {
        let original = try HDF5File(path: Paths.fixture("llama-tiny.h5"))
        let shifted = "\(try scratchDirectory())/user-block.h5"
        try writeBytes([UInt8](repeating: 0, count: 512) + readBytes(Paths.fixture("llama-tiny.h5")), to: shifted)
        let file = try HDF5File(path: shifted)
        XCTAssertEqual(file.metadata, original.metadata)
        XCTAssertEqual(file.metadata["tokenizer.kind"], .string("sentencepiece_bpe"))
        XCTAssertEqual(file.metadata["tokenizer.tokens"], original.metadata["tokenizer.tokens"])
    }

    // MARK: The collection rules, on collections built here

    /// A collection as libhdf5 writes one: objects from offset 16, data padded to 8, then the free space
    /// (object 0) to the end.
    func collection(_ objects: [(index: UInt16, data: [UInt8])], size: Int = 4096) -> [UInt8] {
        var bytes = Array("GCOL".utf8) + [1, 0, 0, 0] + le(UInt64(size))
        for (index, data) in objects {
            bytes += le(index) + le(UInt16(0)) + [0, 0, 0, 0] + le(UInt64(data.count))
            bytes += data + [UInt8](repeating: 0, count: (8 - data.count % 8) % 8)
        }
        let free = size - bytes.count
        if free >= 16 { bytes += le(UInt16(0)) + le(UInt16(0)) + [0, 0, 0, 0] + le(UInt64(free)) }
        return bytes + [UInt8](repeating: 0, count: size - bytes.count)
    }

    func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    /// The string the element (`length`, `address`, `index`) names in `file`, or the refusal's reason.
    func read(_ file: [UInt8], length: UInt32, address: UInt64, index: UInt32, base: UInt64 = 0) -> Result<[UInt8]?, HDF5GlobalHeap.Refusal> {
        file.withUnsafeBytes { bytes in
            var heap = HDF5GlobalHeap(file: bytes, base: base)
            return Result { () throws(HDF5GlobalHeap.Refusal) -> [UInt8]? in
                try heap.string(length: length, address: address, index: index, subject: "the string").map { Array($0) }
            }
        }
    }

    func reason(_ result: Result<[UInt8]?, HDF5GlobalHeap.Refusal>) -> String {
        if case .failure(let refusal) = result { return refusal.reason }
        return "accepted: \(result)"
    }

    func testWellFormedCollection_readsEveryString() {
        let file = [UInt8](repeating: 7, count: 40) + collection([(1, Array("qkv-hdf5".utf8)), (2, []), (3, Array("half".utf8))])
        XCTAssertEqual(try read(file, length: 8, address: 40, index: 1).get(), Array("qkv-hdf5".utf8))
        XCTAssertEqual(try read(file, length: 0, address: 40, index: 2).get(), [])
        XCTAssertEqual(try read(file, length: 4, address: 40, index: 3).get(), Array("half".utf8))
        // Address 0 is libhdf5's null string, whatever its length says.
        XCTAssertNil(try read(file, length: 9, address: 0, index: 0).get())
        // A base (user block) moves every address.
        XCTAssertEqual(try read(file, length: 4, address: 8, index: 3, base: 32).get(), Array("half".utf8))
    }

    func testFullCollectionWithoutFreeSpace_orWithAShortTail_isFine() {
        // 16 + (16 + 4064) = 4096: no room for a free-space object.
        let full = [0, 0, 0, 0, 0, 0, 0, 0] + collection([(1, [UInt8](repeating: 65, count: 4064))])
        XCTAssertEqual(try read(full, length: 4064, address: 8, index: 1).get()?.count, 4064)
        // 16 + (16 + 4056) = 4088: 8 bytes left, too few for an object header, free space without one.
        let tail = [0, 0, 0, 0, 0, 0, 0, 0] + collection([(1, [UInt8](repeating: 65, count: 4056))])
        XCTAssertEqual(try read(tail, length: 4056, address: 8, index: 1).get()?.count, 4056)
    }

    func testElementsThatDoNotMatchAnObject_areRefused() {
        let file = [0, 0, 0, 0, 0, 0, 0, 0] + collection([(1, Array("half".utf8))])
        XCTAssertEqual(reason(read(file, length: 4, address: 8, index: 0)),
                       "the string refers to object 0 of the global heap collection at byte 8, which is the collection's free space, not a string")
        XCTAssertEqual(reason(read(file, length: 4, address: 8, index: 2)),
                       "the string refers to object 2 of the global heap collection at byte 8, which has no such object")
        XCTAssertEqual(reason(read(file, length: 4, address: 8, index: 65537)),
                       "the string refers to object 65537 of the global heap collection at byte 8, which has no such object")
        XCTAssertEqual(reason(read(file, length: 1, address: 8, index: 1)),
                       "the string has length 1, but object 1 of the global heap collection at byte 8, which holds it, is 4 bytes")
        XCTAssertEqual(reason(read(file, length: 5, address: 8, index: 1)),
                       "the string has length 5, but object 1 of the global heap collection at byte 8, which holds it, is 4 bytes")
    }

    func testAddressesOutsideTheFileOrWithoutACollection_areRefused() {
        let file = [UInt8](repeating: 0, count: 8) + collection([(1, Array("half".utf8))])
        XCTAssertEqual(reason(read(file, length: 4, address: 1 << 40, index: 1)),
                       "the string refers to a global heap collection at byte 1099511627776, past the end of the 4104-byte file")
        XCTAssertEqual(reason(read(file, length: 4, address: .max, index: 1, base: 2)),
                       "the string refers to a global heap collection at byte beyond 2^64, past the end of the 4104-byte file")
        XCTAssertEqual(reason(read(file, length: 4, address: 4096, index: 1)),
                       "the string refers to the global heap collection at byte 4096, past the end of the 4104-byte file")
        XCTAssertEqual(reason(read(file, length: 4, address: 4, index: 1)),
                       "the string refers to a global heap collection at byte 4, where there is none (no GCOL signature)")
    }

    func testMalformedCollections_areRefusedWhole() {
        let good = [0, 0, 0, 0, 0, 0, 0, 0] + collection([(1, Array("qkv-hdf5".utf8)), (2, Array("half".utf8))])
        /// `good` with `bytes` written at `offset` of its collection (which starts at byte 8).
        func patched(at offset: Int, _ bytes: [UInt8]) -> [UInt8] {
            var copy = good
            copy.replaceSubrange(8 + offset..<8 + offset + bytes.count, with: bytes)
            return copy
        }
        let place = "the string is in the global heap collection at byte 8, which"
        // Object 2's size (at offset 40 + 8) overruns the collection; index 1 is refused too: the whole
        // collection is checked before any string is taken from it.
        XCTAssertEqual(reason(read(patched(at: 48, le(UInt64(65540))), length: 8, address: 8, index: 1)),
                       "\(place) has object 2 of 65540 bytes at offset 40, past its end at 4096 bytes")
        XCTAssertEqual(reason(read(patched(at: 48, le(UInt64.max)), length: 8, address: 8, index: 1)),
                       "\(place) has object 2 of 18446744073709551615 bytes at offset 40, past its end at 4096 bytes")
        XCTAssertEqual(reason(read(patched(at: 40, le(UInt16(1))), length: 8, address: 8, index: 1)), "\(place) holds object 1 twice")
        // The free space (at offset 64) must run to the end: 0 would make libhdf5 loop forever.
        XCTAssertEqual(reason(read(patched(at: 72, le(UInt64(0))), length: 8, address: 8, index: 1)),
                       "\(place) has its free space (object 0) at offset 64 declaring 0 bytes, not the 4032 to its end")
        XCTAssertEqual(reason(read(patched(at: 72, le(UInt64(16))), length: 8, address: 8, index: 1)),
                       "\(place) has its free space (object 0) at offset 64 declaring 16 bytes, not the 4032 to its end")
        XCTAssertEqual(reason(read(patched(at: 4, [2]), length: 8, address: 8, index: 1)), "\(place) has version 2; qkv reads version 1")
        XCTAssertEqual(reason(read(patched(at: 8, le(UInt64(16))), length: 8, address: 8, index: 1)),
                       "\(place) declares 16 bytes, fewer than the format's minimum of 4096")
        XCTAssertEqual(reason(read(patched(at: 8, le(UInt64(4097))), length: 8, address: 8, index: 1)),
                       "\(place) declares 4097 bytes, past the end of the 4104-byte file or over qkv's limit of 1073741824")
    }
}
