import Hex
import IssuerCrypto

/// A card simulator's power-loss switch (§10): on the `occurrence`-th DEBIT (or
/// CREDIT) that the card executes, lose power before or after the atomic commit.
/// Either way no answer leaves the card and the card leaves the field.
public struct TearSwitch: Codable, Equatable, Sendable {
    public enum Command: String, Codable, Sendable { case debit, credit }
    public enum Moment: String, Codable, Sendable { case beforeCommit = "before", afterCommit = "after" }
    public var command: Command
    public var occurrence: Int
    public var moment: Moment

    public init(_ command: Command, occurrence: Int, _ moment: Moment) {
        self.command = command
        self.occurrence = occurrence
        self.moment = moment
    }
}

/// A PBOC electronic-purse card as the contract describes it (§4, §10), one
/// command at a time. Its persistent part is `state`; the rest is lost when
/// power goes.
public struct SimulatedPurseCard: SimulatedCard {
    public var state: PurseCardState
    public var tearSwitches: [TearSwitch] = []
    /// How many DEBIT / CREDIT commands this card has executed since it was made.
    public private(set) var debitsExecuted = 0
    public private(set) var creditsExecuted = 0
    /// Called right before a DEBIT or CREDIT is executed; tests use it to check
    /// what the terminal made durable first.
    public var willMoveMoney: (@Sendable (TearSwitch.Command) -> Void)?
    /// Test hooks (`CommandHooks`): each command seen as it arrives, before
    /// the card acts on it (a tear at any APDU boundary, a made-up answer),
    /// and each answer rewritten as it leaves (a bit flip in a chosen field).
    public var hooks = CommandHooks()

    private var session = Session()
    var formatter: AnswerFormatter
    /// Set by a DEBIT or CREDIT that committed, for the tear switches.
    private var moneyMoved: TearSwitch.Command?
    private var random: @Sendable () -> [UInt8]

    struct Session {
        var selected = false
        var pinVerified = false
        var transaction: Transaction?
        var challenge: [UInt8]?
        var compositeCache: [UInt8]?
    }

    struct Transaction {
        enum Kind { case purchase, cappPurchase, load }
        var kind: Kind
        var amount: UInt32
        var terminal: [UInt8]
        var random: [UInt8]
        var counter: UInt16
        var sessionKey: [UInt8]?  // load only: derived at INITIALIZE for MAC1
    }

    /// Arms a tear on the `nth` DEBIT or CREDIT from now (1 = the next one).
    public mutating func armTear(_ command: TearSwitch.Command, nth: Int, _ moment: TearSwitch.Moment) {
        let done = command == .debit ? debitsExecuted : creditsExecuted
        tearSwitches.append(TearSwitch(command, occurrence: done + nth, moment))
    }

    public init(state: PurseCardState, random: @escaping @Sendable () -> [UInt8] = SimRandom.bytes4) {
        self.state = state
        self.formatter = AnswerFormatter(form: state.answerForm)
        self.random = random
    }

    public var atr: [UInt8] { [0x3B, 0x88, 0x80, 0x01, 0x50, 0x55, 0x52, 0x53, 0x45, 0x53, 0x49, 0x4D, 0x27] }

    public mutating func powerCycle() {
        session = Session()
        formatter = AnswerFormatter(form: state.answerForm)
    }

    public mutating func respond(to bytes: [UInt8]) -> [UInt8]? {
        respond(to: bytes, hooks: hooks) { $0.execute(bytes) }
    }

    private mutating func execute(_ bytes: [UInt8]) -> [UInt8]? {
        let result = AnswerFormatter.respond(self, to: bytes, formatter: \.formatter) { card, command in
            card.moneyMoved = nil
            return card.execute(command)
        }
        guard result.executed, let moved = result.card.moneyMoved else {
            self = result.card
            return result.answer
        }
        let count = (moved == .debit ? debitsExecuted : creditsExecuted) + 1
        let tear = tearSwitches.first { $0.command == moved && $0.occurrence == count }?.moment
        if tear != .beforeCommit { state = result.card.state }
        if tear == nil { self = result.card }
        if moved == .debit { debitsExecuted = count } else { creditsExecuted = count }
        guard tear == nil else {
            powerCycle()  // the card loses power: no answer, nothing volatile survives
            return nil
        }
        return result.answer
    }

