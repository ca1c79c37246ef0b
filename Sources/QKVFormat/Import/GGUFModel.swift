import Foundation

/// A GGUF file seen through its architecture map as a canonical model (Specs/architectures.md, "GGUF"):
/// llama.cpp's names, its RoPE row order for Q/K undone, its `[D, H·d]` output projection transposed,
/// config and tokenizer from the `llama.*` and `tokenizer.ggml.*` keys.
///
/// Every other GGUF key is kept, typed, under `provenance.gguf.*`, and the order and types of all keys
/// under `provenance.gguf_keys` / `provenance.gguf_types`, so a GGUF written back has the same keys.
public final class GGUFModel: WeightFile, Sendable {
    public let path: String
    public var format: ContainerFormat { .gguf }
    public let metadata: Metadata
    public let tensors: [TensorInfo]
    public let file: GGUFFile
    private let plan: [String: (source: String, transform: TensorTransform, target: TensorInfo)]

    public init(path: String) throws {
        self.path = path
        file = try GGUFFile(path: path)
        let architecture = file["general.architecture"]?.stringValue ?? "(none)"
        guard let arch = Architectures.forGGUF(architecture) else {
            throw ImportError.unknownArchitecture(file: path, modelType: architecture, tensors: file.tensorInfos.map(\.name))
        }
        // What qkv wrote itself (`qkv.metadata`): the canonical config and tokenizer options, exactly.
        let canonical: Metadata? = try file[GGUFMaps.qkvMetadataKey]?.stringValue.map { text in
            guard let m = Metadata(qkvJSON: text) else {
                throw ImportError.notACheckpoint(path: path, reason: "'\(GGUFMaps.qkvMetadataKey)' is not the JSON qkv writes")
            }
            return m
        }
        var config = try canonical.map { try ModelConfig(metadata: $0, file: path) } ?? arch.config(gguf: file)
        // A decoder's block-quantized W_O stays as GGUF stores it, `[D, H·d]`, blocks and all: transposed
        // into per-head slabs its blocks would not be blocks any more.
        let gguf = file, headsConfig = config
        if canonical == nil, config.isDecoder, (0..<config.layerCount).contains(where: { layer in
            Architectures.ggufSource(arch, for: TensorRole.attentionOutput.tensorName(layer: layer), config: headsConfig)
                .flatMap { gguf.tensorInfo($0.0)?.type.dtype?.isBlockQuantized } ?? false
        }) {
            config.attentionOutputLayout = .rows
        }
        var tokenizer = try GGUFMaps.tokenizer(file, config: &config)
        if let canonical, tokenizer != nil {
            // Exactly the options qkv wrote: none the keys imply beyond them (the `t5` keys' llama.cpp rules
            // for a tokenizer that came from tokenizer.json).
            tokenizer!.options = tokenizer!.options.filter { $0.value.isArray }
            for (key, value) in canonical.values where key.hasPrefix("tokenizer.") && !value.isArray && key != "tokenizer.kind" {
                tokenizer!.options[key] = value
            }
        }

        var plan: [String: (source: String, transform: TensorTransform, target: TensorInfo)] = [:]
        var tensors: [TensorInfo] = []
        var claimed = Set<String>()
        for want in ModelSchema.expectedTensors(for: config) {
            guard let (source, transform) = Architectures.ggufSource(arch, for: want.name, config: config) else { continue }
            guard let info = file.tensorInfo(source) else { throw ImportError.missingSourceTensor(file: path, tensor: source) }
            guard let dtype = info.type.dtype, dtype.isModelType else {
                throw ImportError.unsupportedGGMLType(file: path, tensor: source, type: info.type.name)
            }
            let sourceInfo = TensorInfo(name: source, role: nil, dtype: dtype, shape: info.shape)
            // Blocks run along the rows of the file's [D, H·d] output projection; transposed they would not
            // be blocks any more, so that one tensor is dequantized to f32 (exactly as ggml does).
            let transposesBlocks: Bool = if case .transpose = transform { dtype.blockSize > 1 } else { false }
            let target = TensorInfo(name: want.name, role: want.role, dtype: transposesBlocks ? .f32 : dtype, shape: want.shape)
            guard transform.fits(source: sourceInfo, target: target) else {
                throw ImportError.sourceShapeMismatch(file: path, tensor: source, canonical: want.name, expected: want.shape, found: info.shape)
            }
            plan[want.name] = (source, transform, target)
            claimed.insert(source)
            tensors.append(target)
        }
        // llama.cpp's GPT-2 converter stores the tied head as a copy of the token embedding.
        if config.family == .gpt2, config.tiedEmbeddings, file.tensorInfo("output.weight") != nil {
            claimed.insert("output.weight")
        }
        claimed.formUnion(arch.ggufConfigTensorNames)
        let unclaimed = file.tensorInfos.map(\.name).filter { !claimed.contains($0) }
        guard unclaimed.isEmpty else { throw ImportError.unmappedTensors(file: path, tensors: unclaimed) }
        self.plan = plan
        self.tensors = tensors

        var metadata = Metadata()
        for (key, value) in config.metadata { metadata[key] = value }
        for (key, value) in tokenizer?.metadata ?? [:] { metadata[key] = value }
        if let canonical {
            // A file qkv wrote: its provenance and user keys, as they were.
            for key in canonical.sortedKeys where key.hasPrefix("provenance.") || key.hasPrefix("user.") { metadata[key] = canonical[key] }
        } else {
            let regenerated = Set(GGUFExportWriter.generatedKeys(arch, config, tokenizer).map(\.0)).union(["general.architecture", GGUFMaps.qkvMetadataKey])
            GGUFMaps.keepKeys(of: file, in: &metadata, except: regenerated)
            metadata["provenance.gguf_tensors"] = .stringArray(file.tensorInfos.map(\.name))
            metadata["provenance.source"] = .string(AtomicOutput.split(path).base)
            metadata["provenance.source_format"] = .string("gguf")
            metadata[Architectures.provenanceKey] = .string(arch.name)
            // YaRN's parameters in transformers' form, for a config.json export (the schema keeps the
            // divisors and the attention factor they give).
            if let scaling = RopeScaling.yarnJSON(gguf: file) { metadata["provenance.hf_rope_scaling"] = .string(scaling.text) }
        }
        self.metadata = metadata
    }

