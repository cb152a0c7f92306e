/// The GPIO seam (after libgpiod v1's bulk calls): a set of requested lines,
/// read and written together. Values here are *physical* levels; polarity is
/// applied once, above, by `LogicalLines`.
///
/// Two implementations: `GPIOD` on the terminal (libgpiod v1) and `SimLink`
/// on the bench (a board simulator at the level of line values).
public protocol LinePort: AnyObject {
    /// The physical levels of the lines at `indexes` (indexes into the request).
    func read(_ indexes: [Int]) throws -> [Bool]
    /// Drives the output lines at `indexes` to `levels`, as one operation.
    func write(_ indexes: [Int], _ levels: [Bool]) throws
}

/// One line's place and meaning, from the board definition.
public struct LineSpec: Codable, Equatable, Sendable {
    public enum Direction: String, Codable, Sendable { case input, output }
    public var chip: String
    public var offset: Int
    public var direction: Direction
    /// Active-low: logical `true` is physical low (keypad rows with pull-ups, say).
    public var activeLow: Bool

    public init(chip: String, offset: Int, direction: Direction, activeLow: Bool = false) {
        self.chip = chip
        self.offset = offset
        self.direction = direction
        self.activeLow = activeLow
    }
}

/// Logical values over a `LinePort`: the only place polarity is applied.
public struct LogicalLines {
    public let port: any LinePort
    public let specs: [LineSpec]

    public init(port: any LinePort, specs: [LineSpec]) {
        self.port = port
        self.specs = specs
    }

    public func read(_ indexes: [Int]) throws -> [Bool] {
        zip(indexes, try port.read(indexes)).map { index, level in level != specs[index].activeLow }
    }

    public func write(_ indexes: [Int], _ values: [Bool]) throws {
        try port.write(indexes, zip(indexes, values).map { index, value in value != specs[index].activeLow })
    }
}

/// Time as the drivers see it: injected, so that tests and the simulator can
/// run debounce and display timings without real waiting.
public protocol PanelClock: AnyObject {
    /// Monotonic time in nanoseconds.
    var nanoseconds: UInt64 { get }
    /// Waits at least `nanoseconds`.
    func wait(nanoseconds: UInt64)
}
