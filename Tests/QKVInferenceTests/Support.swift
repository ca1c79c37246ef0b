import Foundation

/// Where the fixtures and the fetched models are, and how the committed references are read.
enum TestFiles {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A model path as the reference files write it: repo-relative, or `QKV_MODELS:` + a path in the
    /// fetched-models cache (`$QKV_MODELS`, default ~/.cache/qkv-models).
    static func modelPath(_ spec: String) -> String {
        if spec.hasPrefix("QKV_MODELS:") {
            let cache = ProcessInfo.processInfo.environment["QKV_MODELS"] ?? (NSHomeDirectory() + "/.cache/qkv-models")
            return cache + "/" + spec.dropFirst("QKV_MODELS:".count)
        }
        return root.appendingPathComponent(spec).path
    }

    /// The float32 values of a little-endian .npy (v1 header: its length at bytes 8 and 9).
    static func loadNPY(_ url: URL) throws -> [Float] {
        let npy = try Data(contentsOf: url)
        let headerLength = Int(npy[8]) | Int(npy[9]) << 8
        return npy.dropFirst(10 + headerLength).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }
}
