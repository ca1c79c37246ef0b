import Foundation
import QKVFormat
import QKVInference

/// An attention report as one JSON document, for scripts and notebooks.
///
/// Layout: `model`, `config` (family, layers, heads, kv_heads, head_dim, model_dim, causal), `tokens`,
/// `ids`, and `heads`: one object per (layer, head), layer by layer, with the profile fields
/// (snake_case), `kv_head`, `weights` (Frobenius norms of W_Q, W_K, W_V, W_O, or null), `updates`
/// [tokens] and `probabilities` [query][key]. Masked entries are 0.
public enum AttentionJSON {
    /// The report as JSON text (UTF-8 when written out); floats as their shortest round-tripping decimals.
    public static func encode(_ report: AttentionReport) -> String {
        document(report, digits: nil)
    }

    /// The document with every float rounded to `digits` decimals (nil: exact). The HTML page embeds it
    /// rounded to keep big reports small; four decimals are below what a colour can show.
    static func document(_ report: AttentionReport, digits: Int?) -> String {
        JSONText.object([
            ("model", JSONText.string(report.modelPath)),
            ("config", config(report)),
            ("tokens", JSONText.array(report.tokens.map(JSONText.string))),
            ("ids", JSONText.array(report.tokenIDs.map(String.init))),
            ("heads", JSONText.array(report.headIndices.map { head(report, layer: $0.layer, head: $0.head, digits: digits) })),
        ])
    }

    static func config(_ report: AttentionReport) -> String {
        let c = report.config
        return JSONText.object([
            ("family", JSONText.string(c.family.rawValue)),
            ("layers", String(report.record.layerCount)), ("heads", String(report.record.headCount)),
            ("kv_heads", String(c.keyValueHeadCount)), ("head_dim", String(c.headDim)),
            ("model_dim", String(c.modelDim)), ("position_encoding", JSONText.string(c.positionEncoding.rawValue)),
            ("causal", report.record.isCausal ? "true" : "false"),
        ])
    }

    static func head(_ report: AttentionReport, layer: Int, head: Int, digits: Int?) -> String {
        let T = report.record.tokenCount
        let matrix = Array(report.record.matrix(layer: layer, head: head))
        let rows = (0..<T).map { JSONText.numbers(matrix[$0 * T..<($0 + 1) * T], digits: digits) }
        var members: [(String, String)] = [("layer", String(layer)), ("head", String(head))]
        members += profileMembers(report.profile(layer: layer, head: head), digits: digits)
        members.append(("kv_head", String(report.config.keyValueHeadCount > 0 && report.config.headCount >= report.config.keyValueHeadCount
                                          ? report.config.keyValueHead(forQueryHead: head) : head)))
        members.append(("weights", weightMembers(report.weightNorms(layer: layer, head: head))))
        members.append(("updates", JSONText.numbers(report.record.updates(layer: layer, head: head), digits: digits)))
        members.append(("probabilities", JSONText.array(rows)))
        return JSONText.object(members)
    }

    /// The profile's fields; `role` null when the report has no profile for the head.
    static func profileMembers(_ p: HeadProfile?, digits: Int?) -> [(String, String)] {
        guard let p else { return [("role", "null")] }
        func n(_ v: Float) -> String { JSONText.number(v, digits: digits) }
        return [
            ("role", JSONText.string(p.role.rawValue)), ("role_score", n(p.roleScore)),
            ("previous_token", n(p.previousToken)), ("current_token", n(p.currentToken)), ("next_token", n(p.nextToken)),
            ("first_token", n(p.firstToken)), ("last_token", n(p.lastToken)),
            ("best_offset", String(p.bestOffset)), ("best_offset_score", n(p.bestOffsetScore)),
            ("entropy", n(p.entropy)), ("normalized_entropy", n(p.normalizedEntropy)), ("mean_distance", n(p.meanDistance)),
            ("mean_update_norm", n(p.meanUpdateNorm)), ("relative_update", n(p.relativeUpdate)),
        ]
    }

    static func weightMembers(_ w: ModelSummary.Head?) -> String {
        guard let w else { return "null" }
        return JSONText.object([
            ("query", JSONText.number(w.query)), ("key", JSONText.number(w.key)),
            ("value", JSONText.number(w.value)), ("output", JSONText.number(w.output)),
        ])
    }
}

/// Attention reports as NumPy `.npy` arrays (format 1.0), for `np.load`.
public enum AttentionNPY {
    /// Every head's probabilities: float32 [layers, heads, tokens, tokens], C order, little-endian.
    public static func probabilities(_ report: AttentionReport) -> Data {
        let r = report.record
        return array(r.probabilities, shape: [r.layerCount, r.headCount, r.tokenCount, r.tokenCount])
    }

    /// Every head's update norms: float32 [layers, heads, tokens].
    public static func updateNorms(_ report: AttentionReport) -> Data {
        let r = report.record
        return array(r.updateNorms, shape: [r.layerCount, r.headCount, r.tokenCount])
    }

    /// An `.npy` file of float32 `values` with `shape`: magic, version 1.0, the header dict padded with
    /// spaces and a newline so the data starts at a multiple of 64 bytes (what numpy itself writes).
    static func array(_ values: [Float], shape: [Int]) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(Data(header.utf8))
        data.reserveCapacity(data.count + values.count * 4)
        for v in values {
            let bits = v.bitPattern.littleEndian
            data.append(contentsOf: [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)])
        }
        return data
    }
}
