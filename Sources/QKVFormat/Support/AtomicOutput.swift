import CQKVFiles
#if canImport(Glibc)
import Glibc
#endif

/// A new file that appears under its name only when complete: written to a temporary file beside the
/// target, `fsync`ed, then renamed over it. Until `commit()`, the target (if any) is untouched; a failed
/// or abandoned output removes its temporary file.
///
/// A process killed outright (SIGKILL, power loss) cannot remove its temporary file. The name carries the
/// writer's process id, `.<target>.tmp-<pid>-XXXXXX`, so the next output to the same target removes
/// those whose process is gone (Specs/qkv-format.md, "Crash safety"); the target itself is never partial.
///
/// A target that exists and is neither a regular file nor a folder (`/dev/null`, a pipe, a terminal) is
/// written into directly, as `cp` would: renaming a file over it would replace the device itself.
final class AtomicOutput {
    let target: String
    let temporaryPath: String
    private var fd: Int32
    /// The target is a device or a pipe, written into directly (no temporary file, rename or fsync).
    private let direct: Bool

    private var committed = false
    /// Bytes appended so far, and where the last early writeback began (`startWriteback`).
    private var appended = 0, writebackStart = 0
    /// Appended bytes handed to the disk at once, without waiting: the device writes while we go on
    /// copying, and `commit`'s fsync waits only for the last piece (dd-style write-then-fsync leaves it
    /// all to the end).
    static let writebackBytes = 8 << 20

    /// Creates the temporary file in the target's directory (a rename only stays atomic on one file
    /// system). Refuses when `target` is the same file as any of `inputs`.
    init(target: String, inputs: [String]) throws(IOError) {
        var targetStatus = stat()
        if stat(target, &targetStatus) == 0 {
            for input in inputs {
                var inputStatus = stat()
                if stat(input, &inputStatus) == 0, inputStatus.st_dev == targetStatus.st_dev, inputStatus.st_ino == targetStatus.st_ino {
                    throw .sameFile(input: input, output: target)
                }
            }
            let type = targetStatus.st_mode & S_IFMT
            if type != S_IFREG && type != S_IFDIR {
                let fd = open(target, O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else { throw .cannotCreate(file: target, errno: errno) }
                (self.fd, self.target, temporaryPath, direct) = (fd, target, target, true)
                return
            }
        }
        direct = false
        let (directory, base) = AtomicOutput.split(target)
        // A file-size limit (RLIMIT_FSIZE) should fail the write with EFBIG, which we report and clean up
        // after, rather than kill the process with SIGXFSZ and leave the temporary file behind.
        _ = AtomicOutput.ignoreFileSizeSignal
        AtomicOutput.removeStaleTemporaries(directory: directory, base: base)
        var template = Array("\(directory)/.\(base).tmp-\(getpid())-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw .cannotCreate(file: target, errno: errno) }
        self.fd = fd
        self.target = target
        self.temporaryPath = String(nulTerminated: template)
    }

    deinit {
        if !committed { abandon() }
    }

    /// Appends all of `bytes`.
    func write(_ bytes: UnsafeRawBufferPointer) throws(IOError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw .writeFailed(file: target, errno: errno)
            }
            done += n
        }
        appended += bytes.count
        if appended - writebackStart >= AtomicOutput.writebackBytes { startWriteback() }
    }

    /// Starts writing the bytes appended since the last call to the disk, without waiting for it
    /// (`sync_file_range` with `SYNC_FILE_RANGE_WRITE`: a hint; durability is still `commit`'s fsync).
    private func startWriteback() {
        guard !direct else { return }
        _ = qkv_start_writeback(fd, Int64(writebackStart), Int64(appended - writebackStart))
        writebackStart = appended
    }

    /// Overwrites bytes already written, at `offset`.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(IOError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .writeFailed(file: target, errno: errno)
            }
            done += n
        }
    }

    /// Closes our descriptor so another writer (libhdf5) can fill the temporary file by its path.
    func handOver() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    /// Makes the file durable and moves it into place.
    func commit() throws(IOError) {
        if direct {
            if fd >= 0 { close(fd); fd = -1 }
            committed = true
            return
        }
        if fd < 0 {
            fd = open(temporaryPath, O_RDWR | O_CLOEXEC)
            guard fd >= 0 else { throw .writeFailed(file: target, errno: errno) }
        }
        guard fchmod(fd, 0o644 & ~AtomicOutput.umask) == 0, fsync(fd) == 0 else { throw .writeFailed(file: target, errno: errno) }
        close(fd)
        fd = -1
        guard rename(temporaryPath, target) == 0 else { throw .writeFailed(file: target, errno: errno) }
        committed = true
        // The rename itself is durable only once the directory is synced.
        let dir = open(AtomicOutput.split(target).directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 { _ = fsync(dir); close(dir) }
    }

    /// Removes the temporary file; the target stays as it was (a device or pipe keeps what was written).
    func abandon() {
        if fd >= 0 { close(fd); fd = -1 }
        if !direct { unlink(temporaryPath) }
    }

    private static let ignoreFileSizeSignal: Void = { signal(SIGXFSZ, SIG_IGN) }()

    /// Removes `.<base>.tmp-<pid>-XXXXXX` files in `directory` left by processes that no longer exist
    /// (killed while writing `base`). Temporaries of live processes, ours included, are left alone.
    static func removeStaleTemporaries(directory: String, base: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        let prefix = ".\(base).tmp-"
        var stale: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            guard name.hasBytePrefix(prefix) else { continue }
            let rest = name.droppingBytePrefix(prefix)
            // <pid>-XXXXXX: six characters from mkstemp after the dash.
            guard let dash = rest.firstIndex(of: "-"), rest.distance(from: dash, to: rest.endIndex) == 7,
                  let pid = Int32(rest[..<dash]), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { stale.append(name) }
        }
        for name in stale { unlink("\(directory)/\(name)") }
    }

    /// mkstemp creates files 0600; a finished output gets the usual 0644 less the umask.
    private static let umask: mode_t = {
        let old = Glibc.umask(0)
        _ = Glibc.umask(old)
        return old
    }()

    static func split(_ path: String) -> (directory: String, base: String) { splitPath(path) }
}

/// Writes `bytes` to `path` as qkv writes every output: whole or not at all (a temporary file renamed
/// over it), or straight into an existing device or pipe (`-o /dev/null`), which a rename would replace.
/// - Throws: `IOError` naming `path` when it cannot be created or written.
public func writeOutputFile(_ bytes: some Collection<UInt8>, to path: String) throws(IOError) {
    let output = try AtomicOutput(target: path, inputs: [])
    let all = Array(bytes)
    let failure: IOError? = all.withUnsafeBytes { raw in
        do throws(IOError) { try output.write(raw); return nil } catch { return error }
    }
    if let failure { throw failure }
    try output.commit()
}
