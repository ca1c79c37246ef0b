import QKVInference

/// Attention reports as plain text for a terminal: a table of every head, and one head's matrix.
///
/// Output is deterministic (no locale, fixed widths) so tests and scripts can compare it. Colour is the
/// caller's decision: pass `colour: true` only on a TTY and when NO_COLOR is unset.
public enum AttentionTerminal {
    /// How the table of heads is ordered.
    public enum Order: String, CaseIterable, Sendable {
        /// Layer by layer, head by head.
        case layer
        /// Largest update relative to its layer's mean first: the heads that change the tokens most.
        case update
        /// Highest role score first: the clearest positional heads.
        case score
        /// Lowest normalised entropy first: the sharpest heads.
        case entropy
        /// Longest mean attention distance first.
        case distance
        /// Largest |effect| when removed first (`--ablate`): the heads the text depends on most.
        case effect
    }

    /// The one-letter codes of the role grid, in `HeadRole` order.
    static let roleCodes: [HeadRole: Character] = [
        .previousToken: "P", .currentToken: "S", .nextToken: "N", .firstToken: "F", .lastToken: "L",
        .fixedOffset: "O", .broad: "B", .mixed: "M",
    ]

    // MARK: All heads

    /// A summary line, the layers x heads grid of role codes with its legend, and the table of heads.
    ///
    /// - Parameters:
    ///   - report: what the model's heads did, from `AttentionAnalyzer`.
    ///   - order: the table's order.
    ///   - limit: at most this many table rows (nil: all), for "the top ten heads by update".
    public static func heads(_ report: AttentionReport, order: Order = .layer, limit: Int? = nil) -> String {
        summaryLine(report) + "\n\n" + roleGrid(report) + "\n" + table(report, order: order, limit: limit)
    }

    /// `model: family, L layers x H heads, T tokens (causal|bidirectional)`.
    static func summaryLine(_ report: AttentionReport) -> String {
        let r = report.record
        let mask = r.isCausal ? "causal" : "bidirectional"
        var line = "\(report.modelPath): \(report.config.family.rawValue), \(r.layerCount) layers x \(r.headCount) heads, "
            + "\(r.tokenCount) tokens (\(mask))"
        if let a = report.ablation {
            line += "\nablation (\(a.mode.rawValue)): effect = " + (a.cleanMeanLogProbability.map {
                "change of the mean log-prob of the text's tokens, \(TextFormat.fixed($0, 4)) nats with every head"
            } ?? "1 - cosine of the sentence embedding with and without the head")
        }
        return line
    }

    /// Rows of layers, columns of heads, each cell the head's role code; then the legend.
    public static func roleGrid(_ report: AttentionReport) -> String {
        let r = report.record
        let cell = max(3, String(r.headCount - 1).count + 2)
        let layerWidth = max(5, String(r.layerCount - 1).count + 1)
        var lines = [TextFormat.left("role", layerWidth) + (0..<r.headCount).map { TextFormat.right("h\($0)", cell) }.joined()]
        for layer in 0..<r.layerCount {
            let codes = (0..<r.headCount).map { head -> String in
                let code = report.profile(layer: layer, head: head).map { roleCodes[$0.role].map(String.init) ?? "?" } ?? "-"
                return TextFormat.right(code, cell)
            }
            lines.append(TextFormat.left("L\(layer)", layerWidth) + codes.joined())
        }
        lines.append(HeadRole.allCases.map { "\(roleCodes[$0]!) \($0.rawValue)" }.joined(separator: " · "))
        return lines.joined(separator: "\n") + "\n"
    }

    /// One row per head: layer, head, role, role score, normalised entropy, mean distance, update
    /// relative to the layer's mean.
    /// With an ablation, a column `effect` (decoders: the change in nats, with the token that moved most;
    /// encoders: 1 − cos).
    public static func table(_ report: AttentionReport, order: Order = .layer, limit: Int? = nil) -> String {
        var rows = report.profiles
        rows.sort(by: comparator(order, report.ablation))
        if let limit { rows = Array(rows.prefix(max(0, limit))) }
        let ablation = report.ablation
        let decoder = ablation?.metric == .meanLogProbability
        var header = "layer  head  role                score  entropy  distance  update"
        if ablation != nil { header += decoder ? "      effect  most changed" : "      effect" }
        let lines = rows.map { p in
            var line = TextFormat.right(String(p.layer), 5) + TextFormat.right(String(p.head), 6) + "  "
                + TextFormat.left(roleText(p), 18) + TextFormat.right(TextFormat.fixed(p.roleScore, 2), 6)
                + TextFormat.right(TextFormat.fixed(p.normalizedEntropy, 2), 9)
                + TextFormat.right(TextFormat.fixed(p.meanDistance, 2), 10)
                + TextFormat.right(TextFormat.fixed(p.relativeUpdate, 2), 8)
            if let ablation {
                let effect = ablation.effect(layer: p.layer, head: p.head)
                line += "  " + TextFormat.right(TextFormat.fixed(effect, decoder ? 4 : 6), 10)
                if let most = ablation.mostChanged(layer: p.layer, head: p.head) {
                    line += "  " + TokenLabel.visible(report.tokens[most.position]) + "@\(most.position) " + TextFormat.fixed(most.delta, 3)
                }
            }
            return trimmedRight(line)
        }
        return ([header] + lines).joined(separator: "\n") + "\n"
    }

