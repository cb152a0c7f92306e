import Foundation
import Hex
import Synchronization

/// One way a card's answer goes wrong on its way to the terminal.
public enum AnswerFault: Equatable, Sendable, CustomStringConvertible {
    /// Only the first `count` bytes arrive.
    case truncate(Int)
    /// These bytes arrive between the data and the status word.
    case extend([UInt8])
    /// One bit of the answer is flipped (`position` wraps around the answer).
    case flip(position: Int, bit: Int)
    /// The data arrives with another status word.
    case statusWord(UInt16)
    /// These bytes arrive instead of the answer (another card's, garbage).
    case replace([UInt8])
    /// Nothing arrives: the card leaves the field.
    case noAnswer
    /// The answer to the previous command arrives again.
    case duplicate
    /// The answer arrives this many milliseconds late.
    case delay(milliseconds: Int)

    public var description: String {
        switch self {
        case .truncate(let count): "truncated to \(count) bytes"
        case .extend(let bytes): "extended by \(bytes.hex)"
        case .flip(let position, let bit): "bit \(bit) of byte \(position) flipped"
        case .statusWord(let sw): "status word \(String(format: "%04X", sw))"
        case .replace(let bytes): "replaced by \(bytes.hex.isEmpty ? "nothing" : bytes.hex)"
        case .noAnswer: "no answer"
        case .duplicate: "the previous answer again"
        case .delay(let ms): "delayed \(ms) ms"
        }
    }

    /// The answer as it arrives; nil when nothing does.
    func apply(to answer: [UInt8], previous: [UInt8]?) -> [UInt8]? {
        switch self {
        case .truncate(let count): return Array(answer.prefix(max(0, count)))
        case .extend(let bytes): return answer.dropLast(2) + bytes + answer.suffix(2)
        case .flip(let position, let bit):
            guard !answer.isEmpty else { return answer }
            var flipped = answer
            flipped[position % answer.count] ^= 1 << UInt8(bit & 7)
            return flipped
        case .statusWord(let sw): return answer.dropLast(2) + [UInt8(sw >> 8), UInt8(sw & 0xFF)]
        case .replace(let bytes): return bytes
        case .noAnswer: return nil
        case .duplicate: return previous ?? answer
        case .delay: return answer
        }
    }
}

/// A fault at one command: what happens to the answer, and whether the card
/// acted on the command first. For DEBIT and CREDIT that is the truth a test
/// needs: `cardActs` false means the money did not move, and the fault then
/// applies to an empty answer (the card gave nothing of its own).
public struct PlannedFault: Equatable, Sendable, CustomStringConvertible {
    /// Which command, counting from 0 the commands the card received (1-byte vpcd polls aside).
    public var command: Int
    public var fault: AnswerFault
    public var cardActs: Bool

    public init(command: Int, _ fault: AnswerFault, cardActs: Bool = true) {
        self.command = command
        self.fault = fault
        self.cardActs = cardActs
    }

    public var description: String { "command \(command): \(fault)\(cardActs ? "" : ", card did not act")" }
}

/// What a faulty card did to one command, for whoever judges the outcome.
public struct FaultRecord: Equatable, Sendable, CustomStringConvertible {
    public var command: Int
    /// The command's bytes as the card received them.
    public var apdu: [UInt8]
    public var fault: AnswerFault
    public var cardActs: Bool
    /// What arrived at the terminal (nil: nothing).
    public var delivered: [UInt8]?

    public var description: String {
        "command \(command) \(apdu.prefix(5).hex): \(fault)\(cardActs ? ", card acted" : ", card did not act"); delivered \(delivered.map(\.hex) ?? "nothing")"
    }
}

/// Faults in a simulated card's answers, planned (a fuzzer's input, a
/// regression case) or drawn from a seed (`vcard serve --fault-seed`), each
/// one logged. Installed in `CommandHooks.faults`; the card and PSAM
/// simulators both honour it.
public final class AnswerFaults: Sendable {
    private enum Source {
        case planned([PlannedFault])
        case seeded(SeededRandom, rate: Double, delays: Bool)
    }
    private struct State {
        var source: Source
        var commands = 0
        var previous: [UInt8]?
        var log: [FaultRecord] = []
    }
    private let state: Mutex<State>
    /// Told of every fault as it happens (vcard's log file).
    private let observer: (@Sendable (FaultRecord) -> Void)?

