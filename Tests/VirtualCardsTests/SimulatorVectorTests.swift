import Foundation
import Hex
import IssuerCrypto
import TestSupport
import Testing
@testable import VirtualCards

/// The simulators' side of every vector: their crypto, and their answers to
/// each transcript's commands, byte for byte. They share no code with the
/// terminal, so agreement here and in PurseTests means both follow the contract.
@Suite struct CryptoVectorTests {
    static let primitiveKinds: Set = ["sm4-ecb", "tdes-ecb", "des-mac", "sm4-mac", "retail-mac", "session-key",
                                      "ep-mac", "ep-tac", "master-key", "diversify"]
    static let primitives = Vectors.allFiles.flatMap(Vectors.load).filter { primitiveKinds.contains($0.kind) }

    @Test(arguments: primitives)
    func primitive(_ v: VectorCase) {
        switch v.kind {
        case "sm4-ecb":
            #expect(Cipher.encrypt(.sm4, key: v.bytes("key"), v.bytes("plaintext")) == v.bytes("ciphertext"))
        case "tdes-ecb":
            #expect(Cipher.encrypt(.tdes, key: v.bytes("key"), v.bytes("plaintext")) == v.bytes("ciphertext"))
        case "des-mac", "sm4-mac":
            let algorithm: Cipher.Algorithm = v.kind == "des-mac" ? .des : .sm4
            #expect(PurseCrypto.pad(v.bytes("data"), blockSize: algorithm.blockSize) == v.bytes("padded"))
            #expect(PurseCrypto.mac(algorithm, key: v.bytes("key"), v.bytes("data")) == v.bytes("mac"))
        case "retail-mac":
            #expect(PurseCrypto.secureCommandMAC(key: v.bytes("key"), header: v.bytes("data"), challenge: v.bytes("challenge")) == v.bytes("mac"))
        case "session-key":
            #expect(PurseCrypto.sessionKey(algorithmID: v.bytes("alg_id")[0], cardKey: v.bytes("card_key"),
                                           input: v.bytes("session_input")) == v.bytes("session_key"))
        case "ep-mac":
            #expect(PurseCrypto.sessionMAC(algorithmID: v.bytes("alg_id")[0], sessionKey: v.bytes("session_key"), v.bytes("data")) == v.bytes("mac"))
        case "ep-tac":
            #expect(PurseCrypto.tac(algorithmID: v.bytes("alg_id")[0], dtk: v.bytes("dtk"), v.bytes("data")) == v.bytes("tac"))
        case "master-key":
            #expect(PurseCrypto.masterKey(label: v.string("label")) == v.bytes("key"))
        case "diversify":
            let key = PurseCrypto.diversify(algorithmID: v.bytes("alg_id")[0], master: v.bytes("master"), factor: v.bytes("factor"))
            #expect(key == v.bytes("key"))
            if v.has("tac_key") { #expect(PurseCrypto.tacKey3DES(key) == v.bytes("tac_key")) }
        default:
            Issue.record("unhandled kind \(v.kind)")
        }
    }

    @Test func testCardsCarryTheContractsDiversifiedKeys() {
        let card1 = PurseCardState.testCard1().keys, card2 = PurseCardState.testCard2().keys
        #expect(card1.dpk.hex == "60A618ECBE62E126961B85283429D384")
        #expect(card1.dtk.hex == "6B831668962A95AFC535D75B8C42151E")
        #expect(card1.dabk.hex == "4069A0F86AB1D87F031F8172890421E9")
        #expect(card2.dpk.hex == "001707C4259CC1719EC88CCF1D35E07D")
        #expect(card2.dlk.hex == "4BC8DD6573886CE37362BC0412D0DF64")
        #expect(card2.dauk.hex == "872606437F9AB0B3D46D0888E8CB0BFC")
    }
}

