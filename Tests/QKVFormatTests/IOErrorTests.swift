import XCTest
@testable import QKVFormat

/// Files that cannot be reached or recognised, and outputs that must not appear half-written.
final class IOErrorTests: XCTestCase {
    func testMissingFile() {
        assertThrows(IOError.cannotOpen(file: "/nonexistent/x.qkv", errno: ENOENT)) { _ = try openWeightFile(path: "/nonexistent/x.qkv") }
    }

    func testDevice_isNotARegularFile() {
        assertThrows(IOError.notARegularFile(file: "/dev/null")) { _ = try openWeightFile(path: "/dev/null") }
    }

    func testEmptyFolder_isNotACheckpoint() throws {
        let dir = try scratchDirectory()
        assertThrows(ImportError.notACheckpoint(path: dir, reason: "no model.safetensors or model.safetensors.index.json")) { _ = try openWeightFile(path: dir) }
    }

    func testUnrecognisedFormat() throws {
        let path = "\(try scratchDirectory())/x.bin"
        try writeBytes(Array("hello world".utf8), to: path)
        assertThrows(IOError.unrecognizedFormat(file: path, firstBytes: Array("hello wo".utf8))) { _ = try openWeightFile(path: path) }
    }

    func testTruncatedQKVMagic_isATooSmallQKVFile() throws {
        let path = "\(try scratchDirectory())/x.qkv"
        try writeBytes([0x89, 0x51, 0x4B], to: path)
        assertThrows(QKVFileError.tooSmall(file: path, size: 3)) { _ = try openWeightFile(path: path) }
    }

    func testConvertOntoItsOwnInput_isRefusedAndTheInputKept() throws {
        let dir = try scratchDirectory()
        let path = "\(dir)/l.qkv"
        try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: path, format: .qkv)
        let before = try readBytes(path)
        assertThrows(IOError.sameFile(input: path, output: path)) { try Converter.convert(input: path, output: path, format: .qkv) }
        // Through another name for the same file, too.
        try FileManager.default.createSymbolicLink(atPath: "\(dir)/alias.qkv", withDestinationPath: path)
        assertThrows(IOError.sameFile(input: path, output: "\(dir)/alias.qkv")) { try Converter.convert(input: path, output: "\(dir)/alias.qkv", format: .hdf5) }
        XCTAssertEqual(try readBytes(path), before)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["alias.qkv", "l.qkv"], "no temporary files left")
    }

    func testFailedConversion_leavesNoOutputAndKeepsThePreviousOne() throws {
        let dir = try scratchDirectory()
        let bad = "\(dir)/bad.qkv"
        try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: bad, format: .qkv)
        var bytes = try readBytes(bad)
        // Break the schema (not the container): a config value the schema rejects, header CRC refreshed.
        let key = Array("config.kv_head_count".utf8)
        let at = (0..<bytes.count - key.count).first { Array(bytes[$0..<$0 + key.count]) == key }! + key.count + 1
        QKVBytes.put(UInt64(3), at: at, in: &bytes)
        QKVBytes.refreshChecksum(&bytes)
        try writeBytes(bytes, to: bad)

        let target = "\(dir)/out.h5"
        XCTAssertThrowsError(try Converter.convert(input: bad, output: target, format: .hdf5))
        XCTAssertFalse(FileManager.default.fileExists(atPath: target))

        try writeBytes([1, 2, 3], to: target)
        XCTAssertThrowsError(try Converter.convert(input: bad, output: target, format: .qkv))
        XCTAssertEqual(try readBytes(target), [1, 2, 3], "a failed conversion keeps the previous target")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(), ["bad.qkv", "out.h5"])
    }

    func testOutputIntoMissingDirectory() {
        XCTAssertThrowsError(try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: "/nonexistent/dir/x.qkv", format: .qkv)) { error in
            guard case IOError.cannotCreate(let file, let code)? = error as? IOError else { return XCTFail("\(error)") }
            XCTAssertEqual(file, "/nonexistent/dir/x.qkv")
            XCTAssertEqual(code, ENOENT)
        }
    }

    func testWrittenFileHasUsualPermissions() throws {
        let path = "\(try scratchDirectory())/p.qkv"
        try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: path, format: .qkv)
        let mode = (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! NSNumber).intValue
        XCTAssertEqual(mode & 0o600, 0o600)
        XCTAssertNotEqual(mode, 0o600, "not mkstemp's private mode")
    }

    /// The mode of `path` without following a symlink: S_IFCHR, S_IFIFO, S_IFREG, ...
    func fileType(_ path: String) -> mode_t {
        var status = stat()
        return lstat(path, &status) == 0 ? status.st_mode & S_IFMT : 0
    }

    /// `-o /dev/null`: a device is written into, never replaced by a renamed file (which would turn
    /// /dev/null into a regular file for every later process).
    func testOutputToADevice_isWrittenIntoAndStaysADevice() throws {
        XCTAssertEqual(fileType("/dev/null"), S_IFCHR, "this machine's /dev/null is not a device")
        try Converter.convert(input: Paths.fixture("llama-tiny.h5"), output: "/dev/null", format: .qkv)
        try writeOutputFile(Array("[1, 2]".utf8), to: "/dev/null")
        XCTAssertEqual(fileType("/dev/null"), S_IFCHR)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: "/dev").filter { $0.hasPrefix(".null.tmp-") }, [],
                       "no temporary file beside it")
    }

    /// A pipe gets the bytes, in order, and stays a pipe.
    func testOutputToAPipe_deliversTheBytes() throws {
        let fifo = "\(try scratchDirectory())/pipe"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        let payload = (0..<100_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let received = Received()
        let done = DispatchSemaphore(value: 0)
        Thread {
            received.bytes = Array(FileHandle(forReadingAtPath: fifo)?.readDataToEndOfFile() ?? Data())
            done.signal()
        }.start()
        try writeOutputFile(payload, to: fifo)
        XCTAssertEqual(done.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(received.bytes, payload)
        XCTAssertEqual(fileType(fifo), S_IFIFO)
    }
}

/// What the pipe's reader thread read; the semaphore orders its write before the test's read.
private final class Received: @unchecked Sendable {
    var bytes: [UInt8] = []
}
