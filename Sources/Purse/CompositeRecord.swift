import Hex

/// The composite transit record (contract §8.2): the card's memory of a
/// journey, read before a CAPP purchase and rewritten by it.
public struct CompositeRecord: Equatable, Sendable {
    /// `01`: locked by another operator, never ours to write.
    public var locked: Bool
    /// `01`: tapped on (a journey is open).
    public var tappedOn: Bool
    public var entryTime: BCDDateTime?
    public var line: UInt16
    public var entryStop: UInt16
    public var entryTerminal: [UInt8]
    public var entryAmount: UInt32
    /// The last tap that charged money (nil: none), for the transfer window.
    public var lastPaidTime: BCDDateTime?

    public init(locked: Bool = false, tappedOn: Bool = false, entryTime: BCDDateTime? = nil, line: UInt16 = 0, entryStop: UInt16 = 0,
                entryTerminal: [UInt8] = [UInt8](repeating: 0, count: 6), entryAmount: UInt32 = 0, lastPaidTime: BCDDateTime? = nil) {
        self.locked = locked
        self.tappedOn = tappedOn
        self.entryTime = entryTime
        self.line = line
        self.entryStop = entryStop
        self.entryTerminal = entryTerminal
        self.entryAmount = entryAmount
        self.lastPaidTime = lastPaidTime
    }

    /// Parses the record as read; nil when its tag or size is not the profile's.
    public init?(_ bytes: [UInt8], profile: PurseProfile) {
        let layout = profile.compositeRecord
        guard bytes.count == layout.length, bytes[0] == layout.id else { return nil }
        locked = bytes[2] == 0x01
        tappedOn = bytes[3] == 0x01
        entryTime = Self.time(bytes[4..<11])
        line = UInt16(BigEndian.uint(bytes[11..<13]))
        entryStop = UInt16(BigEndian.uint(bytes[13..<15]))
        entryTerminal = Array(bytes[15..<21])
        entryAmount = UInt32(BigEndian.uint(bytes[21..<25]))
        lastPaidTime = Self.time(bytes[25..<32])
    }

    /// The whole record as written with UPDATE CAPP DATA CACHE.
    public func bytes(for profile: PurseProfile) -> [UInt8] {
        let layout = profile.compositeRecord
        let zeros7 = [UInt8](repeating: 0, count: 7)
        var out: [UInt8] = [layout.id, UInt8(layout.length - 2), locked ? 0x01 : 0x00, tappedOn ? 0x01 : 0x00]
        out += entryTime?.bytes ?? zeros7
        out += BigEndian.bytes(UInt64(line), width: 2) + BigEndian.bytes(UInt64(entryStop), width: 2)
        out += entryTerminal + BigEndian.bytes(UInt64(entryAmount), width: 4)
        out += lastPaidTime?.bytes ?? zeros7
        return out + [UInt8](repeating: 0, count: layout.length - out.count)
    }

    private static func time(_ bytes: ArraySlice<UInt8>) -> BCDDateTime? {
        bytes.allSatisfy { $0 == 0 } ? nil : BCDDateTime(Array(bytes))
    }
}

/// What a transit tap does: the amount to debit (0 for a tap-on) and the
/// composite record to write with it.
public struct TransitCharge: Equatable, Sendable {
    public var amount: UInt32
    public var record: CompositeRecord

    public init(amount: UInt32, record: CompositeRecord) {
        self.amount = amount
        self.record = record
    }
}

/// Decides a transit tap from the record the card holds. A decline (e.g.
/// "already checked in") refuses the tap before anything is written.
public typealias TransitFare = @Sendable (CompositeRecord, CardNumber, BCDDateTime) -> Result<TransitCharge, Decline>
