import BoardModel
import LineIO
@testable import Panel
import Testing

/// A clock that moves only when waited on or advanced.
final class TestClock: PanelClock {
    var nanoseconds: UInt64 = 0
    func wait(nanoseconds delay: UInt64) { nanoseconds += delay }
}

/// The board simulator's models behind a `LinePort`, in process: line 0...3
/// keypad rows (inputs, active-low with pull-ups), 4...6 columns (outputs,
/// active-low), 7 RS, 8 E, 9...12 D4-D7.
final class Board: LinePort {
    var matrix = KeypadMatrix(rows: 4, columns: 3)
    var display = HD44780Model()
    /// Keypad lines idle high (pulled up, active-low); display lines low.
    var levels = [Bool](repeating: true, count: 7) + [Bool](repeating: false, count: 6)
    /// Every E falling edge: RS, D7...D4 as a nibble, and when.
    var strobes: [(rs: Bool, nibble: UInt8, at: UInt64)] = []
    let clock: TestClock

    static let specs: [LineSpec] = (0..<4).map { LineSpec(chip: "sim", offset: $0, direction: .input, activeLow: true) }
        + (4..<7).map { LineSpec(chip: "sim", offset: $0, direction: .output, activeLow: true) }
        + (7..<13).map { LineSpec(chip: "sim", offset: $0, direction: .output) }
    static let labels = [["1", "2", "3"], ["4", "5", "6"], ["7", "8", "9"], ["*", "0", "#"]]

    init(clock: TestClock) { self.clock = clock }

    /// The board's lines as the drivers see them.
    var lines: LogicalLines { LogicalLines(port: self, specs: Self.specs) }
    static let displayPins = HD44780.Pins(rs: 7, e: 8, data: [9, 10, 11, 12])

    func read(_ indexes: [Int]) throws -> [Bool] {
        let rows = matrix.rowLevels(columnLevels: Array(levels[4..<7]))
        return indexes.map { $0 < 4 ? rows[$0] : levels[$0] }
    }

    func write(_ indexes: [Int], _ values: [Bool]) throws {
        let enableWas = levels[8]
        for (index, value) in zip(indexes, values) { levels[index] = value }
        if enableWas && !levels[8] {
            let nibble = (0..<4).reduce(UInt8(0)) { $0 | (levels[9 + $1] ? 1 << UInt8($1) : 0) }
            strobes.append((levels[7], nibble, clock.nanoseconds))
        }
        display.pins(rs: levels[7], e: levels[8], data: Array(levels[9..<13]), now: clock.nanoseconds)
    }

    func key(_ label: String) -> KeypadMatrix.Position {
        let row = Self.labels.firstIndex { $0.contains(label) }!
        return KeypadMatrix.Position(row: row, column: Self.labels[row].firstIndex(of: label)!)
    }
}

@Suite struct KeypadTests {
    let clock = TestClock()
    let board: Board
    let keypad: MatrixKeypad

    init() {
        board = Board(clock: clock)
        keypad = MatrixKeypad(lines: board.lines, rows: [0, 1, 2, 3], columns: [4, 5, 6],
                              labels: Board.labels, clock: clock, timing: .init(settle: 5_000, debounce: 20_000_000))
    }

    func poll(for milliseconds: UInt64) throws -> [MatrixKeypad.Event] {
        var events: [MatrixKeypad.Event] = []
        let end = clock.nanoseconds + milliseconds * 1_000_000
        while clock.nanoseconds < end {
            events += try keypad.poll()
            clock.nanoseconds += 1_000_000  // one scan per millisecond
        }
        return events
    }

    @Test func aHeldKeyGoesDownOnceAndUpOnce() throws {
        board.matrix.press(board.key("5"))
        #expect(try poll(for: 30) == [.down("5")])
        board.matrix.release(board.key("5"))
        #expect(try poll(for: 30) == [.up("5")])
    }

