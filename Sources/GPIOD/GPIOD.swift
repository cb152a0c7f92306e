import CGPIOD
import LineIO
#if canImport(Glibc)
import Glibc
#endif

/// A libgpiod failure: the call and its errno.
public struct GPIOError: Error, Equatable, CustomStringConvertible {
    public let function: String
    public let errno: Int32
    public var description: String { "\(function): \(String(cString: strerror(errno)))" }
}

/// A GPIO chip (`struct gpiod_chip`), libgpiod v1.
public final class GPIOChip {
    let raw: OpaquePointer
    public let name: String

    /// The corresponding C function is `gpiod_chip_open_by_name`.
    public static func open(name: String) throws(GPIOError) -> GPIOChip {
        guard let chip = gpiod_chip_open_by_name(name) else { throw GPIOError(function: "gpiod_chip_open_by_name(\(name))", errno: errno) }
        return GPIOChip(raw: chip, name: name)
    }

    private init(raw: OpaquePointer, name: String) {
        self.raw = raw
        self.name = name
    }

    deinit { gpiod_chip_close(raw) }

    /// Requests `specs` (all on this chip) for `consumer`: inputs as inputs,
    /// outputs as outputs driven low.
    public func request(_ specs: [LineSpec], consumer: String) throws(GPIOError) -> GPIOLines {
        var lines: [OpaquePointer] = []
        for spec in specs {
            guard let line = gpiod_chip_get_line(raw, UInt32(spec.offset)) else {
                throw GPIOError(function: "gpiod_chip_get_line(\(spec.offset))", errno: errno)
            }
            let result = spec.direction == .input
                ? gpiod_line_request_input(line, consumer)
                : gpiod_line_request_output(line, consumer, spec.activeLow ? 1 : 0)
            guard result == 0 else {
                lines.forEach { gpiod_line_release($0) }
                throw GPIOError(function: "gpiod_line_request(\(spec.offset))", errno: errno)
            }
            lines.append(line)
        }
        return GPIOLines(chip: self, lines: lines)
    }
}

/// Requested lines of one chip as a `LinePort`.
public final class GPIOLines: LinePort {
    let chip: GPIOChip  // keeps the chip open while its lines are used
    let lines: [OpaquePointer]

    init(chip: GPIOChip, lines: [OpaquePointer]) {
        self.chip = chip
        self.lines = lines
    }

    deinit { lines.forEach { gpiod_line_release($0) } }

    /// The corresponding C function is `gpiod_line_get_value`.
    public func read(_ indexes: [Int]) throws -> [Bool] {
        try indexes.map { index throws(GPIOError) in
            let value = gpiod_line_get_value(lines[index])
            guard value >= 0 else { throw GPIOError(function: "gpiod_line_get_value", errno: errno) }
            return value == 1
        }
    }

    /// The corresponding C function is `gpiod_line_set_value`.
    public func write(_ indexes: [Int], _ levels: [Bool]) throws {
        for (index, level) in zip(indexes, levels) where gpiod_line_set_value(lines[index], level ? 1 : 0) != 0 {
            throw GPIOError(function: "gpiod_line_set_value", errno: errno)
        }
    }
}

/// The library's own version string (`gpiod_version_string`).
public var libgpiodVersion: String { String(cString: gpiod_version_string()) }