    // MARK: - Commands

    private mutating func execute(_ c: SimCommand) -> SimAnswer {
        let challenge = session.challenge
        session.challenge = nil  // a challenge is good for the next command only
        if c.cla == 0x00 && c.ins == 0xA4 { return select(c) }
        guard session.selected else { return .status(0x6985) }
        if state.block == .permanent { return .status(0x9303) }
        if state.block == .temporary {
            let allowed: Set<[UInt8]> = [[0x00, 0x84], [0x00, 0xB0], [0x00, 0xB2], [0x84, 0x1E], [0x84, 0x18]]
            guard allowed.contains([c.cla, c.ins]) else { return .status(0x6A81) }
        }
        switch (c.cla, c.ins) {
        case (0x00, 0xB0): return readBinary(c)
        case (0x00, 0xB2): return readRecord(c)
        case (0x80, 0x5C): return c.p2 == 0x02 ? SimAnswer(be(state.balance, 4)) : .status(0x6A86)
        case (0x80, 0xCA): return getData(c)
        case (0x80, 0x50): return initialize(c)
        case (0x80, 0xDC): return updateCompositeCache(c)
        case (0x80, 0x54):
            willMoveMoney?(.debit)
            return debit(c)
        case (0x80, 0x52):
            willMoveMoney?(.credit)
            return credit(c)
        case (0x00, 0x20): return verifyPIN(c)
        case (0x80, 0x5A): return prove(c)
        case (0x00, 0x84):
            let r = random()
            session.challenge = r
            return SimAnswer(r)
        case (0x84, 0x1E): return secureCommand(c, challenge: challenge, key: state.keys.dabk)
        case (0x84, 0x18): return secureCommand(c, challenge: challenge, key: state.keys.dauk)
        default: return .status(0x6D00)
        }
    }

    private mutating func select(_ c: SimCommand) -> SimAnswer {
        session = Session()
        guard c.p1 == 0x04, !c.data.isEmpty, (state.aid + state.dfNameSuffix).starts(with: c.data),
              c.data.count >= state.aid.count
        else { return .status(0x6A82) }
        if state.block == .permanent && state.permanentBlockAnsweredAtSelect { return .status(0x9303) }
        session.selected = true
        var proprietary = tlv([0x9F, 0x08], [state.appVersion])
        if state.fciHasApplicationInfo { proprietary += tlv([0x9F, 0x0C], state.ef15) }
        let fci = tlv([0x6F], tlv([0x84], state.aid + state.dfNameSuffix) + tlv([0xA5], proprietary))
        if state.block == .temporary {
            return SimAnswer(state.blockedSelectCarriesFCI ? fci : [], 0x6A81)
        }
        return SimAnswer(fci)
    }

    private func readBinary(_ c: SimCommand) -> SimAnswer {
        guard c.p1 == 0x95 else { return .status(0x6A82) }
        let offset = Int(c.p2)
        guard offset < state.ef15.count else { return .status(0x6B00) }
        let rest = Array(state.ef15[offset...])
        let length = Int(c.le ?? 0)
        return SimAnswer(length == 0 ? rest : Array(rest.prefix(length)))
    }

    private func readRecord(_ c: SimCommand) -> SimAnswer {
        if c.p2 == 0xC4 {  // EF 0x18 by record number
            guard (1...10).contains(c.p1) else { return .status(0x6A83) }
            let index = Int(c.p1) - 1
            if index < state.history.count { return SimAnswer(state.history[index].wrappedValue) }
            return state.emptyHistoryAs6A83 ? .status(0x6A83) : SimAnswer([UInt8](repeating: 0, count: 23))
        }
        let file = state.compositeFile
        // By identifier (P2 low bits 000) or by record number (100): the same here.
        guard c.p2 == file.sfi << 3 || c.p2 == file.sfi << 3 | 0x04 else { return .status(0x6A82) }
        guard c.p1 == file.id else { return .status(0x6A83) }
        return SimAnswer(state.compositeRecord)
    }

    private func getData(_ c: SimCommand) -> SimAnswer {
        guard c.p1 == 0x00, c.p2 == 0x00, state.profile == .cu, let code = state.authenticationCode else {
            return .status(state.noAuthenticationCodeStatus)
        }
        return SimAnswer(code.wrappedValue)
    }