    /// The role as shown: a fixed-offset head says its offset (`offset -2`).
    static func roleText(_ p: HeadProfile) -> String {
        p.role == .fixedOffset ? "offset " + (p.bestOffset > 0 ? "+" : "") + String(p.bestOffset) : p.role.rawValue
    }

    /// The ordering of `order`, ties broken by layer then head so the output never depends on the sort.
    static func comparator(_ order: Order, _ ablation: AblationReport? = nil) -> (HeadProfile, HeadProfile) -> Bool {
        func key(_ p: HeadProfile) -> Double {
            switch order {
            case .layer: return 0
            case .update: return Double(-p.relativeUpdate)
            case .score: return Double(-p.roleScore)
            case .entropy: return Double(p.normalizedEntropy)
            case .distance: return Double(-p.meanDistance)
            case .effect: return -abs(ablation?.effect(layer: p.layer, head: p.head) ?? 0)
            }
        }
        return { a, b in
            let ka = key(a), kb = key(b)
            if ka != kb { return ka < kb }
            return (a.layer, a.head) < (b.layer, b.head)
        }
    }

    // MARK: One head

    /// One head: a title with its profile, then the matrix (rows query tokens, columns key tokens), each
    /// row ending in a bar of the head's update norm to that token (scaled to the head's largest).
    ///
    /// - Parameters:
    ///   - report: what the model's heads did, from `AttentionAnalyzer`.
    ///   - layer: the head's layer, from 0.
    ///   - head: the head within the layer, from 0.
    ///   - colour: shade cells with 256-colour ANSI backgrounds (grey ramp, black 0 to white 1) instead of
    ///     the blocks " ░▒▓█".
    ///   - width: the columns to fit; token labels are cut to fit, and cells narrow from two columns to
    ///     one when two do not fit. Very long texts still overflow: every key keeps its column.
    public static func head(_ report: AttentionReport, layer: Int, head: Int, colour: Bool = false, width: Int = 100) -> String {
        let r = report.record
        let T = r.tokenCount
        let indexWidth = String(max(T - 1, 0)).count
        let barWidth = 10
        let labels = report.tokens.map(TokenLabel.visible)
        let longest = labels.map(TokenLabel.displayWidth).max() ?? 1
        // index, label, cells, bar with its value: " 12 label  cells  bar value"
        let fixedColumns = indexWidth + 2 + 2 + barWidth + 1 + 7
        let cellWidth = fixedColumns + 6 + 2 * T <= width ? 2 : 1
        let labelWidth = min(max(longest, 1), max(4, min(16, width - fixedColumns - cellWidth * T)))
        let matrix = Array(r.matrix(layer: layer, head: head))
        let updates = Array(r.updates(layer: layer, head: head))
        let largest = updates.max() ?? 0

        var lines = title(report, layer: layer, head: head)
        let margin = String(repeating: " ", count: indexWidth + 1 + labelWidth + 1)
        lines += ruler(tokenCount: T, cellWidth: cellWidth).map { margin + $0 }
        lines[lines.count - 1] += "  update"
        for i in 0..<T {
            let label = TextFormat.left(TokenLabel.shortened(labels[i], to: labelWidth), labelWidth)
            let cells = (0..<T).map { shade(matrix[i * T + $0], width: cellWidth, colour: colour) }.joined()
            let reset = colour ? "\u{1B}[0m" : ""
            lines.append(TextFormat.right(String(i), indexWidth) + " " + label + " " + cells + reset + "  "
                         + bar(updates[i], of: largest, width: barWidth) + " " + TextFormat.fixed(updates[i], 2))
        }
        if let writes = report.writes { lines += writeLines(report, writes, layer: layer, head: head, labelWidth: labelWidth) }
        return lines.map(trimmedRight).joined(separator: "\n") + "\n"
    }

