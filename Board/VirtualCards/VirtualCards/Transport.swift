/// A command as the simulated card parses it from the wire (ISO 7816-4 short
/// APDU; written here independently of the terminal's ISO7816 module).
public struct SimCommand: Equatable, Sendable {
    public let header: [UInt8]  // CLA INS P1 P2
    public let data: [UInt8]
    public let le: UInt8?

    public var cla: UInt8 { header[0] }
    public var ins: UInt8 { header[1] }
    public var p1: UInt8 { header[2] }
    public var p2: UInt8 { header[3] }

    /// Nil for a command that is not a well-formed short APDU.
    public init?(_ bytes: [UInt8]) {
        guard bytes.count >= 4 else { return nil }
        header = Array(bytes[0..<4])
        switch bytes.count {
        case 4:
            data = []; le = nil
        case 5:
            data = []; le = bytes[4]
        default:
            let lc = Int(bytes[4])
            guard lc > 0, bytes.count == 5 + lc || bytes.count == 6 + lc else { return nil }
            data = Array(bytes[5..<(5 + lc)])
            le = bytes.count == 6 + lc ? bytes[5 + lc] : nil
        }
    }
}

/// What an application answers to one command before the transport form is applied.
public struct SimAnswer: Equatable, Sendable {
    public var data: [UInt8]
    public var sw: UInt16

    public init(_ data: [UInt8] = [], _ sw: UInt16 = 0x9000) {
        self.data = data
        self.sw = sw
    }

    public static func status(_ sw: UInt16) -> SimAnswer { SimAnswer([], sw) }
    public var bytes: [UInt8] { data + [UInt8(sw >> 8), UInt8(sw & 0xFF)] }
}

/// The card option of §2: how answers that carry data reach the terminal.
public enum AnswerForm: String, Codable, Sendable, CaseIterable {
    /// Data ‖ SW at once.
    case direct
    /// Case-4 answers with data come back as `61xx` (fetch with GET RESPONSE);
    /// case-2 answers directly when Le is exact, else `6Cxx`.
    case getResponse = "61"
    /// Any answer with data whose Le is absent or not exact gets `6Cxx`, and the
    /// command is not executed.
    case wrongLength = "6C"
}

/// Applies an `AnswerForm` around an application. The application computes its
/// answer on a copy of its state; the copy is kept only if the command counts as
/// executed, so a `6Cxx` changes nothing, not even the session.
struct AnswerFormatter {
    var form: AnswerForm
    /// Data waiting for GET RESPONSE after a `61xx`.
    private var waiting: SimAnswer?

    init(form: AnswerForm) { self.form = form }

    mutating func reset() { waiting = nil }

    enum Decision {
        /// Keep the new state and send these bytes.
        case executed([UInt8])
        /// Drop the new state and send these bytes.
        case notExecuted([UInt8])
    }

    /// GET RESPONSE `00 C0 00 00 xx`, answered from the waiting data.
    mutating func getResponse(_ command: SimCommand) -> [UInt8]? {
        guard command.cla == 0x00, command.ins == 0xC0 else { return nil }
        guard let pending = waiting else { return SimAnswer.status(0x6F00).bytes }
        let want = Int(command.le ?? 0)
        guard want > 0, want <= pending.data.count else {
            return SimAnswer.status(0x6C00 | UInt16(pending.data.count)).bytes
        }
        let rest = Array(pending.data.dropFirst(want))
        if rest.isEmpty {
            waiting = nil
            return SimAnswer(Array(pending.data.prefix(want)), pending.sw).bytes
        }
        waiting = SimAnswer(rest, pending.sw)
        return SimAnswer(Array(pending.data.prefix(want)), 0x6100 | UInt16(rest.count)).bytes
    }

    mutating func format(_ answer: SimAnswer, for command: SimCommand) -> Decision {
        waiting = nil
        // Status-only answers and refusals with data (FCI ‖ 6A81) go out as they are.
        guard !answer.data.isEmpty, answer.sw == 0x9000 else { return .executed(answer.bytes) }
        let exact = command.le.map { Int($0) == answer.data.count } ?? false
        let wrongLength = SimAnswer.status(0x6C00 | UInt16(answer.data.count & 0xFF)).bytes
        switch form {
        case .direct:
            return .executed(answer.bytes)
        case .getResponse where command.le == nil:
            waiting = answer
            return .executed(SimAnswer.status(0x6100 | UInt16(answer.data.count & 0xFF)).bytes)
        case .getResponse, .wrongLength:
            return exact ? .executed(answer.bytes) : .notExecuted(wrongLength)
        }
    }
}

extension AnswerFormatter {
    /// One command through a simulated card: GET RESPONSE is answered from the
    /// waiting data; anything else runs on a copy of the card, and the copy is
    /// kept only if the answer form counts the command as executed.
    static func respond<Card>(_ card: Card, to bytes: [UInt8], formatter: WritableKeyPath<Card, AnswerFormatter>,
                              execute: (inout Card, SimCommand) -> SimAnswer) -> (card: Card, answer: [UInt8], executed: Bool) {
        var card = card
        guard let command = SimCommand(bytes) else { return (card, SimAnswer.status(0x6700).bytes, false) }
        if let answer = card[keyPath: formatter].getResponse(command) { return (card, answer, false) }
        var next = card
        let answer = execute(&next, command)
        switch next[keyPath: formatter].format(answer, for: command) {
        case .executed(let bytes):
            return (next, bytes, true)
        case .notExecuted(let bytes):
            card[keyPath: formatter] = next[keyPath: formatter]
            return (card, bytes, false)
        }
    }
}
