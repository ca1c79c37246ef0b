import Foundation
import QKVFormat
import QKVInference

/// An attention report as one JSON document, for scripts and notebooks.
///
/// Layout: `model`, `config` (family, layers, heads, kv_heads, head_dim, model_dim, causal), `tokens`,
/// `ids`, and `heads`: one object per (layer, head), layer by layer, with the profile fields
/// (snake_case), `kv_head`, `weights` (Frobenius norms of W_Q, W_K, W_V, W_O, or null), `updates`
/// [tokens] and `probabilities` [query][key]. Masked entries are 0. With `--ablate`, a top-level
/// `ablation` (mode, metric, clean) and each head's `ablation` (effect, token_deltas, most_changed); with
/// `--writes`, a top-level `writes_k` and each head's `writes` [tokens] of {toward, away}
/// (Specs/attention.md, "JSON").
public enum AttentionJSON {
    /// The report as JSON text (UTF-8 when written out); floats as their shortest round-tripping decimals.
    public static func encode(_ report: AttentionReport) -> String {
        document(report, digits: nil)
    }

    /// The document with every float rounded to `digits` decimals (nil: exact). The HTML page embeds it
    /// rounded to keep big reports small; four decimals are below what a colour can show.
    static func document(_ report: AttentionReport, digits: Int?) -> String {
        var members = [
            ("model", htmlSafe(report.modelPath)),
            ("config", config(report)),
            ("tokens", JSONText.array(report.tokens.map(htmlSafe))),
            ("ids", JSONText.array(report.tokenIDs.map(String.init))),
        ]
        if let a = report.ablation {
            members.append(("ablation", JSONText.object([
                ("mode", htmlSafe(a.mode.rawValue)), ("metric", htmlSafe(a.metric.rawValue)),
                ("clean", a.cleanMeanLogProbability.map(JSONText.number) ?? "null"),
            ])))
        }
        if let w = report.writes { members.append(("writes_k", String(w.k))) }
        members.append(("heads", JSONText.array(report.headIndices.map { head(report, layer: $0.layer, head: $0.head, digits: digits) })))
        return JSONText.object(members)
    }

    /// One head's effect when removed; the effect itself always exact (an encoder's 1 − cos is often
    /// below 1e-4).
    static func ablationMembers(_ a: AblationReport, layer: Int, head: Int, tokenIDs: [Int], digits: Int?) -> String {
        var deltas = "null", most = "null"
        if let d = a.tokenDeltas(layer: layer, head: head) {
            deltas = JSONText.array(d.enumerated().map { $0.offset == 0 ? "null" : JSONText.number(Float($0.element), digits: digits) })
        }
        if let m = a.mostChanged(layer: layer, head: head) {
            most = JSONText.object([("position", String(m.position)), ("id", String(tokenIDs[m.position])), ("delta", JSONText.number(m.delta))])
        }
        return JSONText.object([("effect", JSONText.number(a.effect(layer: layer, head: head))), ("token_deltas", deltas), ("most_changed", most)])
    }

    /// One head's writes: per token, the top tokens toward and away with their logit contributions.
    static func writeMembers(_ report: AttentionReport, _ w: HeadWrites, layer: Int, head: Int, digits: Int?) -> String {
        func side(_ token: Int, away: Bool) -> String {
            JSONText.array(w.top(layer: layer, head: head, token: token, away: away).map { entry in
                JSONText.object([("id", String(entry.id)), ("token", htmlSafe(report.writeLabels[entry.id] ?? String(entry.id))),
                                 ("logit", JSONText.number(entry.logit, digits: digits))])
            })
        }
        return JSONText.array((0..<w.tokenCount).map { JSONText.object([("toward", side($0, away: false)), ("away", side($0, away: true))]) })
    }

