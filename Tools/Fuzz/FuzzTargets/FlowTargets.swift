import Hex
import ISO7816
import IssuerCrypto
import Purse
import VirtualCards

/// The money flows against the card and PSAM simulators, each answer
/// faulted as the input plans (`AnswerFaults.plan(decoding:)`), judged from
/// the card's own state: the simulator knows whether the money moved.
///
/// Input: byte 0 chooses the card (bit 0: test card 2, TU/SM4, else card 1,
/// CU/3DES; bit 1: answers through `61xx`/GET RESPONSE); the rest is the
/// fault plan for the card (device 0), the PSAM (1) and, in the recovery
/// target, for card and PSAM at the card's second presentation (2, 3).
///
/// Invariants on every run, besides not trapping: DEBIT or CREDIT sent at
/// most once (again only as a `6Cxx` asked), the PENDING entry durable
/// before its first byte; approved only on a `9000` answer of exactly its
/// length, the receipt carrying what that answer said and the figures
/// INITIALIZE gave; a card that moved money is never shown declined (but for
/// the contract's own `9302`), nor approved by a card that did not move it
/// unless a fault made that answer up.
enum FlowTargets {
    static let all = [purchase, capp, load, balance, recovery]

    static let time = BCDDateTime(text: "20261122173000")!
    static let amount: UInt32 = 250
    static let fixedRandom: [UInt8] = [0x7E, 0x3A, 0x91, 0xC4]

    /// A card and a started PSAM, the faults installed after the PSAM's start.
    struct Field {
        let card: FieldLink<SimulatedPurseCard>
        let psamLink: FieldLink<SimulatedPSAM>
        let psam: PSAM
        let journal: RecordingJournal
        let before: PurseCardState
        let cardFaults: AnswerFaults
        let input: [UInt8]

        init?(_ input: [UInt8]) {
            let options = input.first ?? 0
            var state = options & 1 == 0 ? PurseCardState.testCard1() : PurseCardState.testCard2()
            if options & 2 != 0 { state.answerForm = .getResponse }
            let plan = Array(input.dropFirst())
            var card = SimulatedPurseCard(state: state, random: { FlowTargets.fixedRandom })
            cardFaults = AnswerFaults(AnswerFaults.plan(decoding: plan, device: 0))
            card.hooks.faults = cardFaults
            self.card = FieldLink(card)
            psamLink = FieldLink(SimulatedPSAM(state: .testPSAM()))
            guard let psam = try? PSAM.start(APDUChannel(psamLink)) else { return nil }
            psamLink.card.hooks.faults = AnswerFaults(AnswerFaults.plan(decoding: plan, device: 1))
            self.psam = psam
            before = state
            self.input = input
            let link = self.card
            journal = RecordingJournal { link.sent.count }
        }

        var after: PurseCardState { card.card.state }
        /// Debits and credits the card committed (its counters moved; a tear before the commit moves nothing).
        var debitsCommitted: Int { Int(after.offlineCounter) - Int(before.offlineCounter) }
        var creditsCommitted: Int { Int(after.onlineCounter) - Int(before.onlineCounter) }

        /// The DEBIT (`54`) or CREDIT (`52`) commands sent, the answer the terminal
        /// came to see for the first, and what broke: sent before PENDING was
        /// durable, sent again other than as a `6Cxx` asked, committed twice.
        func moneyCommand(_ ins: UInt8, _ name: String, committed: Int) -> (sent: [Int], answer: [UInt8], broken: [String]) {
            let sent = card.commands(0x80, ins)
            var broken: [String] = []
            if let first = sent.first, (journal.pendingAt.first ?? .max) > first { broken.append("\(name) sent before PENDING was durable") }
            let resentAsAsked = sent.count == 2 && card.answer(raw: sent[0]).dropLast().last == 0x6C
            if sent.count > 1 && !resentAsAsked { broken.append("\(name) sent \(sent.count) times") }
            if committed > 1 { broken.append("the card committed \(name) \(committed) times") }
            return (sent, card.response(to: sent.first), broken)
        }

        /// Whether `pending` is the PENDING entry the journal made durable last.
        func isLastPending(_ pending: PendingDebit) -> Bool {
            var recorded = pending
            recorded.journalEntry = nil
            return journal.pending.last == recorded && pending.journalEntry == Int64(journal.pending.count)
        }

        /// Whether a fault made up or spoiled the answer to command `index` (or a transport round after it).
        func faulted(_ index: Int?, rounds: Int = 3) -> Bool {
            guard let index else { return false }
            return cardFaults.log.contains { (index..<(index + rounds)).contains($0.command) }
        }
    }