    /// What the head's update writes at each position (`--writes`): the top tokens toward (+) and away (−)
    /// with their logit contributions.
    static func writeLines(_ report: AttentionReport, _ writes: HeadWrites, layer: Int, head: Int, labelWidth: Int) -> [String] {
        let labels = report.tokens.map(TokenLabel.visible)
        let indexWidth = String(max(report.record.tokenCount - 1, 0)).count
        func entries(_ list: [(id: Int, logit: Float)]) -> String {
            list.map { TokenLabel.shortened(TokenLabel.visible(report.writeLabels[$0.id] ?? String($0.id)), to: 12) + " "
                + TextFormat.fixed($0.logit, 2) }.joined(separator: "  ")
        }
        var lines = ["", "writes (logit lens on the head's update, top \(writes.k) each way):"]
        for t in 0..<writes.tokenCount {
            let label = TextFormat.left(TokenLabel.shortened(labels[t], to: labelWidth), labelWidth)
            lines.append(TextFormat.right(String(t), indexWidth) + " " + label + "  + " + entries(writes.top(layer: layer, head: head, token: t, away: false)))
            lines.append(String(repeating: " ", count: indexWidth + 1 + labelWidth) + "  - " + entries(writes.top(layer: layer, head: head, token: t, away: true)))
        }
        return lines
    }

    /// The key indices above the columns: one line of units, and above it a line of tens once there
    /// are more than 10 tokens (a ruler, so `10` never runs into `11`).
    static func ruler(tokenCount T: Int, cellWidth: Int) -> [String] {
        func line(_ digit: (Int) -> String) -> String { (0..<T).map { TextFormat.right(digit($0), cellWidth) }.joined() }
        let units = line { String($0 % 10) }
        guard T > 10 else { return [units] }
        return [line { $0 >= 10 ? String($0 / 10 % 10) : "" }, units]
    }

    /// `layer L head H: role (score)` and a line of entropy, distance and update.
    static func title(_ report: AttentionReport, layer: Int, head: Int) -> [String] {
        guard let p = report.profile(layer: layer, head: head) else { return ["layer \(layer) head \(head)"] }
        return [
            "layer \(layer) head \(head): \(roleText(p)) (\(TextFormat.fixed(p.roleScore, 2)))",
            "entropy \(TextFormat.fixed(p.entropy, 2)) nats (\(TextFormat.fixed(p.normalizedEntropy, 2)) of uniform)"
                + " · mean distance \(TextFormat.fixed(p.meanDistance, 2))"
                + " · update \(TextFormat.fixed(p.meanUpdateNorm, 2)) (\(TextFormat.fixed(p.relativeUpdate, 2))x layer mean)"
                + (report.ablation.map { a in
                    " · ablated (\(a.mode.rawValue)): " + (a.metric == .meanLogProbability
                        ? TextFormat.fixed(a.effect(layer: layer, head: head), 4) + " nats mean log-prob"
                        : TextFormat.fixed(a.effect(layer: layer, head: head), 6) + " (1 - cos)")
                } ?? ""),
        ]
    }

    /// The shade blocks, from p = 0 to 1.
    static let shades: [Character] = [" ", "░", "▒", "▓", "█"]

    /// One cell of `width` columns: a block of the nearest of 5 levels, or a grey-ramp background.
    static func shade(_ p: Float, width: Int, colour: Bool) -> String {
        let x = p.isNaN ? 0 : min(max(p, 0), 1)
        if colour {
            let grey = 232 + Int((x * 23).rounded())
            return "\u{1B}[48;5;\(grey)m" + String(repeating: " ", count: width)
        }
        return String(repeating: shades[Int((x * 4).rounded())], count: width)
    }

    /// The eighth blocks a bar ends in.
    static let eighths = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]

    /// A bar of `value / largest` of `width` columns, in eighths, padded to `width`.
    static func bar(_ value: Float, of largest: Float, width: Int) -> String {
        let fraction = largest > 0 && value.isFinite ? Double(min(max(value / largest, 0), 1)) : 0
        let total = Int((fraction * Double(width * 8)).rounded())
        let text = String(repeating: "█", count: total / 8) + eighths[total % 8]
        return TextFormat.left(text, width)
    }

    /// The line without trailing spaces (which terminals do not show and diffs do).
    static func trimmedRight(_ line: String) -> String {
        var line = line
        while line.hasSuffix(" ") { line.removeLast() }
        return line
    }
}