@Suite struct SimulatorTranscriptTests {
    /// A card in the vector's initial state. Keys come from the vector when it
    /// gives them (published cards), else from the test masters.
    static func card(for v: VectorCase, random: [UInt8]) -> SimulatedPurseCard {
        let number = v.bytes("card_no")
        let profile: PurseCardState.Profile = v.has("profile") && v.string("profile") == "TU" ? .tu : .cu
        var state: PurseCardState
        switch number.hex {
        case "8888000000000001": state = .testCard1()
        case "8888000000000002": state = .testCard2()
        default:
            let ef15 = [0x41, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x01, 0x00, 0x00] + number
                + [0x20, 0x10, 0x01, 0x01, 0x20, 0x30, 0x12, 0x31, 0x00, 0x00]
            state = .personalise(profile: profile, ef15: ef15, appVersion: 1, algorithmID: 0, balance: 0,
                                 offlineCounter: 0, onlineCounter: 0)
        }
        if v.has("alg_id") { state.algorithmID = v.bytes("alg_id")[0] }
        for (name, path) in [("dpk", \PurseCardState.Keys.dpk), ("dlk", \.dlk), ("dtk", \.dtk), ("dabk", \.dabk), ("dauk", \.dauk)]
        where v.inputs[name] != nil {
            state.keys[keyPath: path] = v.bytes(name)
        }
        if v.has("balance_before") { state.balance = UInt32(BigEndian.uint(v.bytes("balance_before"))) }
        if v.has("counter") { state.offlineCounter = UInt16(BigEndian.uint(v.bytes("counter"))) }
        if v.has("online_counter") { state.onlineCounter = UInt16(BigEndian.uint(v.bytes("online_counter"))) }
        if v.has("auth_code") { state.authenticationCode = HexBytes(wrappedValue: v.bytes("auth_code")) }
        if v.has("record_before") { state.compositeRecord = v.bytes("record_before") }
        state.answerForm = .direct
        var card = SimulatedPurseCard(state: state, random: { random })
        _ = card.respond(to: [0x00, 0xA4, 0x04, 0x00, UInt8(state.aid.count)] + state.aid)
        return card
    }

    static func psam(sequence: [UInt8]) -> SimulatedPSAM {
        var state = PSAMState.testPSAM()
        state.answerForm = .direct
        state.sequence = UInt32(BigEndian.uint(sequence))
        var psam = SimulatedPSAM(state: state)
        _ = psam.respond(to: [0x00, 0xA4, 0x00, 0x00, 0x02, 0x10, 0x01])
        return psam
    }

    /// Sends each step to its device and compares the answer; PSAM steps are
    /// skipped for published cards whose masters no PSAM of ours holds.
    static func replay(_ steps: [(to: String, command: [UInt8], response: [UInt8])],
                       card: inout SimulatedPurseCard, psam: inout SimulatedPSAM?) {
        for step in steps {
            let answer: [UInt8]?
            if step.to == "card" {
                answer = card.respond(to: step.command)
            } else if psam != nil {
                answer = psam!.respond(to: step.command)
            } else {
                continue
            }
            #expect(answer == step.response, "\(step.to) \(step.command.hex)")
        }
    }

    /// The vector's transcript, or for published vectors (which list only
    /// command/answer pairs) the card steps rebuilt from those pairs.
    static func steps(_ v: VectorCase) -> [(to: String, command: [UInt8], response: [UInt8])] {
        if v.expected["transcript"] != nil { return v.transcript() }
        switch v.kind {
        case "app-block", "app-unblock":
            return [("card", [0x00, 0x84, 0x00, 0x00, 0x04], v.bytes("challenge") + [0x90, 0x00]),
                    ("card", v.bytes("command"), [0x90, 0x00])]
        default:
            return ["get_data", "init", "debit", "credit"].filter { v.has("\($0)_cmd") }
                .map { ("card", v.bytes("\($0)_cmd"), v.bytes("\($0)_resp")) }
        }
    }

    static let purchases = ["published.json", "purchase.json", "capp.json"].flatMap(Vectors.load).filter { $0.kind == "purchase" }