    static func outcomeName(_ outcome: PurchaseOutcome) -> String {
        switch outcome {
        case .approved: "approved"
        case .declined(let decline): "declined \(decline.reason.rawValue)"
        case .uncertain: "uncertain"
        case .recovered: "recovered"
        case .blocked: "blocked"
        }
    }

    // MARK: - Debits

    static let purchase = FuzzTarget(
        name: "purchase", summary: "offline purchase (§8.1) with faulted card and PSAM answers") { input in
        guard let field = Field(input) else { return Verdict("PSAM did not start") }
        let outcome = PurchaseFlow(journal: field.journal).run(card: APDUChannel(field.card), psam: field.psam, amount: amount, time: time)
        return Verdict(outcomeName(outcome), violations: checkDebit(outcome, field, amount: amount, composite: nil))
    }

    static let capp = FuzzTarget(
        name: "capp", summary: "transit CAPP purchase (§8.2) writing the composite record, faulted answers") { input in
        guard let field = Field(input) else { return Verdict("PSAM did not start") }
        let profile = field.before.profile == .cu ? PurseProfile.cu : .tu
        let written = CompositeRecord(tappedOn: true, entryTime: time, line: 18, entryStop: 3, entryTerminal: field.psam.terminalNumber,
                                      entryAmount: 200, lastPaidTime: time)
        let outcome = PurchaseFlow(journal: field.journal).runTransit(card: APDUChannel(field.card), psam: field.psam, time: time) { _, _, _ in
            .success(TransitCharge(amount: 200, record: written))
        }
        var broken = checkDebit(outcome, field, amount: 200, composite: written.bytes(for: profile))
        // (Unless the card answered UPDATE CAPP DATA CACHE without caching: the terminal cannot know.)
        let cacheIgnored = field.cardFaults.log.contains { !$0.cardActs && $0.apdu.count > 1 && $0.apdu[1] == 0xDC }
        if field.debitsCommitted == 1 && !cacheIgnored && field.after.compositeRecord != written.bytes(for: profile) {
            broken.append("the card debited but holds composite record \(field.after.compositeRecord.hex)")
        }
        if field.debitsCommitted == 0 && field.after.compositeRecord != field.before.compositeRecord {
            broken.append("the composite record changed without a debit")
        }
        return Verdict(outcomeName(outcome), violations: broken)
    }

    /// The debit invariants, judged from what was sent, what arrived and the card's state.
    static func checkDebit(_ outcome: PurchaseOutcome, _ field: Field, amount: UInt32, composite: [UInt8]?) -> [String] {
        let card = field.card
        let executed = field.debitsCommitted
        let (debits, answer, sentBroken) = field.moneyCommand(0x54, "DEBIT", committed: executed)
        var broken = sentBroken
        switch outcome {
        case .approved(let receipt):
            if answer.count != 10 || answer.suffix(2) != [0x90, 0x00] { broken.append("approved on DEBIT answer \(answer.hex)") }
            if receipt.tac != Array(answer.prefix(4)) || receipt.mac2 != Array(answer.dropFirst(4).prefix(4)) {
                broken.append("TAC \(receipt.tac.hex) / MAC2 \(receipt.mac2.hex) are not the card's \(answer.hex)")
            }
            let initialize = card.response(to: card.commands(0x80, 0x50).last)
            let balance = initialize.count >= 4 ? Int64(BigEndian.uint(initialize.prefix(4))) : -1
            if receipt.debit.amount != amount || Int64(receipt.debit.balanceBefore) != balance || receipt.balanceAfter != balance - Int64(amount) {
                broken.append("figures \(receipt.debit.amount) from \(receipt.debit.balanceBefore) to \(receipt.balanceAfter), INITIALIZE said \(balance)")
            }
            if receipt.debit.composite != composite { broken.append("the receipt carries another composite record") }
            if field.journal.completed.last?.debit != receipt.debit { broken.append("approved without COMPLETE in the journal") }
            if executed == 0 && !field.faulted(debits.first) { broken.append("approved, the card did not debit and no fault made its answer up") }
        case .declined(let decline):
            if executed > 0 && answer != [0x93, 0x02] {
                broken.append("the card debited \(field.before.balance - field.after.balance) but the sale was declined (\(decline.reason.rawValue))")
            }
        case .uncertain(let pending, _):
            if debits.isEmpty { broken.append("uncertain without a DEBIT sent") }
            if !field.isLastPending(pending) { broken.append("the uncertain sale is not the PENDING entry") }
        case .recovered, .blocked:
            broken.append("nothing to recover or block, yet \(outcomeName(outcome))")
        }
        return broken
    }

    // MARK: - Recovery

