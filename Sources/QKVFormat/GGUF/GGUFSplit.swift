#if canImport(Glibc)
import Glibc
#endif

/// A GGUF written as shards the way llama.cpp's gguf-split writes them, so llama.cpp (and qkv) load the
/// shards as one model: `prefix-0000K-of-0000N.gguf`; the first shard holds every key followed by
/// `split.no` (u16), `split.tensors.count` (i32) and `split.count` (u16), the others those three alone;
/// tensors keep their order. A shard ends before the tensor that would take its data past the size limit
/// (sizes counted as each tensor's bytes padded to 32, data only, as gguf-split counts them), or every
/// N tensors with a tensor-count limit.
public enum GGUFSplit {
    public enum Limit: Sendable, Equatable {
        /// At most this many bytes of tensor data per shard (gguf-split's `--split-max-size`).
        case bytes(Int)
        /// At most this many tensors per shard (gguf-split's `--split-max-tensors`).
        case tensors(Int)

        /// gguf-split's size syntax: a whole number followed by M (10⁶ bytes) or G (10⁹ bytes).
        public init?(size text: String) {
            guard let unit = text.last, let n = Int(text.dropLast()), n > 0 else { return nil }
            switch unit {
            case "M": self = .bytes(n * 1_000_000)
            case "G": self = .bytes(n * 1_000_000_000)
            default: return nil
            }
        }
    }

    /// The shard each tensor goes to, as gguf-split groups them; nil when a shard would be empty (a
    /// tensor larger than the size limit is first in line), which gguf-split refuses too.
    static func groups(_ byteCounts: [Int], limit: Limit) -> [[Int]]? {
        var groups: [[Int]] = [], current: [Int] = [], size = 0
        for (i, bytes) in byteCounts.enumerated() {
            let padded = (bytes + GGUFLayout.defaultAlignment - 1) / GGUFLayout.defaultAlignment * GGUFLayout.defaultAlignment
            let split: Bool = switch limit {
            case .bytes(let max): size + padded > max
            case .tensors(let n): i > 0 && i % n == 0
            }
            if split {
                if current.isEmpty { return nil }
                groups.append(current)
                current = [i]
                size = padded
            } else {
                current.append(i)
                size += padded
            }
        }
        groups.append(current)
        return groups
    }

    /// The path of a split output `OUT` (`OUT.gguf` or `OUT`) without its extension: the shards' prefix.
    public static func prefix(of output: String) -> String {
        output.hasSuffix(".gguf") ? String(output.dropLast(".gguf".count)) : output
    }
}

/// Writes a GGUF as gguf-split's shards as its tensors come: each shard is written and moved into place
/// when its last tensor is in, then the next one starts, so the bytes are written once and memory holds
/// one shard's header. If anything fails, the shards already in place are removed.
final class GGUFShardWriter: GGUFTensorSink {
    private let prefix: String, inputs: [String]
    private let metadata: [(key: String, value: GGUFValue)]
    private let tensors: [GGUFWriter.Tensor]
    private let groups: [[Int]]
    private var shard = 0, appendedInShard = 0
    private var current: GGUFWriter?
    /// The shards in place so far.
    private(set) var paths: [String] = []

    /// Checks the grouping before anything is written: a tensor larger than the size limit is refused,
    /// naming it, as gguf-split refuses it.
    init(prefix: String, inputs: [String], metadata: [(key: String, value: GGUFValue)], tensors: [GGUFWriter.Tensor],
         limit: GGUFSplit.Limit) throws {
        guard let groups = GGUFSplit.groups(tensors.map { $0.byteCount ?? 0 }, limit: limit) else {
            throw ConversionError.unsupportedTarget(output: prefix, reason: "tensor '\(tensors.first?.name ?? "")' is larger than the split size on its own; give a larger --split-max-size")
        }
        (self.prefix, self.inputs, self.metadata, self.tensors, self.groups) = (prefix, inputs, metadata, tensors, groups)
        try openShard()
    }

    private func openShard() throws {
        // The first shard holds every key; each then gets gguf-split's three, split.count last (ggml moves
        // a key it sets again to the end).
        let keys = (shard == 0 ? metadata : []) + [("split.no", .uint16(UInt16(shard))), ("split.tensors.count", .int32(Int32(tensors.count))),
                                                   ("split.count", .uint16(UInt16(groups.count)))]
        current = try GGUFWriter(target: GGUFFile.splitPath(prefix, shard: shard, of: groups.count), inputs: inputs, metadata: keys,
                                 tensors: groups[shard].map { tensors[$0] })
        appendedInShard = 0
    }

    func append(name: String, byteCount: Int, pieces: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws {
        try current!.append(name: name, byteCount: byteCount, pieces: pieces)
        appendedInShard += 1
        guard appendedInShard == groups[shard].count else { return }
        try current!.finish()
        paths.append(current!.target)
        current = nil
        shard += 1
        if shard < groups.count { try openShard() }
    }

    func finish() throws {
        precondition(current == nil && shard == groups.count, "finish() before every shard's tensors")
    }

    func abandon() {
        current?.abandon()
        for path in paths { unlink(path) }
        paths = []
    }
}

/// Where GGUFExportWriter's tensors go: one file (GGUFWriter) or gguf-split's shards (GGUFShardWriter).
protocol GGUFTensorSink: AnyObject {
    /// The next tensor, as pieces `pieces` hands to its argument in order (`GGUFWriter`'s rules).
    func append(name: String, byteCount: Int, pieces: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws
    func finish() throws
    func abandon()
}

extension GGUFWriter: GGUFTensorSink {}

extension GGUFTensorSink {
    /// The next tensor, whole.
    func append(name: String, bytes: UnsafeRawBufferPointer) throws {
        try append(name: name, byteCount: bytes.count) { write in try write(bytes) }
    }
}