    public func tensor(_ name: String) throws -> TensorView {
        guard let step = plan[name] else { throw ModelError.missingTensor(file: path, tensor: name, expectedShape: []) }
        var source = try file.tensor(step.source)
        if source.dtype.isBlockQuantized && step.target.dtype == .f32 { source = DTypeConversion.dequantize(source) }
        let result = try step.transform.apply(source, target: step.target, file: path)
        if result.storage !== source.storage { source.storage.doneReading(source.bytes) }
        return result
    }
}

/// What every architecture's GGUF import shares (the architectures' own maps are in Architectures/): the
/// `tokenizer.ggml.*` keys, and keeping the keys an export does not regenerate.
enum GGUFMaps {
    /// The key under which qkv stores a model's canonical metadata (tokenizer arrays left out) in GGUF
    /// files it writes for models that did not come from GGUF; llama.cpp ignores keys it does not know.
    static let qkvMetadataKey = "qkv.metadata"

    static func tokenizer(_ file: GGUFFile, config: inout ModelConfig) throws -> TokenizerData? {
        guard let model = file["tokenizer.ggml.model"]?.stringValue else { return nil }
        func strings(_ key: String) -> [String]? { if case .array(.string(let v))? = file[key] { v } else { nil } }
        guard let tokens = strings("tokenizer.ggml.tokens") else {
            throw ImportError.tokenizer(file: file.path, reason: "tokenizer.ggml.tokens is missing or not an array of strings")
        }
        let kind: TokenizerData.Kind
        switch model {
        case "llama": kind = .sentencepieceBPE
        case "gpt2": kind = .bpe
        case "bert": kind = .wordpiece
        case "t5": kind = .unigram
        default: throw ImportError.tokenizer(file: file.path, reason: "tokenizer.ggml.model '\(model)' is not one of llama, gpt2, bert, t5")
        }
        var data = TokenizerData(kind: kind, tokens: tokens)
        if kind == .wordpiece {
            // llama.cpp's "phantom space" spelling undone: control tokens as they are, a leading U+2581
            // marks a word start, anything else was a `##` continuation.
            let types: [Int32]? = if case .array(.int32(let v))? = file["tokenizer.ggml.token_type"] { v } else { nil }
            data.tokens = tokens.enumerated().map { i, token in
                if types?[i] == 3 { return token }
                if token.hasBytePrefix("\u{2581}") { return token.droppingBytePrefix("\u{2581}") }
                return "##" + token
            }
        }
        if case .array(.float32(let v))? = file["tokenizer.ggml.scores"] { data.scores = v }
        if case .array(.int32(let v))? = file["tokenizer.ggml.token_type"] { data.tokenTypes = v }
        data.merges = strings("tokenizer.ggml.merges")
        if kind == .sentencepieceBPE {
            data.options["tokenizer.byte_fallback"] = .bool(tokens.contains("<0x00>"))
            // llama.cpp puts the dummy prefix before every stretch, as the model's own tokenizer.json does.
            data.options["tokenizer.prefix_scheme"] = .string("prepend")
        }
        if kind == .unigram { try unigramOptions(file, into: &data) }
        if kind == .wordpiece {
            for (key, value) in [("tokenizer.lowercase", true), ("tokenizer.strip_accents", true), ("tokenizer.clean_text", true), ("tokenizer.chinese_chars", true)] {
                data.options[key] = .bool(value)
            }
            data.options["tokenizer.continuing_prefix"] = .string("##")
            data.options["tokenizer.max_word_chars"] = .int(100)
        }
        if kind == .bpe, let name = file["tokenizer.ggml.pre"]?.stringValue {
            // The pre-tokenizer by llama.cpp's name, with its regexes written out so the file stands alone;
            // GPT-2's split (gpt-2, olmo, mpt, ...) is the default and recorded as nothing.
            guard let pre = LlamaCppPreTokenizer.table[name] else {
                throw ImportError.tokenizer(file: file.path, reason: "tokenizer.ggml.pre '\(name)' is not a llama.cpp pre-tokenizer qkv implements")
            }
            if pre.patterns != [gpt2SplitPattern] || pre.ignoreMerges {
                data.options["tokenizer.pre"] = .string(name)
                data.options["tokenizer.pre_split"] = .stringArray(pre.patterns)
                if pre.ignoreMerges { data.options["tokenizer.ignore_merges"] = .bool(true) }
            }
        }
        if let add = file["tokenizer.ggml.add_bos_token"]?.boolValue { data.options["tokenizer.add_bos"] = .bool(add) }
        if let add = file["tokenizer.ggml.add_eos_token"]?.boolValue { data.options["tokenizer.add_eos"] = .bool(add) }
        // SentencePiece's dummy prefix (`▁` before the text); absent means on, as in llama.cpp.
        if let add = file["tokenizer.ggml.add_space_prefix"]?.boolValue { data.options["tokenizer.add_prefix_space"] = .bool(add) }
        for (token, key) in specialKeys {
            if let id = file[key]?.integerValue { config.specialTokens[token] = Int(id) }
        }
        return data
    }