    public init(_ plan: [PlannedFault], observer: (@Sendable (FaultRecord) -> Void)? = nil) {
        state = Mutex(State(source: .planned(plan)))
        self.observer = observer
    }

    /// Each command faulted with probability `rate`, the fault drawn from
    /// `seed`; `delays` allows late answers (pointless in process).
    public init(seed: UInt64, rate: Double, delays: Bool = true, observer: (@Sendable (FaultRecord) -> Void)? = nil) {
        state = Mutex(State(source: .seeded(SeededRandom(seed: seed), rate: min(max(rate, 0), 1), delays: delays)))
        self.observer = observer
    }

    /// Every fault so far, in order.
    public var log: [FaultRecord] { state.withLock { $0.log } }

    /// The fault for the next command, if any; counts the command.
    func next(for command: [UInt8]) -> PlannedFault? {
        state.withLock { state in
            defer { state.commands += 1 }
            switch state.source {
            case .planned(let plan):
                return plan.first { $0.command == state.commands }
            case .seeded(var random, let rate, let delays):
                defer { state.source = .seeded(random, rate: rate, delays: delays) }
                guard Double(random.next() % 1_000_000) / 1_000_000 < rate else { return nil }
                return PlannedFault(command: state.commands, Self.draw(&random, delays: delays), cardActs: random.next() % 2 == 0)
            }
        }
    }

    /// Notes what was delivered for `planned` (and the answer the next duplicate repeats).
    func record(_ planned: PlannedFault?, command: [UInt8], delivered: [UInt8]?) {
        let record: FaultRecord? = state.withLock { state in
            state.previous = delivered
            guard let planned else { return nil }
            let record = FaultRecord(command: planned.command, apdu: command, fault: planned.fault, cardActs: planned.cardActs,
                                     delivered: delivered)
            state.log.append(record)
            return record
        }
        if let record { observer?(record) }
    }

    var previousAnswer: [UInt8]? { state.withLock { $0.previous } }

    static func draw(_ random: inout SeededRandom, delays: Bool) -> AnswerFault {
        func byte() -> UInt8 { UInt8(truncatingIfNeeded: random.next()) }
        switch random.next() % (delays ? 8 : 7) {
        case 0: return .truncate(Int(random.next() % 12))
        case 1: return .extend((0..<(1 + random.next() % 8)).map { _ in byte() })
        case 2: return .flip(position: Int(random.next() % 64), bit: Int(random.next() % 8))
        case 3: return .statusWord([0x6581, 0x6A82, 0x9302, 0x6C08, 0x6100, 0x9000, 0x6F00, UInt16(truncatingIfNeeded: random.next())][Int(random.next() % 8)])
        case 4: return .replace((0..<(random.next() % 24)).map { _ in byte() })
        case 5: return .noAnswer
        case 6: return .duplicate
        default: return .delay(milliseconds: Int(random.next() % 300))
        }
    }
}

extension AnswerFaults {
    /// A plan from a fuzzer's bytes, 4 bytes a fault (command, kind,
    /// parameter, flags) and for `extend`/`replace` the bytes that follow
    /// (for `statusWord`, its low byte);
    /// any input gives a plan. Flags: bit 0 set, the card does not act on the
    /// command; bits 1–2 the device the fault is for (0 the card, 1 the
    /// PSAM, 2 the card presented again), so one input drives them all.
    public static func plan(decoding input: [UInt8], device: UInt8) -> [PlannedFault] {
        var plan: [PlannedFault] = []
        var at = 0
        while at + 4 <= input.count {
            let (command, kind, parameter, flags) = (input[at], input[at + 1], input[at + 2], input[at + 3])
            at += 4
            let fault: AnswerFault
            switch kind % 8 {
            case 0: fault = .truncate(Int(parameter))
            case 1, 4:
                let payload = Array(input[at..<min(input.count, at + Int(parameter % 40))])
                at += payload.count
                fault = kind % 8 == 1 ? .extend(payload) : .replace(payload)
            case 2: fault = .flip(position: Int(parameter), bit: Int(flags >> 3))
            case 3:
                let low = at < input.count ? input[at] : 0
                at += 1
                fault = .statusWord(UInt16(parameter) << 8 | UInt16(low))
            case 5: fault = .noAnswer
            case 6: fault = .duplicate
            default: fault = .delay(milliseconds: 0)
            }
            if (flags >> 1) & 3 == device & 3 {
                plan.append(PlannedFault(command: Int(command % 32), fault, cardActs: flags & 1 == 0))
            }
        }
        return plan
    }
}
