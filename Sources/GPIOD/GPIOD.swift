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

/// A GPIO chip by its character device (`gpiochip0` is `/dev/gpiochip0`),
/// opened by each `request`: libgpiod v1 or v2, whichever the build found
/// (`posd_gpio.h`).
public struct GPIOChip: Sendable {
    public let path: String

    /// The chip a board file names: a device name under /dev, or a path.
    public init(named name: String) {
        path = name.hasPrefix("/") ? name : "/dev/\(name)"
    }

    /// Requests `specs` (all on this chip) for `consumer` in one request:
    /// inputs as inputs, outputs as outputs driven to their inactive level.
    public func request(_ specs: [LineSpec], consumer: String) throws(GPIOError) -> GPIOLines {
        let offsets = specs.map { UInt32($0.offset) }
        let outputs = specs.map { $0.direction == .output }
        let initial = specs.map { Int32($0.activeLow ? 1 : 0) }
        guard let request = posd_gpio_request_lines(path, offsets, outputs, initial, UInt32(specs.count), consumer) else {
            throw GPIOError(function: "gpiod request of \(specs.count) lines on \(path)", errno: errno)
        }
        return GPIOLines(request: request, count: specs.count)
    }
}

/// Requested lines of one chip as a `LinePort`; released when it goes.
public final class GPIOLines: LinePort {
    private let request: OpaquePointer
    private let count: Int

    init(request: OpaquePointer, count: Int) {
        self.request = request
        self.count = count
    }

    deinit { posd_gpio_release(request) }

    /// Every line read at once, the asked ones returned.
    public func read(_ indexes: [Int]) throws -> [Bool] {
        var values = [Int32](repeating: 0, count: count)
        guard posd_gpio_get_all(request, &values) == 0 else { throw GPIOError(function: "gpiod get values", errno: errno) }
        return try indexes.map { index throws(GPIOError) in
            guard values.indices.contains(index) else { throw GPIOError(function: "gpiod get value \(index)", errno: EINVAL) }
            return values[index] == 1
        }
    }

    public func write(_ indexes: [Int], _ levels: [Bool]) throws {
        guard indexes.count == levels.count, indexes.allSatisfy({ (0..<count).contains($0) }) else {
            throw GPIOError(function: "gpiod set values", errno: EINVAL)
        }
        let lines = indexes.map { UInt32($0) }, values = levels.map { Int32($0 ? 1 : 0) }
        guard posd_gpio_set(request, lines, values, UInt32(indexes.count)) == 0 else { throw GPIOError(function: "gpiod set values", errno: errno) }
    }
}

/// The library's own version string (`gpiod_version_string`).
public var libgpiodVersion: String { String(cString: posd_gpio_library_version()) }

/// Which libgpiod API this build binds: 1 (Debian 12) or 2 (Debian 13).
public var libgpiodAPI: Int { Int(posd_gpio_api()) }
