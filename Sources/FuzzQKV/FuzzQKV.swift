// libFuzzer harness for the QKV reader (tools/fuzz.sh qkv SECONDS). Built with -DFUZZING and
// -sanitize=fuzzer,address, libFuzzer's main drives LLVMFuzzerTestOneInput; in an ordinary build the
// target is a reproducer: `FuzzQKV FILE...` runs each file through the same entry point.
import Foundation
@_spi(Fuzzing) import QKVFormat

func runOne(_ bytes: UnsafeRawBufferPointer) -> Bool { FuzzEntryPoints.qkv(bytes) }

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

@_cdecl("FuzzQKV_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return runDriver(&argc, &argv) { data, size in fuzz(data, size) }
}
#else
@main
struct Reproduce {
    static func main() throws {
        for path in CommandLine.arguments.dropFirst() {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            let accepted = data.withUnsafeBytes { runOne($0) }
            print("\(path): \(accepted ? "accepted" : "rejected")")
        }
    }
}
#endif
