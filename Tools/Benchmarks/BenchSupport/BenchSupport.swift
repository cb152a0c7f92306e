import Foundation
import Journal

/// p50 and p99 of a set of durations, in milliseconds.
public struct Percentiles {
    public let p50: Double
    public let p99: Double

    public init(_ samples: [Duration]) {
        let ms = samples.map { Double($0.components.seconds) * 1e3 + Double($0.components.attoseconds) / 1e15 }.sorted()
        p50 = ms[ms.count / 2]
        p99 = ms[min(ms.count - 1, Int(Double(ms.count) * 0.99))]
    }
}

/// Times `body` `rounds` times after `warmup` unmeasured rounds.
public func measure(rounds: Int, warmup: Int, _ body: (Int) throws -> Void) rethrows -> [Duration] {
    var samples: [Duration] = []
    samples.reserveCapacity(rounds)
    for i in 0..<(warmup + rounds) {
        let elapsed = try ContinuousClock().measure { try body(i) }
        if i >= warmup { samples.append(elapsed) }
    }
    return samples
}

/// A realistic purchase record (the size the journal stores per tap).
public func sampleRecord(_ n: Int) -> ClearingRecord {
    ClearingRecord(kind: .purchase, time: "20261122140305", cardNo: "8888000000000001", amount: 250, balanceBefore: 10000,
                   cardCounter: n & 0xFFFF, terminalSeq: n, txType: 6, keyVersion: 1, algID: 0, tac: "CF7A5750")
}

/// Grows a journal to `count` records in large transactions (setup, not
/// measured); `delivered`: marked delivered too, as on a terminal that has
/// been uploading (undelivered, they would reach the offline limit and every
/// tap measured on the journal would be a refusal).
public func fill(_ journal: Journal, to count: Int, delivered: Bool = false) throws {
    var have = try journal.lastSeq
    while have < count {
        let batch = min(10_000, count - have)
        try journal.append(contentsOf: (0..<batch).map { sampleRecord(have + $0) })
        if delivered {
            try journal.markDelivered(Dictionary(uniqueKeysWithValues: (have + 1...have + batch).map { ($0, DeliveryVerdict.delivered) }))
        }
        have += batch
    }
}

/// CPU time this process has used so far, user and system, all threads (getrusage).
public func cpuTime() -> Duration {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func duration(_ time: timeval) -> Duration { .seconds(Int64(time.tv_sec)) + .microseconds(Int64(time.tv_usec)) }
    return duration(usage.ru_utime) + duration(usage.ru_stime)
}

/// Milliseconds of a duration, for printing.
public func milliseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e3 + Double(duration.components.attoseconds) / 1e15
}

/// Stops a benchmark whose timed operation did not do what it claims: a
/// refused tap timed as a tap would be a lie. Exit 1, with the reason.
public func requireSuccess(_ succeeded: Bool, _ what: @autoclosure () -> String) {
    guard succeeded else {
        FileHandle.standardError.write(Data("benchmark invalid: \(what())\n".utf8))
        exit(1)
    }
}

/// A figure of `/proc/<pid>/status` in KiB (`VmRSS`: all resident memory;
/// `RssAnon`: the heap and stacks, without memory-mapped file pages such as
/// the journal's, which the kernel can drop at will); nil once the process is gone.
public func statusKiB(_ field: String = "VmRSS", pid: String = "self") -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
    else { return nil }
    return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
}

/// Open file descriptors of a process (`/proc/<pid>/fd`); nil once it is gone.
public func openDescriptors(pid: String = "self") -> Int? {
    try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
}

/// A fresh directory for a benchmark's files, on the disk under test.
public func benchDirectory(under base: String, _ name: String) throws -> URL {
    let url = URL(fileURLWithPath: base).appendingPathComponent("\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
