import ArgumentParser
import Foundation
import QKVFormat

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a model file's config, parameter counts, dtypes, tensors and heads."
    )

    @Argument(help: "The model: .qkv, HDF5, .safetensors, or a Hugging Face folder.")
    var file: String

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Flag(help: "List every tensor.")
    var tensors = false

    @Flag(help: "Per layer and head: Frobenius norms of the W_Q, W_K, W_V and W_O slabs.")
    var heads = false

    @Option(name: .customLong("values"), help: ArgumentHelp("Write this tensor's values, as float32, to the .npy file given by --npy (block types dequantized as ggml does); a canonical name, or the file's own name of one of its tensors (GGUF, safetensors).", valueName: "tensor"))
    var valuesOf: String?

    @Option(help: ArgumentHelp("The .npy file --values writes.", valueName: "file"))
    var npy: String?

    @OptionGroup var hub: RevisionOptions

    func validate() throws {
        if (valuesOf == nil) != (npy == nil) { throw ValidationError("--values and --npy go together") }
    }

    func run() throws {
        // `org/name` and hub cache folders name the snapshot on disk.
        let file = try HubCache.resolve(self.file, revision: hub.revision)
        if let valuesOf, let npy {
            let (weights, _) = try openForInspection(path: file)
            // A canonical name, or the file's own name for one of its tensors (GGUF, safetensors).
            var view: TensorView
            if weights.tensors.contains(where: { $0.name == valuesOf }) {
                view = try weights.tensor(valuesOf)
            } else {
                switch try ContainerFormat.detect(path: file) {
                case .gguf: view = try RawGGUF(path: file).tensor(valuesOf)
                case .safetensors: view = try RawSafetensors(path: file).tensor(valuesOf)
                default: view = try weights.tensor(valuesOf)
                }
            }
            guard view.dtype.isFloat || view.dtype.isBlockQuantized else {
                throw ValidationError("tensor '\(valuesOf)' of \(file) is \(view.dtype), not a float or block type")
            }
            try view.writeFloat32NPY(to: npy, inputs: [file])
            return
        }
        let (weights, mappingProblem) = try openForInspection(path: file)
        var summary = try ModelSummary(file: weights, fileBytes: fileSize(file), includeTensors: tensors || mappingProblem != nil,
                                       includeHeads: heads && mappingProblem == nil)
        if let mappingProblem { summary.schemaProblems = [mappingProblem.description] }
        if json {
            print(summary.json.prettyText)
        } else {
            print(InspectReport(summary).text, terminator: "")
        }
    }
}

/// The text form of `qkv inspect`.
struct InspectReport {
    let summary: ModelSummary
    init(_ summary: ModelSummary) { self.summary = summary }

    /// The config's steps beyond a plain decoder (Specs/schema.md, the second config table), in words.
    static func steps(_ c: ModelConfig) -> [String] {
        var out: [String] = []
        if c.qkvBias { out.append("Q/K/V biases") }
        if c.qkNorm { out.append("q/k RMSNorm per head") }
        if c.postNorms { out.append("norms after attention and MLP") }
        if c.normWeightOffset != 0 { out.append("norms scale by \(c.normWeightOffset) + w") }
        if c.embeddingScale != 1 { out.append("embeddings × \(c.embeddingScale)") }
        if let scale = c.attentionScale { out.append("attention scale \(scale)") }
        if c.attentionSoftcap != 0 { out.append("score soft cap \(c.attentionSoftcap)") }
        if c.finalSoftcap != 0 { out.append("logit soft cap \(c.finalSoftcap)") }
        if c.slidingWindow != 0 {
            var text = "sliding window \(c.slidingWindow)"
            if let layers = c.slidingLayers {
                let global = layers.indices.filter { !layers[$0] }.map(String.init)
                text += global.isEmpty ? " on every layer" : ", layers \(global.joined(separator: ", ")) global"
            }
            if let theta = c.rope?.slidingTheta { text += " (RoPE theta \(theta) on the sliding layers)" }
            out.append(text)
        }
        if let rope = c.rope {
            if let dims = rope.dimensions { out.append("RoPE on \(dims) dimensions per head") }
            if rope.longFrequencyFactors != nil, let original = rope.originalContext {
                out.append("RoPE frequencies scaled, long factors past \(original) positions (rope_freq_factors, rope_freq_factors_long)")
            } else if rope.frequencyFactors != nil {
                out.append("RoPE frequencies scaled (rope_freq_factors)")
            }
            if rope.attentionFactor != 1 { out.append("RoPE attention factor \(rope.attentionFactor)") }
        }
        if c.attentionOutputLayout == .rows { out.append("W_O stored as rows [D, H·d]") }
        return out
    }