    static func config(_ report: AttentionReport) -> String {
        let c = report.config
        return JSONText.object([
            ("family", htmlSafe(c.family.rawValue)),
            ("layers", String(report.record.layerCount)), ("heads", String(report.record.headCount)),
            ("kv_heads", String(c.keyValueHeadCount)), ("head_dim", String(c.headDim)),
            ("model_dim", String(c.modelDim)), ("position_encoding", htmlSafe(c.positionEncoding.rawValue)),
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
        if let a = report.ablation { members.append(("ablation", ablationMembers(a, layer: layer, head: head, tokenIDs: report.tokenIDs, digits: digits))) }
        if let w = report.writes { members.append(("writes", writeMembers(report, w, layer: layer, head: head, digits: digits))) }
        members.append(("probabilities", JSONText.array(rows)))
        return JSONText.object(members)
    }

    /// The profile's fields; `role` null when the report has no profile for the head.
    static func profileMembers(_ p: HeadProfile?, digits: Int?) -> [(String, String)] {
        guard let p else { return [("role", "null")] }
        func n(_ v: Float) -> String { JSONText.number(v, digits: digits) }
        return [
            ("role", htmlSafe(p.role.rawValue)), ("role_score", n(p.roleScore)),
            ("previous_token", n(p.previousToken)), ("current_token", n(p.currentToken)), ("next_token", n(p.nextToken)),
            ("first_token", n(p.firstToken)), ("last_token", n(p.lastToken)),
            ("best_offset", String(p.bestOffset)), ("best_offset_score", n(p.bestOffsetScore)),
            ("entropy", n(p.entropy)), ("normalized_entropy", n(p.normalizedEntropy)), ("mean_distance", n(p.meanDistance)),
            ("mean_update_norm", n(p.meanUpdateNorm)), ("relative_update", n(p.relativeUpdate)),
        ]
    }

    /// A JSON string that is also safe inside the HTML page's `<script>` element.
    static func htmlSafe(_ text: String) -> String { JSONText.string(text, escaping: .html) }

    static func weightMembers(_ w: ModelSummary.Head?) -> String {
        guard let w else { return "null" }
        return JSONText.object([
            ("query", JSONText.number(w.query)), ("key", JSONText.number(w.key)),
            ("value", JSONText.number(w.value)), ("output", JSONText.number(w.output)),
        ])
    }
}

extension JSONText {
    /// A float rounded to `digits` decimals (nil: its shortest round-tripping decimal); NaN and infinities
    /// as `null`.
    static func number(_ value: Float, digits: Int?) -> String {
        guard value.isFinite, let digits else { return number(value) }
        return TextFormat.compact(value, digits)
    }

    /// `[a,b,...]` of floats, each as `number(_:digits:)` writes it.
    static func numbers<C: Collection>(_ values: C, digits: Int?) -> String where C.Element == Float {
        "[" + values.map { number($0, digits: digits) }.joined(separator: ",") + "]"
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

    /// The files written beside `--npy F` (Specs/attention.md, "NPY"), by the suffix that replaces F's
    /// `.npy`: `ablation` float32 [layers, heads]; `token-deltas` float32 [layers, heads, tokens] (decoders);
    /// `writes` float32 and `write-ids` int32 [layers, heads, tokens, 2, K].
    public static func companions(_ report: AttentionReport) -> [(suffix: String, data: Data)] {
        var out: [(String, Data)] = []
        let r = report.record
        if let a = report.ablation {
            out.append(("ablation", array(a.effects.map(Float.init), shape: [r.layerCount, r.headCount])))
            if !a.tokenDeltas.isEmpty {
                out.append(("token-deltas", array(a.tokenDeltas.map(Float.init), shape: [r.layerCount, r.headCount, r.tokenCount])))
            }
        }
        if let w = report.writes {
            let shape = [r.layerCount, r.headCount, r.tokenCount, 2, w.k]
            out.append(("writes", array(w.logits, shape: shape)))
            out.append(("write-ids", array(w.ids.map { UInt32(bitPattern: $0) }, descr: "<i4", shape: shape)))
        }
        return out
    }

    /// `F.npy` -> `F.<suffix>.npy` (a path not ending in `.npy` gets `.<suffix>.npy` appended).
    public static func companionPath(_ path: String, _ suffix: String) -> String {
        (path.hasSuffix(".npy") ? String(path.dropLast(4)) : path) + "." + suffix + ".npy"
    }

    static func array(_ values: [Float], shape: [Int]) -> Data {
        array(values.map(\.bitPattern), descr: "<f4", shape: shape)
    }

    /// An `.npy` file of 4-byte values (their bit patterns) of type `descr` with `shape`: magic, version
    /// 1.0, the header dict padded with spaces and a newline so the data starts at a multiple of 64 bytes
    /// (what numpy itself writes).
    static func array(_ bitPatterns: [UInt32], descr: String, shape: [Int]) -> Data {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var data = Data([0x93]) + Data("NUMPY".utf8) + Data([1, 0])
        let length = UInt16(header.utf8.count)
        data.append(contentsOf: [UInt8(length & 0xFF), UInt8(length >> 8)])
        data.append(Data(header.utf8))
        data.reserveCapacity(data.count + bitPatterns.count * 4)
        for pattern in bitPatterns {
            let bits = pattern.littleEndian
            data.append(contentsOf: [UInt8(bits & 0xFF), UInt8(bits >> 8 & 0xFF), UInt8(bits >> 16 & 0xFF), UInt8(bits >> 24)])
        }
        return data
    }
}
