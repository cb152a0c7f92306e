/// An HD44780 character controller, decoded from its pins the way the chip
/// latches them: RS and D4–D7 are sampled on the falling edge of E. After
/// power-on it is in 8-bit mode (D0–D3 unwired read as 0); a function set
/// with DL = 0 switches it to 4-bit mode, after which each instruction or
/// character arrives as two nibbles, high first. An instruction that arrives
/// while the previous one is still executing is lost, as on the chip. So a
/// driver that skips a step of the datasheet's sequence, or does not wait,
/// shows garbage here too.
public struct HD44780Model: Sendable {
    public let columns: Int
    public let rows: Int
    public private(set) var ddram = [UInt8](repeating: 0x20, count: 128)
    public private(set) var address = 0
    public private(set) var fourBit = false
    public private(set) var displayOn = false
    public private(set) var increment = true
    public private(set) var twoLines = false
    /// Instructions lost because they came while the controller was busy.
    public private(set) var lost = 0

    private var highNibble: UInt8?
    private var busyUntil: UInt64 = 0
    private var enable = false

    public init(columns: Int = 16, rows: Int = 2) {
        self.columns = columns
        self.rows = rows
    }

    /// The pins' new levels at time `now` (nanoseconds): RS, E, D4...D7.
    public mutating func pins(rs: Bool, e: Bool, data: [Bool], now: UInt64) {
        defer { enable = e }
        guard enable && !e else { return }  // act on the falling edge of E only
        let nibble = data.enumerated().reduce(UInt8(0)) { $0 | ($1.element ? 1 << UInt8($1.offset) : 0) }
        if !fourBit {
            execute(rs: rs, byte: nibble << 4, now: now)
        } else if let high = highNibble {
            highNibble = nil
            execute(rs: rs, byte: high << 4 | nibble, now: now)
        } else {
            highNibble = nibble
        }
    }

    private mutating func execute(rs: Bool, byte: UInt8, now: UInt64) {
        guard now >= busyUntil else {
            lost += 1
            return
        }
        var duration: UInt64 = 37_000
        if rs {
            ddram[address & 0x7F] = byte
            address = (address + (increment ? 1 : -1)) & 0x7F
            busyUntil = now + duration
            return
        }
        switch byte {
        case 0x80...:
            address = Int(byte & 0x7F)
        case 0x20...:
            fourBit = byte & 0x10 == 0
            twoLines = byte & 0x08 != 0
            if !fourBit { highNibble = nil }
        case 0x10...:
            break  // cursor / display shift: not used by posd
        case 0x08...:
            displayOn = byte & 0x04 != 0
        case 0x04...:
            increment = byte & 0x02 != 0
        case 0x02...:
            address = 0
            duration = 1_520_000
        case 0x01:
            ddram = [UInt8](repeating: 0x20, count: 128)
            address = 0
            increment = true
            duration = 1_520_000
        default:
            break
        }
        busyUntil = now + duration
    }

    /// The text a person sees: each row's characters, or blanks while the
    /// display is off.
    public var visibleLines: [String] {
        let starts = [0x00, 0x40, columns, 0x40 + columns]
        return (0..<rows).map { row in
            guard displayOn else { return String(repeating: " ", count: columns) }
            let bytes = (0..<columns).map { ddram[(starts[row] + $0) & 0x7F] }
            return String(decoding: bytes.map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
        }
    }
}