    var text: String {
        var out = ""
        func line(_ label: String, _ value: String) { out += label.padding(toLength: 14, withPad: " ", startingAt: 0) + value + "\n" }
        line("file", "\(summary.file) (\(summary.format), \(formatBytes(summary.fileBytes)))")
        if let c = summary.config {
            let family = summary.architecture.map { "\($0) (\(c.family.rawValue) family)" } ?? c.family.rawValue
            line("model", "\(family): \(c.layerCount) layers, d_model \(c.modelDim), "
                 + "\(c.headCount) heads" + (c.keyValueHeadCount != c.headCount ? " (\(c.keyValueHeadCount) key/value heads, GQA)" : "")
                 + " of d_head \(c.headDim), d_ff \(c.ffnDim), vocab \(c.vocabSize), \(c.maxPositions) positions")
            let norm = "\(c.norm.rawValue) (eps \(c.normEpsilon), \(c.normPlacement.rawValue))"
            let mlp = (c.gatedMLP ? "gated " : "") + c.activation.rawValue + " MLP"
            var positions = c.positionEncoding.rawValue
            if let rope = c.rope { positions += " (theta \(rope.theta), \(rope.layout.rawValue))" }
            if c.positionOffset != 0 { positions += " (from row \(c.positionOffset))" }
            var head = c.family == .bert ? "" : (c.tiedEmbeddings ? ", tied LM head" : ", separate LM head")
            if let pooling = c.pooling { head += ", \(pooling.rawValue) pooling" }
            if !c.dense.isEmpty {
                head += ", Dense to [\(c.dense.map { String($0.outputs) }.joined(separator: ", "))]"
                    + " ([\(c.dense.map(\.activation.rawValue).joined(separator: ", "))])"
            }
            if c.pooling != nil || !c.dense.isEmpty, c.normalize { head += ", normalized" }
            if c.labelCount > 0 {
                head += ", classification head of \(c.labelCount) label\(c.labelCount == 1 ? "" : "s") (\(c.labelActivation?.rawValue ?? "?"))"
            }
            line("", "\(norm), \(mlp), \(positions) positions\(head)")
            let steps = Self.steps(c)
            if !steps.isEmpty { line("", steps.joined(separator: ", ")) }
        }
        if let tokenizer = summary.tokenizer {
            line("tokenizer", "\(tokenizer.kind), \(tokenizer.tokenCount.map(String.init) ?? "?") tokens"
                 + (tokenizer.promptNames.map { ", prompts [\($0.joined(separator: ", "))]" } ?? "")
                 + (tokenizer.defaultPromptName.map { " (default \"\($0)\")" } ?? ""))
        }
        line("parameters", formatCount(summary.parameters))
        let components = TensorRole.Component.allCases.compactMap { c in summary.parametersByComponent[c].map { (c.rawValue, $0) } }
            + (summary.strayParameters > 0 ? [("other", summary.strayParameters)] : [])
        for (component, n) in components {
            let share = summary.parameters == 0 ? 0 : Double(n) * 100 / Double(summary.parameters)
            line("  " + component, "\(formatCount(n)) (\(String(format: "%.1f", share))%)")
        }
        if !summary.attentionParametersByLayer.isEmpty {
            line("  per layer", "attention " + summary.attentionParametersByLayer.map(formatCount).joined(separator: ", "))
        }
        for (i, d) in summary.dtypes.enumerated() {
            line(i == 0 ? "dtypes" : "", "\(d.dtype.name): \(d.tensors) tensor\(d.tensors == 1 ? "" : "s"), \(formatCount(d.parameters)) parameters, \(formatBytes(d.bytes))")
        }
        for section in [MetadataSection.provenance, .user] {
            guard let values = summary.values[section], !values.isEmpty else { continue }
            line(section.rawValue, values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: ", "))
        }
        if !summary.schemaProblems.isEmpty {
            line("schema", "does not follow Specs/schema.md (\(summary.schemaProblems.count) problem\(summary.schemaProblems.count == 1 ? "" : "s")):")
            for problem in summary.schemaProblems { out += "  - \(problem)\n" }
        }
        if let tensors = summary.tensors {
            out += "\ntensors\n"
            let width = max(4, tensors.map(\.name.count).max() ?? 0)
            for t in tensors {
                out += "  " + t.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                    + (t.role?.name ?? "-").padding(toLength: 20, withPad: " ", startingAt: 0)
                    + t.dtype.name.padding(toLength: 6, withPad: " ", startingAt: 0)
                    + "[\(t.shape.map(String.init).joined(separator: ", "))]".padding(toLength: 18, withPad: " ", startingAt: 0)
                    + formatBytes(t.bytes) + "\n"
            }
        }
        if let heads = summary.heads {
            out += "\nheads (Frobenius norms of each head's slab)\n"
            out += "  layer  head  kv  |W_Q|     |W_K|     |W_V|     |W_O|\n"
            for h in heads {
                out += "  " + String(h.layer).padding(toLength: 7, withPad: " ", startingAt: 0)
                    + String(h.head).padding(toLength: 6, withPad: " ", startingAt: 0)
                    + String(h.kvHead).padding(toLength: 4, withPad: " ", startingAt: 0)
                    + [h.query, h.key, h.value, h.output].map { String(format: "%-10.4f", $0) }.joined() + "\n"
            }
        }
        return out
    }
}
