import ArgumentParser
import BenchSupport
import Fares
import Foundation
import Hex
import ISO7816
import Journal
import Purse
import Terminal
import VirtualCards

/// Validator taps through pcscd+vpcd, journalled, against the baseline of the
/// same APDU bytes through bare `SCardTransmit` plus two raw `write` +
/// `fdatasync` appends (the journal's two commits), in one run; then a rush
/// hour of back-to-back taps across many cards.
@main
struct TransitBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transit-bench",
        abstract: "Tap-on/tap-off latency versus raw SCardTransmit + fdatasync, and a rush hour (needs pcscd with vpcd, slots 0 and 1 free).")

    @Option(help: "Measured tap-on/tap-off pairs (and as many baseline replays).")
    var pairs = 500

    @Option(help: "Unmeasured warm-up pairs.")
    var warmup = 20

    @Option(help: "Taps in the rush-hour run.")
    var rushHourTaps = 10_000

    @Option(help: "Distinct cards in the rush-hour run.")
    var cards = 50

    @Option(help: "Directory for the journals and the raw append file (on the disk under test).")
    var directory = FileManager.default.temporaryDirectory.path

    static let route = Route(line: 0x12, stops: ["Depot", "Market", "Station", "Harbour"],
                             fares: [[0, 200, 300, 400], [200, 0, 200, 300], [300, 200, 0, 200], [400, 300, 200, 0]])

    func rules(stop: UInt16, terminal: [UInt8]) -> FareRules {
        FareRules(mode: .distance(Self.route), line: 0x12, stop: stop, terminal: terminal, transferWindowSeconds: 5400, transferDiscount: 100)
    }

    func run() throws {
        let simulators = try BenchSimulators()
        defer { simulators.stop() }
        let (card, psam) = (simulators.card, simulators.psam)
        let base = try benchDirectory(under: directory, "transit-bench")
        defer { try? FileManager.default.removeItem(at: base) }
        let terminal = try Terminal(.init(cardReader: BenchSimulators.readers[0], psamReader: BenchSimulators.readers[1]))
        let us = terminal.psam.terminalNumber
        let tapOn = rules(stop: 0, terminal: us), tapOff = rules(stop: 3, terminal: us)
        let time = BCDDateTime.now()

        // The baseline's journal stand-in: two appends of a record's size, each made durable.
        let rawPath = base.appendingPathComponent("raw.log").path
        let fd = open(rawPath, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw ValidationError("cannot create \(rawPath)") }
        defer { close(fd) }
        let recordBytes = [UInt8](repeating: 0x41, count: 330)
        func rawCommits() {
            for _ in 0..<2 {
                let written = recordBytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                requireSuccess(written == recordBytes.count && fdatasync(fd) == 0, "the baseline's durable append failed")
            }
        }

        let journal = Journal(directory: base.appendingPathComponent("pairs"))
        try terminal.withCard(timeoutMilliseconds: 10_000) { channel in
            // One recorded tap-on and tap-off: the exact bytes posd sends.
            let cardBefore = card.state, psamBefore = psam.state
            let flow = PurchaseFlow(recordPending: { _ in })
            var transcripts: [[(link: CardLink, command: [UInt8])]] = []
            for rules in [tapOn, tapOff] {
                let cardLink = Recorder(channel.link), psamLink = Recorder(terminal.psam.channel.link)
                guard case .approved = flow.runTransit(card: APDUChannel(cardLink), psam: terminal.psam.over(APDUChannel(psamLink)),
                                                       time: time, fare: { rules.charge($0, card: $1, now: $2) })
                else { fatalError("the recorded tap was not approved") }
                transcripts.append(Recorder.merged(cardLink, psamLink))
            }

            var posd: [[Duration]] = [[], []], raw: [[Duration]] = [[], []], rawAPDU: [[Duration]] = [[], []]
            for i in 0..<(warmup + pairs) {
                for (k, rules) in [tapOn, tapOff].enumerated() {
                    let elapsed = ContinuousClock().measure {
                        guard case .approved = terminal.tap(on: channel, time: time, journal: journal, mostCharged: 400,
                                                            fare: { rules.charge($0, card: $1, now: $2) })
                        else { fatalError("tap \(i) was not approved") }
                    }
                    if i >= warmup { posd[k].append(elapsed) }
                }
                card.withCard { $0.state = cardBefore }
                psam.withCard { $0.state = psamBefore }
                for k in 0..<2 {
                    var apdu = Duration.zero
                    let elapsed = ContinuousClock().measure {
                        apdu = ContinuousClock().measure { for step in transcripts[k] { replayBare(step) } }
                        rawCommits()
                    }
                    if i >= warmup {
                        raw[k].append(elapsed)
                        rawAPDU[k].append(apdu)
                    }
                }
            }
            print("validator taps through pcscd+vpcd, journalled: \(pairs) tap-on/tap-off pairs")
            for (k, name) in ["tap-on ", "tap-off"].enumerated() {
                let p = Percentiles(posd[k]), r = Percentiles(raw[k]), a = Percentiles(rawAPDU[k])
                let own = Percentiles(zip(posd[k], rawAPDU[k]).map { $0 - $1 })
                print(String(format: "  %@ posd p50 %6.3f ms p99 %6.3f ms | raw APDUs + 2 fdatasync p50 %6.3f p99 %6.3f | ratio p50 %4.2f p99 %4.2f",
                             name, p.p50, p.p99, r.p50, r.p99, p.p50 / r.p50, p.p99 / r.p99))
                print(String(format: "          %d APDUs; raw APDUs alone p50 %6.3f ms; posd's own time (tap − raw APDUs) p50 %6.3f ms p99 %6.3f ms",
                             transcripts[k].count, a.p50, own.p50, own.p99))
            }
        }

        try rushHour(card: card, terminal: terminal, base: base, us: us)
    }

    /// Back-to-back taps across many cards, one "second" apart on the cards'
    /// clocks: each card taps on at one stop and off at the next.
    func rushHour(card: VPCDHost<SimulatedPurseCard>, terminal: Terminal, base: URL, us: [UInt8]) throws {
        var states: [PurseCardState] = (0..<cards).map { n in
            var ef15 = [UInt8](hex: "888810000000000001010000888800000000000120250101203512310000")!
            ef15[16..<20] = ArraySlice([UInt8](hex: String(format: "%08d", 1000 + n))!)  // card numbers are BCD
            return PurseCardState.personalise(profile: .cu, ef15: ef15, appVersion: 0x01, algorithmID: 0x00,
                                              balance: 100_000_000, offlineCounter: 0, onlineCounter: 0)
        }
        let journal = Journal(directory: base.appendingPathComponent("rush-hour"))
        let start = Date()
        var times: [Duration] = []
        var refused = 0
        try terminal.withCard(timeoutMilliseconds: 10_000) { channel in
            for i in 0..<rushHourTaps {
                let n = i % cards
                card.withCard { $0.state = states[n] }  // the next passenger's card
                let rules = rules(stop: UInt16((i / cards) % 4), terminal: us)
                let now = BCDDateTime.now(start.addingTimeInterval(Double(i)))
                var outcome: PurchaseOutcome?
                let elapsed = ContinuousClock().measure {
                    outcome = terminal.tap(on: channel, time: now, journal: journal, mostCharged: 400,
                                           fare: { rules.charge($0, card: $1, now: $2) })
                }
                if case .approved = outcome {} else { refused += 1 }
                times.append(elapsed)
                states[n] = card.state
            }
        }
        let slice = max(1, min(1000, rushHourTaps / 10))
        let first = Percentiles(Array(times.prefix(slice))), last = Percentiles(Array(times.suffix(slice))), all = Percentiles(times)
        print("rush hour: \(rushHourTaps) back-to-back taps across \(cards) cards, journal grown to \(try journal.lastSeq) records, \(refused) refused")
        print(String(format: "  all taps        p50 %6.3f ms  p99 %6.3f ms", all.p50, all.p99))
        print(String(format: "  first %5d     p50 %6.3f ms  p99 %6.3f ms", slice, first.p50, first.p99))
        print(String(format: "  last  %5d     p50 %6.3f ms  p99 %6.3f ms  (last/first p50 %4.2f)", slice, last.p50, last.p99, last.p50 / first.p50))
    }
}
