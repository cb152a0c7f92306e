import ArgumentParser
import Foundation
import ISO7816
import PCSC
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
        abstract: "Purchase tap latency versus a raw SCardTransmit loop (needs pcscd with vpcd).")

    @Option(help: "Measured taps (and as many raw replays).")
    var taps = 500

    @Option(help: "Unmeasured warm-up taps.")
    var warmup = 20

    func run() throws {
        // Simulators without state files: their disk writes are not posd's cost.
        var cardState = PurseCardState.testCard1()
        cardState.balance = 100_000_000
        let card = VPCDHost(card: SimulatedPurseCard(state: cardState), port: VPCDHost<SimulatedPurseCard>.port(forSlot: 0), stateFile: nil)
        let psam = VPCDHost(card: SimulatedPSAM(state: .testPSAM()), port: VPCDHost<SimulatedPSAM>.port(forSlot: 1), stateFile: nil)
        card.start()
        psam.start()
        defer { card.stop(); psam.stop() }

        let terminal = try Terminal(.init())
        let time = BCDDateTime.now()
        let flow = PurchaseFlow(recordPending: { _ in })

        // posd: complete taps.
        var tapTimes: [Duration] = []
        var transcript: [(link: CardLink, command: [UInt8])] = []
        try terminal.withCard(timeoutMilliseconds: 10_000) { channel in
            let cardLink = Recorder(channel.link)
            let psamLink = Recorder(terminal.psam.channel.link)
            let recordingPSAM = terminal.psam.over(APDUChannel(psamLink))
            for i in 0..<(warmup + taps) {
                let clock = ContinuousClock()
                let start = clock.now
                let outcome = flow.run(card: APDUChannel(cardLink), psam: i == 0 ? recordingPSAM : terminal.psam, amount: 1, time: time)
                let elapsed = clock.now - start
                guard case .approved = outcome else { fatalError("tap \(i): \(outcome)") }
                if i == 0 { transcript = cardLink.merged(with: psamLink); cardLink.stop(); psamLink.stop() }
                if i >= warmup { tapTimes.append(elapsed) }
            }
        }

        // Baseline: the same APDU bytes through SCardTransmit, nothing else.
        var rawTimes: [Duration] = []
        for i in 0..<(warmup + taps) {
            let clock = ContinuousClock()
            let start = clock.now
            for step in transcript { _ = try? step.link.transmit(step.command) }
            let elapsed = clock.now - start
            if i >= warmup { rawTimes.append(elapsed) }
        }

        let tap = Percentiles(tapTimes), raw = Percentiles(rawTimes)
        print("purchase tap through pcscd+vpcd, \(taps) taps, \(transcript.count) APDUs each")
        print(String(format: "  posd tap       p50 %7.3f ms   p99 %7.3f ms", tap.p50, tap.p99))
        print(String(format: "  raw transmit   p50 %7.3f ms   p99 %7.3f ms", raw.p50, raw.p99))
        print(String(format: "  ratio          p50 %7.3f      p99 %7.3f", tap.p50 / raw.p50, tap.p99 / raw.p99))
        print(String(format: "  posd's own     p50 %7.3f ms   p99 %7.3f ms  (tap minus raw)", tap.p50 - raw.p50, tap.p99 - raw.p99))
    }
}

/// Passes commands through and remembers them in order, with a shared clock of
/// order so card and PSAM steps interleave as they were sent.
final class Recorder: CardLink {
    private let inner: CardLink
    private var recording = true
    private(set) var sent: [(order: Int, command: [UInt8])] = []
    nonisolated(unsafe) static var order = 0

    init(_ inner: CardLink) { self.inner = inner }

    func transmit(_ command: [UInt8]) throws(CardLinkError) -> [UInt8] {
        if recording {
            Recorder.order += 1
            sent.append((Recorder.order, command))
        }
        return try inner.transmit(command)
    }

    func stop() { recording = false }

    func merged(with other: Recorder) -> [(link: CardLink, command: [UInt8])] {
        (sent.map { ($0.order, inner, $0.command) } + other.sent.map { ($0.order, other.inner, $0.command) })
            .sorted { $0.0 < $1.0 }
            .map { ($0.1, $0.2) }
    }
}

struct Percentiles {
    let p50: Double, p99: Double
    init(_ samples: [Duration]) {
        let ms = samples.map { Double($0.components.attoseconds) / 1e15 + Double($0.components.seconds) * 1e3 }.sorted()
        p50 = ms[ms.count / 2]
        p99 = ms[min(ms.count - 1, Int(Double(ms.count) * 0.99))]
    }
}