    private mutating func initialize(_ c: SimCommand) -> SimAnswer {
        session.transaction = nil
        guard c.p2 == 0x02, [0x00, 0x01, 0x03].contains(c.p1) else { return .status(0x6A86) }
        guard c.data.count == 11 else { return .status(0x6700) }
        let amount = UInt32(beValue(c.data[1..<5]))
        let terminal = Array(c.data[5..<11])
        guard c.data[0] == state.keyIndex else { return .status(0x9403) }
        let r = random()
        if c.p1 == 0x00 {
            guard session.pinVerified else { return .status(0x6982) }
            guard state.onlineCounter != 0xFFFF else { return .status(0x9402) }
            let key = PurseCrypto.loadSessionKey(algorithmID: state.algorithmID, dlk: state.keys.dlk, random: r,
                                                 onlineCounter: state.onlineCounter)
            let mac1 = PurseCrypto.sessionMAC(algorithmID: state.algorithmID, sessionKey: key,
                                              be(state.balance, 4) + be(amount, 4) + [0x02] + terminal)
            session.transaction = Transaction(kind: .load, amount: amount, terminal: terminal, random: r,
                                              counter: state.onlineCounter, sessionKey: key)
            return SimAnswer(be(state.balance, 4) + be(state.onlineCounter, 2) + [state.keyVersion, state.algorithmID] + r + mac1)
        }
        guard state.offlineCounter != 0xFFFF else { return .status(0x9402) }
        guard UInt64(amount) <= UInt64(state.balance) + UInt64(state.overdraft) else { return .status(0x9401) }
        session.transaction = Transaction(kind: c.p1 == 0x03 ? .cappPurchase : .purchase, amount: amount,
                                          terminal: terminal, random: r, counter: state.offlineCounter)
        session.compositeCache = nil
        return SimAnswer(be(state.balance, 4) + be(state.offlineCounter, 2) + be(state.overdraft, 3)
                         + [state.keyVersion, state.algorithmID] + r)
    }

    private mutating func updateCompositeCache(_ c: SimCommand) -> SimAnswer {
        let file = state.compositeFile
        guard session.transaction?.kind == .cappPurchase else { return .status(0x6901) }
        guard c.data.first == c.p1 else { return .status(0x6A80) }
        guard c.data.count == file.length else { return .status(0x6700) }
        guard c.p1 == file.id, c.p2 == file.sfi << 3 || c.p2 == file.sfi << 3 | 0x04 else { return .status(0x6A83) }
        session.compositeCache = c.data
        return SimAnswer()
    }

    private mutating func debit(_ c: SimCommand) -> SimAnswer {
        let open = session.transaction
        session.transaction = nil
        guard c.p1 == 0x01, c.p2 == 0x00, c.data.count == 15 else { return .status(0x6700) }
        guard let t = open, t.kind != .load else { return .status(0x6901) }
        let sequence = Array(c.data[0..<4]), time = Array(c.data[4..<11]), mac1 = Array(c.data[11..<15])
        let type: UInt8 = t.kind == .cappPurchase ? 0x09 : 0x06
        let key = PurseCrypto.sessionKey(algorithmID: state.algorithmID, cardKey: state.keys.dpk,
                                         input: t.random + be(t.counter, 2) + Array(sequence[2..<4]))
        let code = state.profile == .cu ? state.authenticationCode?.wrappedValue ?? [] : []
        let expected = PurseCrypto.sessionMAC(algorithmID: state.algorithmID, sessionKey: key,
                                              be(t.amount, 4) + [type] + t.terminal + time + code)
        guard expected == mac1 else { return .status(0x9302) }
        let mac2 = PurseCrypto.sessionMAC(algorithmID: state.algorithmID, sessionKey: key, be(t.amount, 4))
        let tac = PurseCrypto.tac(algorithmID: state.algorithmID, dtk: state.keys.dtk,
                                  be(t.amount, 4) + [type] + t.terminal + sequence + time)
        // The atomic commit (§10): balance, counter, history, composite record, proof.
        state.balance -= t.amount
        state.offlineCounter = t.counter + 1
        appendHistory(counterAfter: state.offlineCounter, amount: t.amount, type: type, terminal: t.terminal, time: time)
        if t.kind == .cappPurchase, let cache = session.compositeCache { state.compositeRecord = cache }
        session.compositeCache = nil
        state.offlineProof = .init(type: type, counterAfter: state.offlineCounter, mac: mac2, tac: tac)
        moneyMoved = .debit
        return SimAnswer(tac + mac2)
    }

