/// GPT-2's split regex as its tokenizer.json (ByteLevel) has it; the `bpe` default.
public let gpt2SplitPattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

/// What a llama.cpp pre-tokenizer name stands for: its split regexes and whether a word that is a
/// token as a whole skips the merges (Hugging Face BPE's `ignore_merges`).
public struct LlamaCppPreTokenizer: Sendable {
    /// The split regexes, in order (`tokenizer.pre_split`).
    public var patterns: [String]
    /// Whether a word that is a token as a whole skips the merges (`tokenizer.ignore_merges`).
    public var ignoreMerges: Bool

    /// Every name llama.cpp's vocabulary loader accepts for a BPE vocabulary that qkv implements; see
    /// `llamaCppPreTokenizerTable`.
    public static var table: [String: LlamaCppPreTokenizer] { llamaCppPreTokenizerTable.table }

    /// The llama.cpp name for a split of `patterns` (and `ignoreMerges`), when llama.cpp has one: the
    /// first name of its group in the table (`llama3`, `qwen2`, `starcoder`, ...), so a tokenizer.json's
    /// pre-tokenizer can be written to a GGUF as `tokenizer.ggml.pre`.
    public static func name(for patterns: [String], ignoreMerges: Bool) -> String? {
        llamaCppPreTokenizerTable.groupNames.first { name in
            let entry = llamaCppPreTokenizerTable.table[name]!
            return entry.patterns == patterns && entry.ignoreMerges == ignoreMerges
        }
    }
}

private let llama3 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
private let qwen2 = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
private let gpt4o = #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
private let deepseek3 = [#"\p{N}{1,3}"#, #"[一-龥぀-ゟ゠-ヿ]+"#,
                         ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##]
private let starcoder = [#"\p{N}"#, gpt2SplitPattern]
private let bloom = [#" ?[^(\s|.,!?…。，、।۔،)]+"#]

/// Every pre-tokenizer name llama.cpp's `llama_vocab::impl::load` accepts for a BPE vocabulary that
/// qkv implements, with the regexes of the model's own tokenizer.json (the originals llama.cpp quotes
/// where it rewrote them for `std::regex`: `(?i:...)` and `\p{Lu}` classes, which Swift's `Regex` has).
/// `groupNames` holds the first name of each group, in table order.
let llamaCppPreTokenizerTable: (table: [String: LlamaCppPreTokenizer], groupNames: [String]) = {
    var table: [String: LlamaCppPreTokenizer] = [:]
    var groupNames: [String] = []
    func add(_ names: [String], _ patterns: [String], ignoreMerges: Bool = false) {
        groupNames.append(names[0])
        for name in names { table[name] = LlamaCppPreTokenizer(patterns: patterns, ignoreMerges: ignoreMerges) }
    }
    add(["default"], [#"[\p{P}\$\+<=>\^~\|]+"#, gpt2SplitPattern, #"\p{N}+"#, #"[0-9][0-9][0-9]"#])
    add(["llama-bpe", "llama3", "llama-v3", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano"], [llama3], ignoreMerges: true)
    add(["dbrx", "smaug-bpe", "glm4", "chatglm-bpe"], [llama3])
    add(["jais-2"], [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}"#])
    // DeepSeek's cased-letter class has scalars that NFC would change (U+1F7D, U+1FBE, U+1FD3, U+1FDB,
    // U+2126, U+212A): this file must keep them as they are.
    add(["deepseek-llm"], [#"[\r\n]"#,
                           #"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+"#,
                           #"\s?[!-/:-~！-／：-～‘-‟　-。]+"#, #"\s+$"#, #"[一-龥ࠀ-一가-퟿]+"#, #"\p{N}+"#])
    add(["deepseek-coder"], [#"[\r\n]"#, #"\s?\p{L}+"#, #"\s?\p{P}+"#, #"[一-龥ࠀ-一가-퟿]+"#, #"\p{N}"#])
    add(["deepseek-v3", "hunyuan-dense", "joyai-llm", "hy_v4"], deepseek3)
    add(["spark2_5"], [#"\p{N}{1,3}"#, #"[一-龥぀-ゟ゠-ヿ]+"#,
                       ##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+"##, #"\p{N}"#])
    add(["falcon"], [#"[\p{P}\$\+<=>\^~\|`]+"#, gpt2SplitPattern, #"[0-9][0-9][0-9]"#])
    add(["starcoder", "refact", "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "mellum2"], starcoder)
    add(["gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
         "jina-v1-en", "jina-v2-code", "roberta-bpe", "exaone4", "mpt", "olmo", "jais", "trillion", "granite-docling"], [gpt2SplitPattern])
    add(["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "megrez", "stablelm2", "hunyuan", "solar-open"], [qwen2])
    add(["qwen35"], [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#])
    add(["poro-chat", "bloom", "gpt3-finnish"], bloom)
    add(["viking"], bloom + [#"\p{N}"#])
    add(["tekken"], [#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#], ignoreMerges: true)
    add(["chameleon"], [#"<sentinel:[0-9]+>"#, #"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z"#, #"([\t\n]|    |  )"#, #"\p{N}"#,
                        #"[\p{P}!-/:-@\[-`{-~]"#, gpt2SplitPattern])
    add(["gpt-4o", "llama4", "kanana2", "talkie", "minimax-m2"], [gpt4o])
    add(["granite-embed-multi-97m"], [#"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#], ignoreMerges: true)
    add(["tiny_aya", "cohere2moe"], [#"\d{1,3}(?=(?:\d{3})*\b)"#, gpt4o])
    add(["kimi-k2"], [#"[\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#])
    add(["superbpe"], [#"\p{N}+"#, #"(?=(\d{3})+(?!\d))"#])
    add(["bailingmoe", "bailingmoe2", "llada-moe"], [#"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#])
    add(["seed-coder"], [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+"#])
    add(["ufakzeka"], [#"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#])
    add(["grok-2"], [qwen2])
    add(["laguna"], [#"[^\n]+|[\n]+"#, qwen2])
    add(["exaone-moe"], [#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"#])
    add(["minicpm5"], [#"\p{N}{1,3}"#, #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#], ignoreMerges: true)
    add(["youtu"], [#"[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+"#,
                    #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#],
        ignoreMerges: true)
    return (table, groupNames)
}()
