import Hex

/// A short ISO 7816-4 command APDU.
///
/// Case 2 commands carry `le` and no data; case 3/4 commands carry data.
/// The contract sends case-4 commands without Le, so `le` is nil for them
/// unless the card asked for one with `6Cxx`.
public struct CommandAPDU: Equatable, Sendable, CustomStringConvertible {
    public var cla: UInt8
    public var ins: UInt8
    public var p1: UInt8
    public var p2: UInt8
    public var data: [UInt8]
    public var le: UInt8?

    public init(cla: UInt8, ins: UInt8, p1: UInt8, p2: UInt8, data: [UInt8] = [], le: UInt8? = nil) {
        precondition(data.count <= 255, "short APDU data is at most 255 bytes")
        self.cla = cla
        self.ins = ins
        self.p1 = p1
        self.p2 = p2
        self.data = data
        self.le = le
    }

    /// The bytes on the wire: CLA INS P1 P2 [Lc data] [Le].
    public var bytes: [UInt8] {
        var out = [cla, ins, p1, p2]
        if !data.isEmpty {
            out.append(UInt8(data.count))
            out += data
        }
        if let le { out.append(le) }
        return out
    }

    /// The same command with Le set (the re-send after `6Cxx`).
    public func with(le newLe: UInt8) -> CommandAPDU {
        var copy = self
        copy.le = newLe
        return copy
    }

    /// GET RESPONSE `00 C0 00 00 Le`, sent after `61xx`.
    public static func getResponse(_ le: UInt8) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xC0, p1: 0x00, p2: 0x00, le: le)
    }

    public var description: String { bytes.hex }
}

/// A response APDU: data and the two status bytes.
public struct ResponseAPDU: Equatable, Sendable, CustomStringConvertible {
    public var data: [UInt8]
    public var status: StatusWord

    public init(data: [UInt8], status: StatusWord) {
        self.data = data
        self.status = status
    }

    /// Splits raw answer bytes; nil when there are fewer than two bytes, which
    /// the contract treats as no answer at all.
    public init?(raw: [UInt8]) {
        guard raw.count >= 2 else { return nil }
        data = Array(raw.dropLast(2))
        status = StatusWord(raw[raw.count - 2], raw[raw.count - 1])
    }

    public var bytes: [UInt8] { data + [status.sw1, status.sw2] }
    public var description: String { bytes.hex }
}

/// SW1 SW2.
public struct StatusWord: Hashable, Sendable, CustomStringConvertible {
    public var sw1: UInt8
    public var sw2: UInt8

    public init(_ sw1: UInt8, _ sw2: UInt8) {
        self.sw1 = sw1
        self.sw2 = sw2
    }

    public init(_ value: UInt16) {
        self.init(UInt8(value >> 8), UInt8(value & 0xFF))
    }

    public var value: UInt16 { UInt16(sw1) << 8 | UInt16(sw2) }
    public var description: String { [sw1, sw2].hex }

    public static let success = StatusWord(0x9000)
    public var isSuccess: Bool { self == .success }
}