    @Test(arguments: purchases)
    func purchase(_ v: VectorCase) {
        var card = Self.card(for: v, random: v.bytes("random"))
        var psam: SimulatedPSAM? = v.has("mpk") ? Self.psam(sequence: v.bytes("psam_seq")) : nil
        Self.replay(Self.steps(v), card: &card, psam: &psam)
        #expect(UInt64(card.state.balance) == BigEndian.uint(v.bytes("balance_after")))
        if v.has("counter_after") { #expect(UInt64(card.state.offlineCounter) == BigEndian.uint(v.bytes("counter_after"))) }
        if v.has("record_0x18") { #expect(card.state.history.first?.wrappedValue == v.bytes("record_0x18")) }
        if v.has("record_after") { #expect(card.state.compositeRecord == v.bytes("record_after")) }
        if let psam { #expect(UInt64(psam.state.sequence) == BigEndian.uint(v.bytes("psam_seq")) + 1) }
        if v.has("prove_cmd") { #expect(card.respond(to: v.bytes("prove_cmd")) == v.bytes("prove_resp")) }
    }

    @Test(arguments: ["published.json", "load.json"].flatMap(Vectors.load).filter { $0.kind == "load" })
    func load(_ v: VectorCase) {
        var card = Self.card(for: v, random: v.bytes("random"))
        var none: SimulatedPSAM?
        if !v.has("pin") {  // published V1 starts after PIN verification
            #expect(card.respond(to: [0x00, 0x20, 0x00, 0x00, 0x03] + card.state.pin) == [0x90, 0x00])
        }
        Self.replay(Self.steps(v), card: &card, psam: &none)
        #expect(UInt64(card.state.balance) == BigEndian.uint(v.bytes("balance_after")))
        #expect(card.state.history.first?.wrappedValue == v.bytes("record_0x18"))
        if v.has("counter_after") { #expect(UInt64(card.state.onlineCounter) == BigEndian.uint(v.bytes("counter_after"))) }
        if v.has("prove_cmd") { #expect(card.respond(to: v.bytes("prove_cmd")) == v.bytes("prove_resp")) }
    }

    @Test(arguments: ["published.json", "block.json"].flatMap(Vectors.load).filter { $0.kind.hasPrefix("app-") })
    func blockAndUnblock(_ v: VectorCase) {
        var card = Self.card(for: v, random: v.bytes("challenge"))
        if v.kind == "app-unblock" { card.state.block = .temporary }
        var psam: SimulatedPSAM? = v.has("mabk") ? Self.psam(sequence: [0, 0, 0, 1]) : nil
        Self.replay(Self.steps(v), card: &card, psam: &psam)
        let aid = card.state.aid
        let select = card.respond(to: [0x00, 0xA4, 0x04, 0x00, UInt8(aid.count)] + aid) ?? []
        let expectedSW = v.kind == "app-unblock" ? "9000" : v.string("sw_on_next_select")
        #expect(select.suffix(2).hex == expectedSW)
    }

    @Test(arguments: Vectors.load("profiles.json").filter { $0.kind == "profile" })
    func selectAnswers(_ v: VectorCase) {
        var state = v.string("profile") == "CU" ? PurseCardState.testCard1() : PurseCardState.testCard2()
        state.answerForm = .direct
        var card = SimulatedPurseCard(state: state)
        #expect(card.respond(to: v.bytes("select_cmd")) == v.bytes("select_resp"))
        if v.has("read_ef15_cmd") { #expect(card.respond(to: v.bytes("read_ef15_cmd")) == v.bytes("read_ef15_resp")) }
    }

    @Test func psamBoot() {
        let v = Vectors.named("test-psam-boot", in: "profiles.json")
        var state = PSAMState.testPSAM()
        state.answerForm = .direct
        var psam = SimulatedPSAM(state: state)
        for step in v.transcript() { #expect(psam.respond(to: step.command) == step.response) }
    }

    /// The transport vectors: the simulators' own answer forms.
    @Test(arguments: Vectors.load("transport.json"))
    func transport(_ v: VectorCase) {
        let form = AnswerForm(rawValue: v.string("mode"))!
        let exchanges = (v.expected["exchanges"] as! [[String]]).map { ([UInt8](hex: $0[0])!, [UInt8](hex: $0[1])!) }
        let isPSAM = v.bytes("command").starts(with: [0x80, 0x70])
        var answers: [[UInt8]?] = []
        if isPSAM {
            var psam = Self.psam(sequence: [0, 0, 1, 1])
            psam.state.answerForm = form
            psam.powerCycle()
            _ = psam.respond(to: [0x00, 0xA4, 0x00, 0x00, 0x02, 0x10, 0x01])
            answers = exchanges.map { psam.respond(to: $0.0) }
        } else {
            var card = Self.card(for: Vectors.named("card1-purchase-3des", in: "purchase.json"), random: [0x7E, 0x3A, 0x91, 0xC4])
            card.state.answerForm = form
            card.powerCycle()
            // SELECT in this form first: 6Cxx asks for Le, 61xx leaves the FCI waiting.
            let select = [UInt8](hex: "00A4040009A00000000386980701")!
            let first = card.respond(to: select) ?? []
            if first.first == 0x6C { _ = card.respond(to: select + [first[1]]) }
            if first.first == 0x61 { _ = card.respond(to: [0x00, 0xC0, 0x00, 0x00, first[1]]) }
            answers = exchanges.map { card.respond(to: $0.0) }
        }
        #expect(answers == exchanges.map(\.1))
    }
}
