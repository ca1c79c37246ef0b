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

    /// Writes `file` (a whole GGUF) as shards beside `prefix`; returns their paths. `inputs` are files
    /// the shards must not replace.
    public static func write(_ file: GGUFFile, prefix: String, limit: Limit, inputs: [String]) throws -> [String] {
        let infos = file.tensorInfos
        guard let groups = groups(infos.map(\.byteCount), limit: limit) else {
            throw ConversionError.unsupportedTarget(output: prefix, reason: "tensor '\(infos.first?.name ?? "")' is larger than the split size on its own; give a larger --split-max-size")
        }
        var written: [String] = []
        do {
            for (shard, members) in groups.enumerated() {
                let path = GGUFFile.splitPath(prefix, shard: shard, of: groups.count)
                var metadata = shard == 0 ? file.metadata : []
                // gguf-split sets split.count last (ggml moves a key it sets again to the end).
                metadata += [("split.no", .uint16(UInt16(shard))), ("split.tensors.count", .int32(Int32(infos.count))),
                             ("split.count", .uint16(UInt16(groups.count)))]
                let tensors = members.map { GGUFWriter.Tensor(name: infos[$0].name, type: infos[$0].type, dims: infos[$0].dims) }
                let writer = try GGUFWriter(target: path, inputs: inputs, version: file.version, metadata: metadata, tensors: tensors)
                do {
                    for i in members {
                        try file.withUnsafeTensorBytes(infos[i].name) { try writer.append(name: infos[i].name, bytes: $0) }
                        file.doneReading(infos[i].name)
                    }
                    try writer.finish()
                } catch {
                    writer.abandon()
                    throw error
                }
                written.append(path)
            }
        } catch {
            for path in written { unlink(path) }
            throw error
        }
        return written
    }
}

#if canImport(Glibc)
import Glibc
#endif
