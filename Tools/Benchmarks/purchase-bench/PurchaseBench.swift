import ArgumentParser
import BenchSupport
import Foundation
import ISO7816
import Journal
import Purse
import Terminal
import VirtualCards

/// One purchase tap through pcscd+vpcd against a raw `SCardTransmit` loop of
/// the very same APDU bytes, measured in the same run on the same readers.
/// The difference is what posd's purchase logic adds to the card I/O.
@main
struct PurchaseBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purchase-bench",
        abstract: "Purchase tap latency versus a raw SCardTransmit loop (needs pcscd with vpcd, slots 0 and 1 free).")

    @Option(help: "Measured taps (and as many raw replays).")
    var taps = 1000

    @Option(help: "Unmeasured warm-up rounds.")
    var warmup = 50

    @Option(parsing: .upToNextOption, help: "Journal sizes (records) at which a journalled tap is measured.")
    var journalSizes: [Int] = [0, 50_000, 500_000]

    @Option(help: "Directory for the benchmark journals (on the disk under test).")
    var directory = FileManager.default.temporaryDirectory.path

    func run() throws {
        let simulators = try BenchSimulators()
        defer { simulators.stop() }
        let (card, psam) = (simulators.card, simulators.psam)

        let terminal = try Terminal(.init(cardReader: BenchSimulators.readers[0], psamReader: BenchSimulators.readers[1]))
        let time = BCDDateTime.now()
        let flow = PurchaseFlow(recordPending: { _ in })
        let rounds = warmup + taps

        // Journals grown to each size beforehand (set-up, not measured).
        var journals: [(Int, Journal)] = []
        for size in journalSizes {
            let dir = try benchDirectory(under: directory, "purchase-bench-journal")
            try fill(Journal(directory: dir), to: size, delivered: true)
            journals.append((size, Journal(directory: dir)))
        }
        defer { for (_, journal) in journals { try? FileManager.default.removeItem(at: journal.directory) } }
        sync()  // the fill's dirty pages must not be written back during the measurements

        try terminal.withCard(timeoutMilliseconds: 10_000) { channel in
            // One recorded tap: the bytes sent and the answers, in order.
            let cardBefore = card.state, psamBefore = psam.state
            let cardLink = Recorder(channel.link), psamLink = Recorder(terminal.psam.channel.link)
            requireSuccess(flow.run(card: APDUChannel(cardLink), psam: terminal.psam.over(APDUChannel(psamLink)), amount: 1, time: time).isApproved,
                           "the recorded tap was not approved")
            let transcript = Recorder.merged(cardLink, psamLink)

            // posd's complete taps and the baseline, interleaved so both see the
            // same machine: the baseline sends the recorded bytes through bare
            // SCardTransmit, the simulators first put back (untimed) to the
            // recorded state so that every answer is the same as recorded.
            var tapTimes: [Duration] = [], rawTimes: [Duration] = [], tapCPU: Duration = .zero
            for i in 0..<rounds {
                let cpuBefore = cpuTime()
                var outcome: PurchaseOutcome?
                let tapTime = ContinuousClock().measure { outcome = flow.run(card: channel, psam: terminal.psam, amount: 1, time: time) }
                if i >= warmup { tapCPU += cpuTime() - cpuBefore }
                requireSuccess(outcome?.isApproved == true, "tap \(i) was not approved: \(outcome.map { "\($0)" } ?? "")")
                card.withCard { $0.state = cardBefore }
                psam.withCard { $0.state = psamBefore }
                let rawTime = ContinuousClock().measure {
                    for step in transcript { replayBare(step) }
                }
                if i >= warmup {
                    tapTimes.append(tapTime)
                    rawTimes.append(rawTime)
                }
            }

            // The flow alone: recorded answers from memory, no I/O at all.
            var logicTimes: [Duration] = []
            for i in 0..<rounds {
                let cardReplay = Replay(cardLink.answers), psamReplay = Replay(psamLink.answers)
                var outcome: PurchaseOutcome?
                let elapsed = ContinuousClock().measure {
                    outcome = flow.run(card: APDUChannel(cardReplay), psam: terminal.psam.over(APDUChannel(psamReplay)), amount: 1, time: time)
                }
                requireSuccess(outcome?.isApproved == true, "replayed tap \(i) was not approved")
                if i >= warmup { logicTimes.append(elapsed) }
            }

            // With the journal: PENDING durable before DEBIT, the record after, at
            // each journal size, interleaved with taps without it.
            var journalled: [(size: Int, with: Percentiles, without: Percentiles, cpu: Duration)] = []
            for (size, journal) in journals {
                var with: [Duration] = [], without: [Duration] = [], cpu: Duration = .zero
                for i in 0..<rounds {
                    var a: PurchaseOutcome?, b: PurchaseOutcome?
                    let cpuBefore = cpuTime()
                    let withTime = ContinuousClock().measure { a = terminal.purchase(on: channel, amount: 1, time: time, journal: journal) }
                    if i >= warmup { cpu += cpuTime() - cpuBefore }
                    let withoutTime = ContinuousClock().measure { b = flow.run(card: channel, psam: terminal.psam, amount: 1, time: time) }
                    requireSuccess(a?.isApproved == true, "journalled tap \(i) at \(size) records was not approved: \(a.map { "\($0)" } ?? "")")
                    requireSuccess(b?.isApproved == true, "tap \(i) beside the journal was not approved")
                    if i >= warmup {
                        with.append(withTime)
                        without.append(withoutTime)
                    }
                }
                journalled.append((size, Percentiles(with), Percentiles(without), cpu / taps))
            }

            let tap = Percentiles(tapTimes), raw = Percentiles(rawTimes), logic = Percentiles(logicTimes)
            print("purchase tap through pcscd+vpcd: \(taps) taps, \(transcript.count) APDUs each, every one approved")
            print(String(format: "  posd tap        p50 %7.3f ms   p99 %7.3f ms   CPU %7.3f ms per tap (getrusage, all threads)",
                         tap.p50, tap.p99, milliseconds(tapCPU / taps)))
            print(String(format: "  raw transmit    p50 %7.3f ms   p99 %7.3f ms   (same bytes, bare SCardTransmit)", raw.p50, raw.p99))
            print(String(format: "  ratio           p50 %7.3f      p99 %7.3f", tap.p50 / raw.p50, tap.p99 / raw.p99))
            print(String(format: "  tap minus raw   p50 %7.3f ms   p99 %7.3f ms", tap.p50 - raw.p50, tap.p99 - raw.p99))
            print(String(format: "  flow alone      p50 %7.3f ms   p99 %7.3f ms   (recorded answers, no I/O)", logic.p50, logic.p99))
            for j in journalled {
                print(String(format: "  journalled tap, %6d records: p50 %7.3f ms  p99 %7.3f ms  CPU %6.3f ms;  without journal p50 %7.3f  p99 %7.3f;  ratio p50 %5.2f  p99 %5.2f",
                             j.size, j.with.p50, j.with.p99, milliseconds(j.cpu), j.without.p50, j.without.p99,
                             j.with.p50 / j.without.p50, j.with.p99 / j.without.p99))
            }
        }
    }
}

extension PurchaseOutcome {
    var isApproved: Bool { if case .approved = self { true } else { false } }
}
