extension String {
    /// The text of a C character buffer up to its first NUL (all of it if none), invalid UTF-8 repaired
    /// as `String(cString:)` does; that initializer's array form is deprecated.
    package init(nulTerminated buffer: [CChar]) {
        self = String(decoding: buffer.lazy.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
