import CQKVChecksum

/// zlib's CRC-32, the checksum `.qkv` stores for its header and every tensor (Specs/qkv-format.md).
public struct CRC32: Sendable {
    public private(set) var value: UInt32 = 0

    public init() {}

    /// Feeds `bytes` (PCLMULQDQ folding where the processor has it: Sources/CQKVChecksum/qkv_crc32.c).
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        value = qkv_crc32(value, base, bytes.count)
    }

    public static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.value
    }
}