    static let recovery = FuzzTarget(
        name: "recovery", summary: "a torn DEBIT (before or after commit), then recovery (§9.3) with faulted answers") { input in
        guard let field = Field(input) else { return Verdict("PSAM did not start") }
        // First presentation: the card loses power at DEBIT, before or after its commit.
        let committed = (input.first ?? 0) & 4 != 0
        field.card.card.hooks.faults = nil
        field.psamLink.card.hooks.faults = nil
        field.card.card.armTear(.debit, nth: 1, committed ? .afterCommit : .beforeCommit)
        let flow = PurchaseFlow(journal: field.journal)
        guard case .uncertain(let torn, _) = flow.run(card: APDUChannel(field.card), psam: field.psam, amount: amount, time: time) else {
            return Verdict("first presentation", violations: ["a DEBIT torn \(committed ? "after" : "before") its commit did not leave the sale uncertain"])
        }
        field.journal.uncertain = torn
        // Second presentation, with the input's faults.
        field.card.representCard()
        let faults = AnswerFaults(AnswerFaults.plan(decoding: Array(input.dropFirst()), device: 2))
        field.card.card.hooks.faults = faults
        field.psamLink.card.hooks.faults = AnswerFaults(AnswerFaults.plan(decoding: Array(input.dropFirst()), device: 3))
        let firstOfSecond = field.card.sent.count
        let outcome = flow.run(card: APDUChannel(field.card), psam: field.psam, amount: amount, time: time)

        var broken: [String] = []
        func faulted(_ ins: UInt8) -> Bool {
            faults.log.contains { $0.apdu.count > 1 && $0.apdu[1] == ins && $0.delivered != nil }
        }
        let executed = field.debitsCommitted
        if executed > 1 { broken.append("the card debited \(executed) times for one sale") }
        switch field.journal.settled.first {
        case .notCommitted? where committed && !faulted(0x5C):
            broken.append("a committed debit was settled as not committed")
        case .committed(let receipt)? where !committed && !faulted(0x5A):
            broken.append("a debit that did not commit was settled committed (\(receipt.tac.hex))")
        default: break
        }
        switch outcome {
        case .recovered(let receipt):
            if receipt.debit != torn { broken.append("recovered another transaction") }
            guard case .committed(let settled)? = field.journal.settled.first, settled == receipt else {
                broken.append("recovered, but the journal settled \(String(describing: field.journal.settled.first))")
                break
            }
        case .approved:
            guard case .notCommitted? = field.journal.settled.first else {
                broken.append("a fresh sale while the torn one was \(String(describing: field.journal.settled.first))")
                break
            }
        case .uncertain, .declined: break
        case .blocked: broken.append("blocked a card not on the hot list")
        }
        let secondDebits = field.card.commands(0x80, 0x54).filter { $0 >= firstOfSecond }
        // (A card whose number arrived garbled is another card to the terminal: it has nothing to recover.)
        let seen: CardNumber? = switch outcome {
        case .approved(let receipt), .recovered(let receipt): receipt.debit.cardNumber
        case .declined(let decline): decline.cardNumber
        case .uncertain(let pending, _): pending.cardNumber
        case .blocked(let block): block.cardNumber
        }
        if !secondDebits.isEmpty, seen == torn.cardNumber, field.journal.settled.first != .notCommitted {
            broken.append("DEBIT sent again, recovery having said \(String(describing: field.journal.settled.first))")
        }
        return Verdict((committed ? "torn after commit, " : "torn before commit, ") + outcomeName(outcome), violations: broken)
    }

    // MARK: - Load

