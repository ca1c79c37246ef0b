// The libFuzzer harness for every reader (tools/fuzz.sh FORMAT SECONDS). The reader is picked by the
// environment variable QKV_FUZZ_FORMAT (qkv, safetensors, gguf, pytorch or hdf5), so one sanitized build
// serves all five. Built with -DFUZZING and -sanitize=fuzzer,address, libFuzzer's driver calls
// LLVMFuzzerTestOneInput; in an ordinary build the target is a reproducer:
// `QKV_FUZZ_FORMAT=hdf5 .build/debug/Fuzz FILE...` runs each file through the same entry point.
import Foundation
@_spi(Fuzzing) import QKVFormat

/// The reader under test, from QKV_FUZZ_FORMAT; exits with a usage message when it is unset or unknown.
let runOne: @Sendable (UnsafeRawBufferPointer) -> Bool = {
    let format = ProcessInfo.processInfo.environment["QKV_FUZZ_FORMAT"] ?? ""
    switch format {
    case "qkv": return FuzzEntryPoints.qkv
    case "safetensors": return FuzzEntryPoints.safetensors
    case "gguf": return FuzzEntryPoints.gguf
    case "pytorch": return FuzzEntryPoints.pytorch
    case "hdf5":
        // libhdf5 reads by path: one scratch file per process (libFuzzer's -fork runs several).
        let scratch = "/tmp/qkv-fuzz-hdf5-\(getpid()).h5"
        return { FuzzEntryPoints.hdf5($0, scratchPath: scratch) }
    default:
        FileHandle.standardError.write(Data("Fuzz: set QKV_FUZZ_FORMAT to qkv, safetensors, gguf, pytorch or hdf5 (found '\(format)')\n".utf8))
        exit(2)
    }
}()

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    _ = runOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// SwiftPM links an executable's entry point as `<Target>_main` (it renames `main` so tests can link the
// module); libFuzzer's own `main` is never used. This one hands the arguments to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ body: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

@_cdecl("Fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    _ = runOne  // fail on a missing QKV_FUZZ_FORMAT before libFuzzer starts, not on its first input
    var argc = argc
    var argv = argv
    return runDriver(&argc, &argv) { data, size in fuzz(data, size) }
}
#else
@main
struct Reproduce {
    static func main() throws {
        _ = runOne
        for path in CommandLine.arguments.dropFirst() {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let accepted = data.withUnsafeBytes { runOne($0) }
            print("\(path): \(accepted ? "accepted" : "rejected")")
        }
    }
}
#endif
