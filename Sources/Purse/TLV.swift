/// Minimal BER-TLV reader for the FCI (contract §3): one- or two-byte tags,
/// short or `81`/`82` long lengths. Anything that runs past the end is nil.
struct TLV {
    let tag: UInt16
    let value: ArraySlice<UInt8>

    /// Parses a run of TLVs covering `bytes` exactly.
    static func parse(_ bytes: ArraySlice<UInt8>) -> [TLV]? {
        var items: [TLV] = []
        var i = bytes.startIndex
        while i < bytes.endIndex {
            var tag = UInt16(bytes[i])
            i += 1
            if tag & 0x1F == 0x1F {  // two-byte tag
                guard i < bytes.endIndex else { return nil }
                tag = tag << 8 | UInt16(bytes[i])
                i += 1
            }
            guard i < bytes.endIndex else { return nil }
            var length = Int(bytes[i])
            i += 1
            if length > 0x80 {
                let width = length - 0x80
                guard width <= 2, bytes.endIndex - i >= width else { return nil }
                length = bytes[i..<(i + width)].reduce(0) { $0 << 8 | Int($1) }
                i += width
            } else if length == 0x80 {
                return nil  // indefinite length has no place in an FCI
            }
            guard bytes.endIndex - i >= length else { return nil }
            items.append(TLV(tag: tag, value: bytes[i..<(i + length)]))
            i += length
        }
        return items
    }

    static func first(_ tag: UInt16, in items: [TLV]) -> ArraySlice<UInt8>? {
        items.first { $0.tag == tag }?.value
    }
}
