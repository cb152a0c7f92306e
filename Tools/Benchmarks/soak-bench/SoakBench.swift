import ArgumentParser
import BenchSupport
import BoardDefinition
import ClearingPlatform
import Foundation
import Hex
import Logging
import PCSC
import VirtualCards

/// `posd run` as deployed on a bus validator, tapped for hours: the service's
/// resident memory and open descriptors against the figures it settled at in
/// the same run (the baseline), so a leak of a few bytes a tap shows as a
/// ratio over the run. The binaries are the ones under test (a release
/// build, as flashed); the platform runs in this process on loopback; the card
/// and PSAM simulators are this process's own, on vpcd. Taps come as fast as
/// pcscd sees a card come and go (it polls a reader every 400 ms, so about
/// 0.8 s a tap), each by one of a pool of cards, none back within the
/// double-tap window. Every tap must be approved, every record reach the
/// platform, and the cards must have lost exactly what the platform holds.
@main
struct SoakBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak-bench",
        abstract: "posd run's memory and descriptors over many validator taps, against the settled baseline (needs pcscd with vpcd).")

    @Option(help: "Taps to make.")
    var taps = 10_000

    @Option(help: "Cards in the pool: at 0.8 s a tap, 200 cards come back after 160 s, past the 120 s double-tap window.")
    var cards = 200

    @Option(help: "Taps before the baseline is taken (start-up and first-use allocations settle).")
    var settle = 200

    @Option(help: "Taps between samples.")
    var sampleEvery = 500

    @Option(help: "vpcd's port for the card reader (the PSAM reader's is the next): 35963 for the machine's vpcd.")
    var vpcdPort: UInt16 = 35963

    @Option(help: "Directory holding the posd and posd-tech under test (default: this program's own).")
    var binaries = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path

    @Option(help: "Directory for the terminal's data and the platform's database.")
    var directory = FileManager.default.temporaryDirectory.path

    @Option(help: "Target for resident memory, MiB, judged after the settling taps and after the last.")
    var targetMiB = 30.0

    static let terminalID = "112233445566"  // the test PSAM's terminal number

    func validate() throws {
        guard (1...1_000_000).contains(taps) else { throw ValidationError("--taps: 1 to 1000000") }
        guard (1...10_000).contains(cards) else { throw ValidationError("--cards: 1 to 10000") }
        guard (0..<taps).contains(settle) else { throw ValidationError("--settle: 0 to taps - 1") }
        guard sampleEvery >= 1 else { throw ValidationError("--sample-every: at least 1") }
        guard vpcdPort < UInt16.max else { throw ValidationError("--vpcd-port: the PSAM reader's port must exist too") }
    }

    /// Card `index` of the pool: test card 1's profile and keys for a number of its own.
    static func poolCard(_ index: Int) -> PurseCardState {
        var ef15 = PurseCardState.testCard1().ef15
        ef15.replaceSubrange(12..<20, with: [UInt8](hex: String(format: "77770000%08d", index))!)
        return PurseCardState.personalise(profile: .cu, ef15: ef15, appVersion: 0x01, algorithmID: 0x00,
                                          balance: 100_000, offlineCounter: 0, onlineCounter: 0)
    }

    struct Sample {
        let taps: Int
        let rssKiB: Int
        let anonKiB: Int
        let fds: Int
    }

    func run() async throws {
        let readers = BoardDefinition.benchReaders
        try PCSCContext().waitUntilEmpty([readers.card, readers.psam], timeoutMilliseconds: 10_000)
        let base = try benchDirectory(under: directory, "soak-bench")
        defer { try? FileManager.default.removeItem(at: base) }

        var pool = (0..<cards).map(Self.poolCard)
        let card = VPCDHost(card: SimulatedPurseCard(state: pool[0]), port: vpcdPort, stateFile: nil, present: false)
        let psam = VPCDHost(card: SimulatedPSAM(state: .testPSAM()), port: vpcdPort + 1, stateFile: nil)
        card.start()
        psam.start()
        defer {
            card.stop()
            psam.stop()
        }

        // The platform on loopback, the terminal enrolled.
        let platform = try Platform(path: base.appendingPathComponent("platform.sqlite").path)
        var platformLogger = Logger(label: "platform")
        platformLogger.logLevel = .warning
        let server = PlatformServer(platform: platform, host: "127.0.0.1", port: 0, control: false, logger: platformLogger)
        let (portStream, portSink) = AsyncStream.makeStream(of: Int.self)
        let serverTask = Task { try await server.run { portSink.yield($0) } }
        defer { serverTask.cancel() }
        var ports = portStream.makeAsyncIterator()
        guard let port = await ports.next() else { throw ValidationError("the platform did not start") }
        let token = base.appendingPathComponent("token")
        let tokenValue = UUID().uuidString
        try Data(tokenValue.utf8).write(to: token)
        try platform.enroll(terminalID: Self.terminalID, token: tokenValue)

        // Provisioned and started as a technician and systemd would.
        let data = base.appendingPathComponent("data").path
        let provision = try runToCompletion("posd-tech", [
            "provision", "--data-dir", data, "--terminal-id", Self.terminalID, "--clearing-url", "http://127.0.0.1:\(port)",
            "--token-file", token.path, "--mode", "validator", "--line", "18", "--stop", "1",
            "--card-reader", readers.card, "--psam-reader", readers.psam,
        ])
        requireSuccess(provision.status == 0, "posd-tech provision failed: \(provision.output)")
        let service = Process()
        service.executableURL = URL(fileURLWithPath: binaries).appendingPathComponent("posd")
        service.arguments = ["run", "--data-dir", data]
        let out = Pipe(), err = Pipe()
        (service.standardOutput, service.standardError) = (out, err)
        try service.run()
        defer {
            if service.isRunning { service.terminate() }
            service.waitUntilExit()
        }
        let results = LineWatcher(out.fileHandleForReading), log = LineWatcher(err.fileHandleForReading)
        requireSuccess(log.await("ready", seconds: 60) != nil, "posd run did not get ready: \(log.all.suffix(5))")
        let pid = "\(service.processIdentifier)"
        func sample(_ count: Int) -> Sample {
            Sample(taps: count, rssKiB: statusKiB(pid: pid) ?? 0, anonKiB: statusKiB("RssAnon", pid: pid) ?? 0, fds: openDescriptors(pid: pid) ?? 0)
        }

        say("soak-bench: posd run (\(binaries)/posd) as a validator, \(taps) taps by \(cards) cards …")
        var samples = [sample(0)]
        var latencies: [Duration] = []
        latencies.reserveCapacity(taps)
        let pcsc = try PCSCContext()
        let started = ContinuousClock.now
        for tap in 0..<taps {
            let index = tap % cards
            card.withCard { $0 = SimulatedPurseCard(state: pool[index]) }
            let presented = ContinuousClock.now
            card.insert()
            guard let result = results.await(after: tap, seconds: 30) else {
                requireSuccess(false, "tap \(tap + 1): no result from posd run: \(log.all.suffix(5))")
                return
            }
            latencies.append(ContinuousClock.now - presented)
            requireSuccess(result.line.hasPrefix("APPROVED"), "tap \(tap + 1) was not approved: \(result.line)")
            card.remove()
            pool[index] = card.withCard { $0.state }
            try pcsc.waitForRemoval(from: readers.card, timeoutMilliseconds: 10_000)
            if tap + 1 == settle || (tap + 1) % sampleEvery == 0 || tap + 1 == taps {
                samples.append(sample(tap + 1))
                if (tap + 1) % sampleEvery == 0 { say("  \(tap + 1) taps: " + describe(samples.last!)) }
            }
        }
        let elapsed = ContinuousClock.now - started
        let last = samples.last!

        // The books: every tap delivered and accepted, the cards' loss the platform's debits.
        let deadline = ContinuousClock.now + .seconds(120)
        var summary = try platform.summary(terminalID: Self.terminalID)
        while summary.accepted < taps, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            summary = try platform.summary(terminalID: Self.terminalID)
        }
        service.terminate()
        service.waitUntilExit()
        let lost = zip((0..<cards).map(Self.poolCard), pool).reduce(0) { $0 + Int($1.0.balance) - Int($1.1.balance) }
        requireSuccess(summary.accepted == taps && summary.records == taps,
                       "the platform accepted \(summary.accepted) of \(taps) records (\(summary.records) received, rejected \(summary.rejected))")
        requireSuccess(lost == summary.debitAmount, "the cards lost \(lost) fen, the platform holds \(summary.debitAmount) fen of debits")

        let baseline = samples.first { $0.taps == settle } ?? samples[0]
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        say(String(format: "%d taps in %.0f s (%.2f s a tap); %d records accepted by the platform, %d fen, the cards' loss to the fen",
                     taps, seconds, seconds / Double(taps), summary.accepted, summary.debitAmount))
        say("idle after start:           " + describe(samples[0]))
        say("baseline, after \(settle) taps: " + describe(baseline))
        say("after \(taps) taps: " + describe(last))
        let growth = Double(last.rssKiB - baseline.rssKiB) / 1024, taken = max(1, taps - settle)
        say(String(format: "ratio to the baseline: resident %.3f, heap %.3f, descriptors %.2f; growth %.2f MiB (%.1f bytes a tap)",
                     Double(last.rssKiB) / Double(max(1, baseline.rssKiB)), Double(last.anonKiB) / Double(max(1, baseline.anonKiB)),
                     Double(last.fds) / Double(max(1, baseline.fds)), growth, growth * 1_048_576 / Double(taken)))
        let first = Percentiles(Array(latencies.prefix(1000))), final = Percentiles(Array(latencies.suffix(1000)))
        say(String(format: "tap latency (card in to result) p50/p99: first 1000 %.0f/%.0f ms, last 1000 %.0f/%.0f ms (pcscd's 400 ms polling included)",
                     first.p50, first.p99, final.p50, final.p99))
        for (label, figure) in [("idle", samples[0]), ("after \(taps) taps", last)] {
            let mib = Double(figure.rssKiB) / 1024
            say("resident memory \(label): " + String(format: "%.1f MiB, target <= %.0f MiB: ", mib, targetMiB) + (mib <= targetMiB ? "ok" : "MISSED"))
        }
    }

    /// A line to stdout at once, unbuffered (into a file too): a run lasts hours.
    func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func describe(_ sample: Sample) -> String {
        String(format: "resident %.1f MiB, heap %.1f MiB, %d descriptors", Double(sample.rssKiB) / 1024, Double(sample.anonKiB) / 1024, sample.fds)
    }

    /// A package tool run to its end, its output collected.
    func runToCompletion(_ tool: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binaries).appendingPathComponent(tool)
        process.arguments = arguments
        let pipe = Pipe()
        (process.standardOutput, process.standardError) = (pipe, pipe)
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
