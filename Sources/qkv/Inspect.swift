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

    func validate() throws {
        if (valuesOf == nil) != (npy == nil) { throw ValidationError("--values and --npy go together") }
    }

    func run() throws {
        // `org/name` and hub cache folders name the snapshot on disk.
        let file = try HubCache.resolve(self.file)
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
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
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
    var steps: [String] {
        let c = summary.config
        var out: [String] = []
        if c["qkv_bias"] == "true" { out.append("Q/K/V biases") }
        if c["qk_norm"] == "true" { out.append("q/k RMSNorm per head") }
        if c["post_norms"] == "true" { out.append("norms after attention and MLP") }
        if let offset = c["norm_weight_offset"] { out.append("norms scale by \(offset) + w") }
        if let scale = c["embedding_scale"] { out.append("embeddings × \(scale)") }
        if let scale = c["attention_scale"] { out.append("attention scale \(scale)") }
        if let cap = c["attention_softcap"] { out.append("score soft cap \(cap)") }
        if let cap = c["final_softcap"] { out.append("logit soft cap \(cap)") }
        if let window = c["sliding_window"] {
            var text = "sliding window \(window)"
            if let layers = c["sliding_layers"] {
                let flags = layers.filter { $0 == "0" || $0 == "1" }
                let global = flags.enumerated().filter { $0.element == "0" }.map { String($0.offset) }
                text += global.isEmpty ? " on every layer" : ", layers \(global.joined(separator: ", ")) global"
            }
            if let theta = c["rope_theta_sliding"] { text += " (RoPE theta \(theta) on the sliding layers)" }
            out.append(text)
        }
        if let dims = c["rope_dims"] { out.append("RoPE on \(dims) dimensions per head") }
        if c["rope_freq_factors_long"] != nil, let original = c["rope_original_context"] {
            out.append("RoPE frequencies scaled, long factors past \(original) positions (rope_freq_factors, rope_freq_factors_long)")
        } else if c["rope_freq_factors"] != nil {
            out.append("RoPE frequencies scaled (rope_freq_factors)")
        }
        if let factor = c["rope_attention_factor"] { out.append("RoPE attention factor \(factor)") }
        if c["attn_output_layout"]?.contains("rows") == true { out.append("W_O stored as rows [D, H·d]") }
        return out
    }

    var text: String {
        var out = ""
        func line(_ label: String, _ value: String) { out += label.padding(toLength: 14, withPad: " ", startingAt: 0) + value + "\n" }
        let c = summary.config
        line("file", "\(summary.file) (\(summary.format), \(formatBytes(summary.fileBytes)))")
        if var family = c["family"] {
            if let architecture = summary.provenance["architecture"] { family = "\(unquote(architecture)) (\(unquote(family)) family)" }
            let heads = c["head_count"] ?? "?", kv = c["kv_head_count"] ?? "?"
            line("model", "\(family.replacingOccurrences(of: "\"", with: "")): \(c["layer_count"] ?? "?") layers, d_model \(c["model_dim"] ?? "?"), "
                 + "\(heads) heads" + (kv != heads ? " (\(kv) key/value heads, GQA)" : "") + " of d_head \(c["head_dim"] ?? "?"), "
                 + "d_ff \(c["ffn_dim"] ?? "?"), vocab \(c["vocab_size"] ?? "?"), \(c["max_positions"] ?? "?") positions")
            let norm = "\(unquote(c["norm"])) (eps \(c["norm_epsilon"] ?? "?"), \(unquote(c["norm_placement"])))"
            let mlp = (c["gated_mlp"] == "true" ? "gated " : "") + unquote(c["activation"]) + " MLP"
            var positions = unquote(c["position_encoding"])
            if positions == "rope" { positions += " (theta \(c["rope_theta"] ?? "?"), \(unquote(c["rope_layout"])))" }
            if let offset = c["position_offset"] { positions += " (from row \(offset))" }
            var head = family.contains("bert") ? "" : (c["tied_embeddings"] == "true" ? ", tied LM head" : ", separate LM head")
            if let pooling = c["pooling"] { head += ", \(unquote(pooling)) pooling" }
            if let dims = c["dense_dims"] { head += ", Dense to \(dims) (\(c["dense_activations"] ?? "?"))" }
            if c["pooling"] != nil || c["dense_dims"] != nil, c["normalize"] == "true" { head += ", normalized" }
            if let labels = c["label_count"] { head += ", classification head of \(labels) label\(labels == "1" ? "" : "s") (\(unquote(c["label_activation"])))" }
            line("", "\(norm), \(mlp), \(positions) positions\(head)")
            if !steps.isEmpty { line("", steps.joined(separator: ", ")) }
        }
        if let kind = summary.tokenizer["kind"] {
            line("tokenizer", "\(unquote(kind)), \(summary.tokenizer["tokens"].map { $0.replacingOccurrences(of: "string[", with: "").replacingOccurrences(of: "]", with: "") } ?? "?") tokens"
                 + (summary.tokenizer["prompt_names"].map { ", prompts \($0)" } ?? "")
                 + (summary.tokenizer["default_prompt_name"].map { " (default \($0))" } ?? ""))
        }
        line("parameters", formatCount(summary.parameters))
        for component in ["embeddings", "attention", "mlp", "norms", "head", "other"] {
            guard let n = summary.parametersByComponent[component] else { continue }
            let share = summary.parameters == 0 ? 0 : Double(n) * 100 / Double(summary.parameters)
            line("  " + component, "\(formatCount(n)) (\(String(format: "%.1f", share))%)")
        }
        if !summary.attentionParametersByLayer.isEmpty {
            line("  per layer", "attention " + summary.attentionParametersByLayer.map(formatCount).joined(separator: ", "))
        }
        for (i, d) in summary.dtypes.enumerated() {
            line(i == 0 ? "dtypes" : "", "\(d.dtype): \(d.tensors) tensor\(d.tensors == 1 ? "" : "s"), \(formatCount(d.parameters)) parameters, \(formatBytes(d.bytes))")
        }
        for (label, values) in [("provenance", summary.provenance), ("user", summary.user)] where !values.isEmpty {
            line(label, values.keys.sorted().map { "\($0)=\(values[$0]!)" }.joined(separator: ", "))
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
                    + (t.role ?? "-").padding(toLength: 20, withPad: " ", startingAt: 0)
                    + t.dtype.padding(toLength: 6, withPad: " ", startingAt: 0)
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

    private func unquote(_ s: String?) -> String { (s ?? "?").replacingOccurrences(of: "\"", with: "") }
}
