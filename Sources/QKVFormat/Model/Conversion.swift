#if canImport(Glibc)
import Glibc
#endif

/// How `qkv convert` writes its output.
public struct WriteOptions: Sendable {
    /// Convert every float tensor to this float dtype; nil keeps each tensor's own.
    public var dtype: DType?
    /// Quantize the matrices (Specs/quantization.md, "Quantizing"); nil quantizes nothing.
    public var quantization: QuantizationScheme?
    /// HDF5 only: chunked, shuffle + deflate datasets.
    public var compress: Bool
    /// GGUF only: write the output as gguf-split shards, `OUT-0000K-of-0000N.gguf`.
    public var split: GGUFSplit.Limit?

    /// A block type as `dtype` means `.pure(dtype)`.
    public init(dtype: DType? = nil, quantization: QuantizationScheme? = nil, compress: Bool = false, split: GGUFSplit.Limit? = nil) {
        self.split = split
        if let dtype, dtype.isBlockQuantized {
            self.dtype = nil
            self.quantization = quantization ?? .pure(dtype)
        } else {
            self.dtype = dtype
            self.quantization = quantization
        }
        self.compress = compress
    }
}

/// A container being written: tensors arrive one at a time in the order given at creation, and the
/// output appears under its name only after `finish()`.
protocol ContainerWriter: AnyObject {
    /// The canonical tensor names in the order the writer wants them, when it is not the schema's.
    var tensorOrder: [String]? { get }
    func append(_ view: TensorView) throws
    func finish() throws
    /// Removes everything written so far.
    func abandon()
}

extension ContainerWriter {
    var tensorOrder: [String]? { nil }
}

/// What a conversion did, for the one-line summary.
public struct ConversionSummary: Sendable {
    public var tensorCount: Int
    public var parameterCount: Int
    public var bytesWritten: Int
    public var outputFormat: ContainerFormat
    /// Tensors the output format has no place for (BERT's pooler in GGUF), left out.
    public var omittedTensors: [String] = []
    /// The files of a split GGUF output, in order; empty otherwise.
    public var shards: [String] = []
}

/// Converts model files between containers and dtypes without holding more than one tensor in memory.
public enum Converter {
    /// The version written into `provenance.converter`.
    public static let version = "0.1.0"

