import Hex

/// A BCD date `YYYYMMDD` (4 bytes). Ordering is the calendar order, because
/// packed BCD compares like the decimal digits it holds.
public struct BCDDate: Comparable, Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ bytes: [UInt8]) {
        guard bytes.count == 4, bytes.allSatisfy(BCD.isValid) else { return nil }
        self.bytes = bytes
    }

    public static func < (a: BCDDate, b: BCDDate) -> Bool {
        a.bytes.lexicographicallyPrecedes(b.bytes)
    }

    public var description: String { bytes.hex }
}

/// The 7-byte BCD date and time `YYYYMMDDhhmmss` that goes to the PSAM, the
/// card and the journal. Built from the terminal's local clock by the caller.
public struct BCDDateTime: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(_ bytes: [UInt8]) {
        guard bytes.count == 7, bytes.allSatisfy(BCD.isValid) else { return nil }
        self.bytes = bytes
    }

    public init?(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        guard (2000...9999).contains(year), (1...12).contains(month), (1...31).contains(day),
              (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second)
        else { return nil }
        self.bytes = [year / 100, year % 100, month, day, hour, minute, second].map(BCD.encode)
    }

    /// Parses `YYYYMMDDhhmmss`.
    public init?(text: String) {
        guard text.utf8.count == 14, let bytes = [UInt8](hex: text) else { return nil }
        self.init(bytes)
    }

    public var date: BCDDate { BCDDate(Array(bytes[0..<4]))! }
    public var description: String { bytes.hex }

    /// Seconds from `earlier` to this time, both read as the same wall clock
    /// (a daylight-saving change between them is not counted). Any BCD digits
    /// give an answer, never a trap: a card's stored time may be nonsense.
    public func seconds(since earlier: BCDDateTime) -> Int {
        wallClockSeconds - earlier.wallClockSeconds
    }

    /// Seconds since 0000-03-01 on the proleptic Gregorian calendar: days by
    /// the civil-from-days arithmetic (a year begins in March, so the leap
    /// day ends it), then the time of day.
    private var wallClockSeconds: Int {
        let d = bytes.map { Int($0 >> 4) * 10 + Int($0 & 0x0F) }
        let (month, day) = (d[2], d[3])
        let year = d[0] * 100 + d[1] - (month <= 2 ? 1 : 0)
        let dayOfYear = (153 * ((month + 9) % 12) + 2) / 5 + day - 1
        let days = year * 365 + year / 4 - year / 100 + year / 400 + dayOfYear
        return days * 86_400 + d[4] * 3600 + d[5] * 60 + d[6]
    }
}

enum BCD {
    static func isValid(_ byte: UInt8) -> Bool { byte >> 4 <= 9 && byte & 0x0F <= 9 }
    static func encode(_ value: Int) -> UInt8 { UInt8((value / 10) << 4 | value % 10) }
}
