import LineIO

/// An HD44780 character display in 4-bit mode, write-only (R/W tied low), so
/// every wait is timed rather than read from the busy flag.
public final class HD44780 {
    /// Datasheet timings, in nanoseconds (board data may lengthen them).
    public struct Timing: Codable, Equatable, Sendable {
        public var powerOn: UInt64 = 40_000_000
        public var enablePulse: UInt64 = 450
        public var command: UInt64 = 37_000
        public var clearOrHome: UInt64 = 1_520_000
        public init() {}
    }

    /// Indexes into the display's lines: RS, E, then D4, D5, D6, D7.
    public struct Pins: Sendable {
        public var rs: Int
        public var e: Int
        public var data: [Int]
        public init(rs: Int, e: Int, data: [Int]) {
            precondition(data.count == 4, "4-bit mode: D4 to D7")
            self.rs = rs
            self.e = e
            self.data = data
        }
    }

    let lines: LogicalLines
    let pins: Pins
    let clock: any PanelClock
    public let columns: Int
    public let rows: Int
    let timing: Timing

    public init(lines: LogicalLines, pins: Pins, clock: any PanelClock, columns: Int = 16, rows: Int = 2, timing: Timing = Timing()) {
        self.lines = lines
        self.pins = pins
        self.clock = clock
        self.columns = columns
        self.rows = rows
        self.timing = timing
    }

    /// The datasheet's 4-bit initialisation: three function sets in 8-bit
    /// form (which resynchronise the controller whatever state it was left
    /// in), the switch to 4 bits, then function set, display off, clear,
    /// entry mode and display on.
    public func initialize() throws {
        clock.wait(nanoseconds: timing.powerOn)
        try nibble(0x3, rs: false)
        clock.wait(nanoseconds: 4_100_000)
        try nibble(0x3, rs: false)
        clock.wait(nanoseconds: 100_000)
        try nibble(0x3, rs: false)
        clock.wait(nanoseconds: timing.command)
        try nibble(0x2, rs: false)
        clock.wait(nanoseconds: timing.command)
        try command(0x28)  // 4-bit, 2 lines, 5x8 dots
        try command(0x08)  // display off
        try command(0x01)  // clear
        try command(0x06)  // entry mode: increment, no shift
        try command(0x0C)  // display on, no cursor
    }

    /// Replaces the whole screen with `text`, one string per row, each cut or
    /// padded to the width.
    public func show(_ text: [String]) throws {
        let starts: [UInt8] = [0x00, 0x40, UInt8(columns), 0x40 + UInt8(columns)]
        for row in 0..<rows {
            try command(0x80 | starts[row])
            let line = row < text.count ? text[row] : ""
            let padded = Array(line.utf8.map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }.prefix(columns))
                + [UInt8](repeating: 0x20, count: max(0, columns - line.utf8.count))
            for byte in padded { try write(byte, rs: true) }
        }
    }

    func command(_ byte: UInt8) throws {
        try write(byte, rs: false)
    }

    private func write(_ byte: UInt8, rs: Bool) throws {
        try nibble(byte >> 4, rs: rs)
        try nibble(byte & 0x0F, rs: rs)
        clock.wait(nanoseconds: !rs && byte <= 0x03 ? timing.clearOrHome : timing.command)
    }

    /// RS and D4–D7 in one bulk write, then an E pulse: the controller latches
    /// on E's falling edge.
    private func nibble(_ value: UInt8, rs: Bool) throws {
        let bits = (0..<4).map { value >> UInt8($0) & 1 == 1 }
        try lines.write([pins.rs, pins.e] + pins.data, [rs, false] + bits)
        try lines.write([pins.e], [true])
        clock.wait(nanoseconds: timing.enablePulse)
        try lines.write([pins.e], [false])
    }
}