    /// Reads `input` (any container), checks it against the schema, and writes `output` in `format`.
    /// `progress` gets (tensors done, total) after each tensor.
    ///
    /// The output goes to a temporary file beside `output`, synced and renamed when complete, so a failed
    /// conversion leaves no partial file; writing over `input` itself is refused.
    /// - Parameters:
    ///   - input: anything `openWeightFile(path:)` opens.
    ///   - output: the file to write (with a split GGUF, the first shard's name is made from it).
    ///   - format: the container to write; the extension of `output` is not consulted.
    ///   - options: dtype, quantization, HDF5 compression and GGUF splitting.
    ///   - progress: (tensors done, total), called on the calling thread.
    /// - Returns: what was written: tensors, parameters, bytes, shards, and tensors the format cannot hold.
    /// - Throws: what opening and checking `input` throws; `ConversionError` for a conversion that cannot
    ///   be done as asked; `IOError` when writing fails.
    @discardableResult
    public static func convert(input: String, output: String, format: ContainerFormat, options: WriteOptions = WriteOptions(),
                               progress: (Int, Int) -> Void = { _, _ in }) throws -> ConversionSummary {
        if options.split != nil && format != .gguf {
            throw ConversionError.unsupportedTarget(output: output, reason: "splitting writes GGUF shards; the output is \(format.rawValue)")
        }
        let model = try ModelFile(try openWeightFile(path: input))
        if options.compress && format != .hdf5 {
            throw ConversionError.compressNeedsHDF5(output: output)
        }
        let sources = model.orderedTensors
        var config = model.config
        let plan = options.quantization.map {
            QuantizationPlan(scheme: $0, config: config, tensors: sources,
                             architecture: Architectures.forExport(config, metadata: model.file.metadata))
        }
        // A decoder's quantized W_O is stored as rows [D, H·d], so its blocks run along H·d as in GGUF and
        // PyTorch (Specs/schema.md, attn_output_layout): the file then exports to GGUF as it is.
        let (D, Hd) = (config.modelDim, config.headCount * config.headDim)
        let outputToRows = plan.map { plan in
            config.family != .bert && config.attentionOutputLayout == .heads && sources.contains {
                $0.role == .attentionOutput && plan.dtype(for: $0, rowLength: Hd)?.isBlockQuantized == true
            }
        } ?? false
        if outputToRows { config.attentionOutputLayout = .rows }
        func turnsToRows(_ info: TensorInfo) -> Bool { outputToRows && info.role == .attentionOutput && info.shape.count == 3 }

        let targets = try sources.map { info -> TensorInfo in
            var out = info
            if turnsToRows(info) { out.shape = [D, Hd] }
            if let plan {
                guard info.dtype.isModelType else { throw ConversionError.cannotConvert(file: input, tensor: info.name, from: info.dtype, to: plan.scheme.baseType) }
                // A block-quantized source stays as it is: never re-quantized.
                if info.dtype.isFloat, let dtype = plan.dtype(for: out, rowLength: out.shape.last ?? 0) { out.dtype = dtype }
            } else if let dtype = options.dtype, info.dtype != dtype {
                // Floats convert among themselves; block types dequantize (as ggml, to f32).
                guard info.dtype.isModelType, dtype.isFloat else { throw ConversionError.cannotConvert(file: input, tensor: info.name, from: info.dtype, to: dtype) }
                out.dtype = dtype
            }
            // llama.cpp adds and multiplies vectors (norms, biases) only as f32 and aborts on an f16 one, so a
            // GGUF keeps them f32 whatever the matrices become, as its own converter does; widening is exact.
            let vector = out.shape.count <= 1 || out.name.hasSuffix("/bias")   // per-head biases [H, d] are one GGUF vector
            if format == .gguf, vector, out.dtype == .f16 || out.dtype == .bf16 { out.dtype = .f32 }
            guard format.canStore(out.dtype) else {
                throw ConversionError.unsupportedTarget(output: output, reason: "tensor '\(info.name)' is \(out.dtype), which \(format.rawValue) has no type for; add --dtype f32 (or f16, bf16) to dequantize it")
            }
            return out
        }
        let metadata = outputMetadata(model, config: config, input: input)

        let writer: any ContainerWriter = switch format {
        case .qkv: try QKVWriter(target: output, inputs: [input], metadata: metadata, tensors: targets, options: options)
        case .hdf5: try HDF5Writer(target: output, inputs: [input], metadata: metadata, tensors: targets, options: options)
        case .safetensors: try HFExportWriter(target: output, inputs: [input], config: config, tokenizer: model.tokenizer, metadata: metadata,
                                              tensors: targets, options: options)
        case .gguf: try GGUFExportWriter(target: output, inputs: [input], config: config, tokenizer: model.tokenizer, metadata: metadata,
                                         tensors: targets, options: options)
        }
        var omitted: [String] = []
        do {
            let byName = Dictionary(targets.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
            let ordered = writer.tensorOrder.map { $0.map { byName[$0]! } } ?? targets
            let written = Set(ordered.map(\.name))
            omitted = targets.map(\.name).filter { !written.contains($0) }
            for (i, target) in ordered.enumerated() {
                // Hugging Face's W_O is GGUF's as it is: written from the file without a transpose there and back.
                if let gguf = writer as? GGUFExportWriter, let checkpoint = model.file as? HFCheckpoint,
                   let stored = try checkpoint.transposedSource(target.name), stored.dtype == target.dtype,
                   gguf.storesTransposed(target.name, as: stored.info) {
                    try gguf.appendTransposed(stored, for: target.name)
                    stored.storage.doneReading(stored.bytes)
                    progress(i + 1, targets.count)
                    continue
                }
                let view = try model.file.tensor(target.name)
                var source = view.dtype.isBlockQuantized && target.dtype != view.dtype ? DTypeConversion.dequantize(view) : view
                if turnsToRows(view.info) { source = rowsLayout(source, target: target) }
                // A block-quantized source stays as it is (never re-quantized); floats to block types are quantized.
                let converted = source.dtype == target.dtype ? source
                    : target.dtype.isBlockQuantized ? DTypeConversion.quantize(source, to: target.dtype) : source.converted(to: target.dtype)
                try writer.append(converted)
                view.storage.doneReading(view.bytes)
                progress(i + 1, targets.count)
            }
            try writer.finish()
        } catch {
            writer.abandon()
            throw error
        }
        // The bytes written: the shards of a split GGUF, the files of an output folder, or the file.
        let shards = (writer as? GGUFExportWriter)?.shardPaths ?? []
        var size = stat()
        let isFolder = stat(output, &size) == 0 && (size.st_mode & S_IFMT) == S_IFDIR
        let files = !shards.isEmpty ? shards : isFolder ? ["model.safetensors", "config.json"].map { "\(output)/\($0)" } : [output]
        let bytes = files.reduce(0) { total, path in
            var s = stat()
            return total + (stat(path, &s) == 0 ? Int(s.st_size) : 0)
        }
        let written = targets.filter { !omitted.contains($0.name) }
        return ConversionSummary(tensorCount: written.count, parameterCount: written.reduce(0) { $0 + $1.elementCount },
                                 bytesWritten: bytes, outputFormat: format, omittedTensors: omitted, shards: shards)
    }

    /// W_O [H, d, D] as rows [D, H·d] (plain elements, same dtype).
    static func rowsLayout(_ view: TensorView, target: TensorInfo) -> TensorView {
        var info = target
        info.dtype = view.dtype
        let storage = OwnedStorage(count: info.byteCount)
        let rows = view.shape[0] * view.shape[1], columns = view.shape[2]
        transposeBlock(view.bytes, rows: rows, columns: columns, firstColumn: 0, columnCount: columns,
                       elementSize: view.dtype.blockBytes, into: storage.mutableBytes)
        return TensorView(info: info, storage: storage, bytes: storage.bytes)
    }

    /// The input's config and tokenizer in canonical form, its provenance and user keys as they are, and
    /// the provenance keys this conversion adds when the input has none (so the origin survives chains).
    static func outputMetadata(_ model: ModelFile, config: ModelConfig, input: String) -> Metadata {
        var metadata = Metadata()
        for (key, value) in config.metadata { metadata[key] = value }
        for (key, value) in model.tokenizer?.metadata ?? [:] { metadata[key] = value }
        for section in [MetadataSection.provenance, .user] {
            for name in model.file.metadata.names(in: section) {
                let key = "\(section.rawValue).\(name)"
                metadata[key] = model.file.metadata[key]
            }
        }
        let base = AtomicOutput.split(input).base
        if metadata["provenance.source"] == nil { metadata["provenance.source"] = .string(base) }
        if metadata["provenance.source_format"] == nil { metadata["provenance.source_format"] = .string(model.file.format.rawValue) }
        if metadata["provenance.converter"] == nil { metadata["provenance.converter"] = .string("qkv \(version)") }
        return metadata
    }
}

/// A conversion that cannot be done as asked.
public enum ConversionError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotConvert(file: String, tensor: String, from: DType, to: DType)
    case compressNeedsHDF5(output: String)
    case unsupportedTarget(output: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotConvert(file, tensor, from, to):
            "\(file): tensor '\(tensor)' is \(from) and cannot be converted to \(to) (only f32, f16, bf16 and the block-quantized types convert)"
        case let .compressNeedsHDF5(output):
            "\(output): --compress applies to HDF5 output only"
        case let .unsupportedTarget(output, reason):
            "\(output): cannot write this model: \(reason)"
        }
    }
}

extension TensorView {
    /// This tensor (float or block-quantized) in a float dtype, in a new buffer; blocks dequantize as ggml.
    public func converted(to target: DType) -> TensorView {
        if dtype.isBlockQuantized {
            let widened = DTypeConversion.dequantize(self)
            return target == .f32 ? widened : widened.converted(to: target)
        }
        var info = self.info
        info.dtype = target
        let storage = OwnedStorage(count: info.byteCount)
        DTypeConversion.convert(bytes, from: dtype, to: target, into: storage.mutableBytes)
        return TensorView(info: info, storage: storage, bytes: storage.bytes)
    }
}