    /// llama.cpp's SentencePiece Unigram keys (`tokenizer.ggml.model = t5`, XLM-R and T5): scores required,
    /// the charsmap bytes (`precompiled_charsmap`, u8 or i8), `remove_extra_whitespaces` (strip both ends and
    /// collapse space runs, as SentencePiece), a `▁` before every stretch (llama.cpp prepends one to each
    /// fragment between special tokens). Byte fallback when the vocabulary has byte tokens (type 6).
    static func unigramOptions(_ file: GGUFFile, into data: inout TokenizerData) throws {
        guard data.scores?.count == data.tokens.count else {
            throw ImportError.tokenizer(file: file.path, reason: "tokenizer.ggml.scores is missing or not one f32 per token, which a t5 (Unigram) tokenizer needs")
        }
        let bytes: [UInt8]? = switch file["tokenizer.ggml.precompiled_charsmap"] {
        case .array(.uint8(let v))?: v
        case .array(.int8(let v))?: v.map { UInt8(bitPattern: $0) }
        case nil: nil
        default: throw ImportError.tokenizer(file: file.path, reason: "tokenizer.ggml.precompiled_charsmap is not an array of bytes")
        }
        if let bytes, !bytes.isEmpty {
            do {
                _ = try PrecompiledCharsmap(bytes: bytes)
            } catch {
                throw ImportError.tokenizer(file: file.path, reason: "tokenizer.ggml.precompiled_charsmap cannot be read: \(error.reason)")
            }
            data.options["tokenizer.precompiled_charsmap"] = .string(Data(bytes).base64EncodedString())
        }
        if file["tokenizer.ggml.remove_extra_whitespaces"]?.boolValue ?? true {
            data.options["tokenizer.strip"] = .string("both")
            data.options["tokenizer.collapse_spaces"] = .string(" ")
        }
        data.options["tokenizer.prefix_scheme"] = .string("always")
        data.options["tokenizer.unigram_rules"] = .string("llama.cpp")
        if data.tokenTypes?.contains(6) == true { data.options["tokenizer.byte_fallback"] = .bool(true) }
    }

