import Foundation

/// Collects a process's output lines on a thread of its own (so the pipe never
/// fills) and lets a test wait, on a condition variable, for a line that
/// contains some text: event-driven, bounded, no polling.
public final class LineWatcher: @unchecked Sendable {
    private let condition = NSCondition()
    private var lines: [String] = []
    private var closed = false

    public init(_ handle: FileHandle) {
        let thread = Thread { [self] in
            var pending: [UInt8] = []
            // `availableData` returns what the pipe holds now (`read(upToCount:)` would wait for the whole count).
            while case let chunk = handle.availableData, !chunk.isEmpty {
                pending += chunk
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[..<newline], as: UTF8.self)
                    pending.removeSubrange(...newline)
                    condition.withLock {
                        lines.append(line)
                        condition.broadcast()
                    }
                }
            }
            condition.withLock {
                closed = true
                condition.broadcast()
            }
        }
        thread.start()
    }

    /// The first line after the `from`-th one that contains every one of
    /// `texts`, and its index; nil after `seconds`, or if the output ends first.
    public func await(_ texts: String..., after from: Int = 0, seconds: Double = 30) -> (index: Int, line: String)? {
        let deadline = Date(timeIntervalSinceNow: seconds)
        return condition.withLock {
            var next = from
            while true {
                while next < lines.count {
                    if texts.allSatisfy(lines[next].contains) { return (next, lines[next]) }
                    next += 1
                }
                if closed || !condition.wait(until: deadline) { return nil }
            }
        }
    }

    public var all: [String] { condition.withLock { lines } }
}
