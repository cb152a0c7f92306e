import ArgumentParser
import BenchSupport
import Foundation
import Journal

/// Durable journal commits against a raw `write` + `fdatasync` append of the
/// same record size, in the same run, in the same directory; then the
/// write-ahead pair of a tap (PENDING, then the record) at several journal sizes.
@main
struct JournalBench: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "journal-bench",
                                                    abstract: "Journal commit cost versus raw fdatasync appends.")

    @Option(help: "Measured commits per series.")
    var commits = 2000

    @Option(help: "Directory on the disk under test.")
    var directory = FileManager.default.temporaryDirectory.path

    @Option(parsing: .upToNextOption, help: "Journal sizes (records) at which the per-tap cost is measured.")
    var sizes: [Int] = [0, 50_000, 500_000]

    @Option(help: "Hot-list entries for the lookup benchmark.")
    var hotListSize = 1_000_000

    func run() throws {
        let base = try benchDirectory(under: directory, "journal-bench")
        defer { try? FileManager.default.removeItem(at: base) }
        let record = sampleRecord(1)
        let size = record.canonicalBytes.count + 64

        // Baseline: append the same number of bytes and fdatasync, nothing else.
        let rawPath = base.appendingPathComponent("raw.log").path
        let fd = open(rawPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot create \(rawPath)") }
        let bytes = [UInt8](repeating: 0x41, count: size)
        let journal = Journal(directory: base.appendingPathComponent("journal"))
        guard journal.fault == nil else { throw ValidationError(journal.fault!) }

        // Interleaved, one raw append then one journal commit, so that both
        // series see the same disk and the same noise.
        var rawSamples: [Duration] = [], commitSamples: [Duration] = []
        let clock = ContinuousClock()
        for n in 0..<(commits + 50) {
            let rawTime = clock.measure {
                guard write(fd, bytes, bytes.count) == bytes.count, fdatasync(fd) == 0 else { fatalError("raw append failed") }
            }
            let commitTime = try clock.measure { try journal.append(sampleRecord(n)) }
            if n >= 50 {
                rawSamples.append(rawTime)
                commitSamples.append(commitTime)
            }
        }
        close(fd)
        let raw = Percentiles(rawSamples), commit = Percentiles(commitSamples)

        let encoding = Percentiles(measure(rounds: commits, warmup: 50) { n in
            let canonical = sampleRecord(n).canonicalBytes
            _ = ClearingRecord.hash(prevHash: ClearingRecord.genesisHash, canonical: canonical)
        })

        print("durable commit of one \(size)-byte record, \(commits) commits")
        print(String(format: "  raw write+fdatasync  p50 %6.3f ms  p99 %6.3f ms  (%5.0f/s at p50)", raw.p50, raw.p99, 1000 / raw.p50))
        print(String(format: "  journal append       p50 %6.3f ms  p99 %6.3f ms  (%5.0f/s at p50)", commit.p50, commit.p99, 1000 / commit.p50))
        print(String(format: "  ratio                p50 %6.3f     p99 %6.3f", commit.p50 / raw.p50, commit.p99 / raw.p99))
        print(String(format: "  of which encode+hash p50 %6.3f ms  p99 %6.3f ms  (CPU only)", encoding.p50, encoding.p99))

        print("write-ahead pair of one tap (PENDING durable, then the record), by journal size")
        let entry = PendingEntry(cardNo: "8888000000000001", profile: "CU", txType: 6, amount: 250, balanceBefore: 10000,
                                 cardCounter: 5, keyVersion: 1, algID: 0, random: "7E3A91C4", terminalSeq: 257,
                                 time: "20261122140305", terminalNo: "112233445566")
        for size in sizes {
            let sized = Journal(directory: base.appendingPathComponent("journal-\(size)"))
            try fill(sized, to: size)
            let reopened = Journal(directory: base.appendingPathComponent("journal-\(size)"))  // a start, as on the terminal
            let pair = Percentiles(try measure(rounds: min(commits, 1000), warmup: 50) { n in
                let id = try reopened.recordPending(entry)
                try reopened.close(entry: id, as: sampleRecord(n))
            })
            print(String(format: "  %7d records     p50 %6.3f ms  p99 %6.3f ms  (%.2f raw fdatasyncs at p50)",
                         size, pair.p50, pair.p99, pair.p50 / raw.p50))
        }
    
        try hotListLookups(base)
    }

    /// Hot-list lookups with a million entries: time per lookup (half of the
    /// numbers listed, half not) and the process's peak memory.
    func hotListLookups(_ base: URL) throws {
        let journal = Journal(directory: base.appendingPathComponent("hotlist"))
        try journal.applyHotList(version: 1, full: true,
                                 add: (0..<hotListSize).map { String(format: "8888%012llX", UInt64($0) &* 2) }, remove: [])
        let probes = (0..<100_000).map { _ in String(format: "8888%012llX", UInt64.random(in: 0..<UInt64(hotListSize * 2))) }
        let before = residentKiB()
        var hits = 0
        var failed = 0
        let lookups = measure(rounds: probes.count, warmup: 1000) { i in
            do {
                if try journal.isHotListed(probes[i % probes.count]) { hits += 1 }
            } catch {
                failed += 1
            }
        }
        precondition(failed == 0, "\(failed) hot-list lookups failed")
        let timing = Percentiles(lookups)
        print("hot list of \(hotListSize) entries, \(probes.count) lookups (\(hits) on the list)")
        print(String(format: "  lookup               p50 %6.2f µs  p99 %6.2f µs", timing.p50 * 1000, timing.p99 * 1000))
        print("  resident memory \(before / 1024) MiB before the lookups, \(residentKiB() / 1024) MiB after: the list stays on disk")
    }
}

/// Resident set size now, from /proc/self/statm.
func residentKiB() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
          let pages = text.split(separator: " ").dropFirst().first.flatMap({ Int($0) })
    else { return 0 }
    return pages * Int(sysconf(Int32(_SC_PAGESIZE))) / 1024
}