    @Test func bouncesShorterThanTheDebounceAreIgnored() throws {
        for _ in 0..<5 {  // 10 ms on, 5 ms off: contact bounce
            board.matrix.press(board.key("7"))
            #expect(try poll(for: 10).isEmpty)
            board.matrix.release(board.key("7"))
            #expect(try poll(for: 5).isEmpty)
        }
        board.matrix.press(board.key("7"))
        #expect(try poll(for: 25) == [.down("7")], "held past the debounce time: one key-down")
    }

    @Test func twoKeysInOneRowAreBothSeen() throws {
        board.matrix.press(board.key("1"))
        board.matrix.press(board.key("3"))
        #expect(Set(try poll(for: 30)) == [.down("1"), .down("3")])
    }

    @Test func aGhostIsReportedNotGuessed() throws {
        // 1, 2 and 4: three corners of the 1-2-4-5 rectangle; 5 would read pressed.
        for label in ["1", "2", "4"] { board.matrix.press(board.key(label)) }
        let events = try poll(for: 30)
        #expect(events.first == .ambiguous(["1", "2", "4", "5"]))
        #expect(!events.contains(.down("5")), "the ghost is never reported as a key")
        #expect(!events.contains { if case .down = $0 { true } else { false } })
    }
}

@Suite struct DisplayTests {
    let clock = TestClock()
    let board: Board
    let display: HD44780

    init() {
        board = Board(clock: clock)
        display = HD44780(lines: board.lines, pins: Board.displayPins, clock: clock)
    }

    @Test func initThenTextReadsBackFromTheDecodedController() throws {
        try display.initialize()
        try display.show(["AMOUNT", "12.50"])
        #expect(board.display.visibleLines == ["AMOUNT          ", "12.50           "])
        #expect(board.display.lost == 0)
        #expect(board.display.fourBit)
    }

    /// The driver's strobes against the datasheet's 4-bit initialisation:
    /// nibbles, RS low throughout, and at least the waits it prescribes.
    @Test func initFollowsTheDatasheetSequence() throws {
        try display.initialize()
        let nibbles = board.strobes.map(\.nibble)
        #expect(nibbles == [0x3, 0x3, 0x3, 0x2, 0x2, 0x8, 0x0, 0x8, 0x0, 0x1, 0x0, 0x6, 0x0, 0xC])
        #expect(board.strobes.allSatisfy { !$0.rs })
        let t = board.strobes.map(\.at)
        #expect(t[0] >= 40_000_000, "more than 40 ms after power reaches 2.7 V")
        #expect(t[1] - t[0] >= 4_100_000)
        #expect(t[2] - t[1] >= 100_000)
        #expect(t[10] - t[9] >= 1_520_000, "clear display takes 1.52 ms")
    }

    @Test func initResynchronisesAControllerLeftMidInstruction() throws {
        try display.initialize()
        // posd restarted halfway through a byte: the controller waits for a low nibble.
        try board.write([7, 9, 10, 11, 12, 8], [false, true, false, false, true, true])
        try board.write([8], [false])
        clock.nanoseconds += 100_000
        try display.initialize()
        try display.show(["READY", ""])
        #expect(board.display.visibleLines.first == "READY           ")
    }

    @Test func skippingTheInitSequenceShowsGarbage() throws {
        try display.initialize()
        try board.write([7, 9, 10, 11, 12, 8], [false, true, false, false, true, true])  // half a byte, as above
        try board.write([8], [false])
        clock.nanoseconds += 100_000
        // A driver that goes straight to function set and display on:
        try display.command(0x28)
        try display.command(0x0C)
        try display.show(["READY", ""])
        #expect(board.display.visibleLines.first != "READY           ")
    }

    @Test func notWaitingAfterClearLosesInstructions() throws {
        var hurried = HD44780.Timing()
        hurried.clearOrHome = 37_000  // shorter than the 1.52 ms a clear takes
        let fast = HD44780(lines: board.lines, pins: Board.displayPins, clock: clock, timing: hurried)
        try fast.initialize()
        #expect(board.display.lost > 0)
    }
}