    static let load = FuzzTarget(
        name: "load", summary: "online load (§8.3) with the platform's MAC1 check and MAC2, faulted answers") { input in
        guard let field = Field(input) else { return Verdict("PSAM did not start") }
        let flow = LoadFlow(journal: field.journal)
        let start = flow.start(card: APDUChannel(field.card), psam: field.psam, amount: amount, pin: field.before.pin, time: time)
        var broken: [String] = []
        guard case .ready(let authorisation) = start else {
            if field.creditsCommitted > 0 { broken.append("the card credited before MAC2") }
            switch start {
            case .declined(let decline): return Verdict("declined \(decline.reason.rawValue)", violations: broken)
            default: return Verdict("\(start)".prefix(24).description, violations: broken + ["nothing to recover or block"])
            }
        }
        // The platform: MAC1 over the figures the terminal sends must verify, then MAC2.
        let pending = authorisation.pending
        let session = PurseCrypto.loadSessionKey(algorithmID: pending.algorithmID, dlk: field.before.keys.dlk, random: pending.cardRandom,
                                                 onlineCounter: pending.counter)
        let mac1Data = BigEndian.bytes(UInt64(pending.balanceBefore), width: 4) + BigEndian.bytes(UInt64(amount), width: 4) + [0x02]
            + pending.terminalNumber
        guard PurseCrypto.sessionMAC(algorithmID: pending.algorithmID, sessionKey: session, mac1Data) == authorisation.mac1 else {
            return Verdict("platform refused MAC1", violations: field.creditsCommitted > 0 ? ["the card credited before MAC2"] : [])
        }
        let mac2 = PurseCrypto.loadMAC2(algorithmID: pending.algorithmID, sessionKey: session, amount: amount,
                                        terminal: pending.terminalNumber, time: pending.time.bytes)
        let outcome = flow.credit(card: APDUChannel(field.card), authorisation, mac2: mac2)

        let card = field.card
        let executed = field.creditsCommitted
        let (credits, answer, sentBroken) = field.moneyCommand(0x52, "CREDIT", committed: executed)
        broken += sentBroken
        switch outcome {
        case .approved(let receipt):
            if answer.count != 6 || answer.suffix(2) != [0x90, 0x00] { broken.append("approved on CREDIT answer \(answer.hex)") }
            if receipt.tac != Array(answer.prefix(4)) { broken.append("TAC \(receipt.tac.hex) is not the card's \(answer.hex)") }
            let initialize = card.response(to: card.commands(0x80, 0x50).last)
            let balance = initialize.count >= 4 ? Int64(BigEndian.uint(initialize.prefix(4))) : -1
            if Int64(receipt.debit.balanceBefore) != balance || receipt.balanceAfter != balance + Int64(amount) {
                broken.append("figures from \(receipt.debit.balanceBefore) to \(receipt.balanceAfter), INITIALIZE FOR LOAD said \(balance)")
            }
            if field.journal.completed.last?.debit != receipt.debit { broken.append("approved without COMPLETE in the journal") }
            if executed == 0 && !field.faulted(credits.first) { broken.append("approved, the card did not credit and no fault made its answer up") }
        case .declined(let decline):
            if executed > 0 && answer != [0x93, 0x02] { broken.append("the card credited but the load was declined (\(decline.reason.rawValue))") }
        case .uncertain(let uncertain, _):
            if credits.isEmpty && field.journal.pending.isEmpty { broken.append("uncertain without a CREDIT sent") }
            if !field.isLastPending(uncertain) { broken.append("the uncertain load is not the PENDING entry") }
        case .recovered, .blocked:
            broken.append("nothing to recover or block, yet \(outcomeName(outcome))")
        }
        return Verdict("load " + outcomeName(outcome), violations: broken)
    }

    // MARK: - Balance

    static let balance = FuzzTarget(
        name: "balance", summary: "balance and last-10 history (§8.4) with faulted answers") { input in
        guard let field = Field(input) else { return Verdict("PSAM did not start") }
        // Some history to read: a purchase and a load on the card beforehand.
        var card = field.card.card
        // A history record (§4.2): counter, overdraft, amount, type, terminal, time.
        func record(counter: UInt16, amount: UInt32, type: UInt8) -> HexBytes {
            HexBytes(wrappedValue: BigEndian.bytes(UInt64(counter), width: 2) + [0, 0, 0] + BigEndian.bytes(UInt64(amount), width: 4)
                     + [type] + field.psam.terminalNumber + time.bytes)
        }
        card.state.history = [record(counter: 5, amount: 250, type: 0x06), record(counter: 2, amount: 5000, type: 0x02)]
        field.card.card = card
        let before = field.card.card.state
        let result = BalanceQuery().run(card: APDUChannel(field.card))
        var broken: [String] = []
        let moving = [0x50, 0x52, 0x54, 0xDC].flatMap { field.card.commands(0x80, $0) }
        if !moving.isEmpty { broken.append("a balance query sent a money command") }
        if field.card.card.state != before { broken.append("a balance query changed the card") }
        switch result {
        case .success(let report):
            let answered = field.card.response(to: field.card.commands(0x80, 0x5C).last)
            if answered.count != 6 || UInt64(report.balance) != BigEndian.uint(answered.prefix(4)) {
                broken.append("balance \(report.balance) shown, the card answered \(answered.hex)")
            }
            if report.history.count > 10 { broken.append("\(report.history.count) history lines") }
            let reads = field.card.commands(0x00, 0xB2)
            for (n, entry) in report.history.enumerated() {
                let raw = field.card.response(to: reads.first { field.card.sent[$0][2] == n + 1 })
                if raw.count != 25 || entry.amount != UInt32(BigEndian.uint(raw[5..<9])) || entry.transactionType != raw[9] {
                    broken.append("history line \(n + 1) is not the card's \(raw.hex)")
                }
            }
            return Verdict("balance shown", violations: broken)
        case .failure(let decline):
            return Verdict("declined \(decline.reason.rawValue)", violations: broken)
        }
    }
}

extension FieldLink {
    /// The raw answer to command `index` (empty for none).
    func answer(raw index: Int) -> [UInt8] { delivered.indices.contains(index) ? delivered[index] ?? [] : [] }
}