    private mutating func credit(_ c: SimCommand) -> SimAnswer {
        let open = session.transaction
        session.transaction = nil
        guard c.p1 == 0x00, c.p2 == 0x00, c.data.count == 11 else { return .status(0x6700) }
        guard let t = open, t.kind == .load, let key = t.sessionKey else { return .status(0x6901) }
        let time = Array(c.data[0..<7]), mac2 = Array(c.data[7..<11])
        let expected = PurseCrypto.loadMAC2(algorithmID: state.algorithmID, sessionKey: key, amount: t.amount,
                                            terminal: t.terminal, time: time)
        guard expected == mac2 else { return .status(0x9302) }
        let balanceAfter = state.balance + t.amount
        let tac = PurseCrypto.tac(algorithmID: state.algorithmID, dtk: state.keys.dtk,
                                  be(balanceAfter, 4) + be(t.counter, 2) + be(t.amount, 4) + [0x02] + t.terminal + time)
        state.balance = balanceAfter
        state.onlineCounter = t.counter + 1
        appendHistory(counterAfter: state.onlineCounter, amount: t.amount, type: 0x02, terminal: t.terminal, time: time)
        state.onlineProof = .init(type: 0x02, counterAfter: state.onlineCounter, mac: mac2, tac: tac)
        moneyMoved = .credit
        return SimAnswer(tac)
    }

    private mutating func appendHistory(counterAfter: UInt16, amount: UInt32, type: UInt8, terminal: [UInt8], time: [UInt8]) {
        let record = be(counterAfter, 2) + be(state.overdraft, 3) + be(amount, 4) + [type] + terminal + time
        state.history.insert(HexBytes(wrappedValue: record), at: 0)
        if state.history.count > 10 { state.history.removeLast() }
    }

    private mutating func verifyPIN(_ c: SimCommand) -> SimAnswer {
        guard state.pinTriesLeft > 0 else { return .status(0x6983) }
        if c.data == state.pin {
            state.pinTriesLeft = 3
            session.pinVerified = true
            return SimAnswer()
        }
        state.pinTriesLeft -= 1
        return state.pinTriesLeft == 0 ? .status(0x6983) : .status(0x63C0 | UInt16(state.pinTriesLeft))
    }

    private func prove(_ c: SimCommand) -> SimAnswer {
        guard c.data.count == 2 else { return .status(0x6700) }
        let counter = UInt16(beValue(c.data[0..<2]))
        let slot = c.p2 == 0x02 ? state.onlineProof : state.offlineProof
        guard let proof = slot, proof.type == c.p2, proof.counterAfter == counter else { return .status(0x9406) }
        return SimAnswer(proof.mac + proof.tac)
    }

    /// APPLICATION BLOCK (`84 1E`) and UNBLOCK (`84 18`): retail MAC over the
    /// header under DABK / DAUK, IV = the challenge just issued.
    private mutating func secureCommand(_ c: SimCommand, challenge: [UInt8]?, key: [UInt8]) -> SimAnswer {
        guard let challenge else { return .status(0x6984) }
        guard c.data.count == 4 else { return .status(0x6700) }
        let header = c.header + [0x04]
        guard PurseCrypto.secureCommandMAC(key: key, header: header, challenge: challenge) == c.data else {
            return .status(0x6988)
        }
        if c.ins == 0x18 {
            if state.block == .temporary { state.block = .none }
        } else {
            state.block = c.p2 == 0x01 ? .permanent : .temporary
        }
        return SimAnswer()
    }
}

func be<T: FixedWidthInteger>(_ value: T, _ width: Int) -> [UInt8] {
    BigEndian.bytes(UInt64(value), width: width)
}

func beValue<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
    BigEndian.uint(bytes)
}

func tlv(_ tag: [UInt8], _ value: [UInt8]) -> [UInt8] {
    precondition(value.count < 0x80)
    return tag + [UInt8(value.count)] + value
}

/// Card randoms from the system's generator.
public enum SimRandom {
    public static let bytes4: @Sendable () -> [UInt8] = {
        var generator = SystemRandomNumberGenerator()
        return (0..<4).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}