    static let specialKeys: [(ModelConfig.SpecialToken, String)] = [
        (.bos, "tokenizer.ggml.bos_token_id"), (.eos, "tokenizer.ggml.eos_token_id"), (.unk, "tokenizer.ggml.unknown_token_id"),
        (.pad, "tokenizer.ggml.padding_token_id"), (.sep, "tokenizer.ggml.seperator_token_id"), (.cls, "tokenizer.ggml.cls_token_id"),
        (.mask, "tokenizer.ggml.mask_token_id"),
    ]

    // MARK: Keeping the keys

    /// Records every key's order and GGUF type, and the values of the keys an export does not regenerate
    /// (`regenerated`), so a GGUF written back has the same keys.
    static func keepKeys(of file: GGUFFile, in metadata: inout Metadata, except regenerated: Set<String>) {
        var keys: [String] = [], types: [String] = []
        for (key, value) in file.metadata {
            guard Metadata.problem(withKey: "provenance.gguf.\(key)") == nil else { continue }
            keys.append(key)
            types.append(GGUFStoredType(of: value).name)
            if !regenerated.contains(key), let kept = metadataValue(value) { metadata["provenance.gguf.\(key)"] = kept }
        }
        metadata["provenance.gguf_keys"] = .stringArray(keys)
        metadata["provenance.gguf_types"] = .stringArray(types)
    }

    static func metadataValue(_ value: GGUFValue) -> MetadataValue? {
        switch value {
        case .bool(let b): return .bool(b)
        case .string(let s): return .string(s)
        case .float32(let f): return .float(Double(f))
        case .float64(let f): return .float(f)
        case .uint64(let u): return Int64(exactly: u).map { .int($0) }
        case .array(let a):
            switch a {
            case .string(let v): return .stringArray(v)
            case .float32(let v): return .float32Array(v)
            case .float64(let v): return .float64Array(v)
            case .int32(let v): return .int32Array(v)
            default: return (0..<a.count).compactMap { a[$0].integerValue }.count == a.count ? .int64Array((0..<a.count).map { a[$0].integerValue! }) : nil
            }
        default: return value.integerValue.map { .int($0) }
        }
    }
}

/// Typed reads of GGUF keys that name the key in errors.
struct GGUFKeys {
    let file: GGUFFile
    init(_ file: GGUFFile) { self.file = file }

    /// An integer key of at least `minimum`; `fallback` when absent, else an error.
    func int(_ key: String, _ fallback: Int?, minimum: Int) throws -> Int {
        guard let value = file[key] else {
            if let fallback { return fallback }
            throw ImportError.configField(file: file.path, field: key, reason: "is required but missing")
        }
        guard let v = value.integerValue, let i = Int(exactly: v), i >= minimum else {
            throw ImportError.configField(file: file.path, field: key, reason: "is \(value), expected an integer of at least \(minimum)")
        }
        return i
    }

    func float(_ key: String, _ fallback: Double) throws -> Double {
        guard let value = file[key] else { return fallback }
        guard let v = value.floatValue else { throw ImportError.configField(file: file.path, field: key, reason: "is \(value), expected a number") }
        return v
    }
}
