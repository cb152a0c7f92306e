import Hex
import IssuerCrypto

/// What the simulated PSAM keeps across power cycles (§5): its files, the
/// masters it holds and its transaction sequence T. This is its state file.
public struct PSAMState: Codable, Equatable, Sendable {
    @HexBytes public var terminalNumber: [UInt8]
    /// EF 0x17: purchase key index (1) ‖ issuer id (8) ‖ user id (8) ‖ start (4) ‖ expiry (4).
    @HexBytes public var ef17: [UInt8]
    @HexBytes public var mpk: [UInt8]
    public var mpkVersion: UInt8
    @HexBytes public var mabk: [UInt8]
    /// The next T to hand out.
    public var sequence: UInt32

    // Options (§12)
    public var answerForm: AnswerForm
    public var selectCarriesFCI: Bool
    public var terminalNumberOnlyInMF: Bool
    /// `80 FA` answers 4 or 8 bytes.
    public var blockMACLength: Int

    /// The test PSAM: terminal `112233445566`, key index `01`, T from `00000001`.
    public static func testPSAM() -> PSAMState {
        PSAMState(
            terminalNumber: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66],
            ef17: [0x01] + [UInt8](hex: "8888100000000000")! + [UInt8](hex: "0000000000000000")!
                + [UInt8](hex: "20250101")! + [UInt8](hex: "20351231")!,
            mpk: PurseCardState.TestMasters.mpk, mpkVersion: 0x01, mabk: PurseCardState.TestMasters.mabk,
            sequence: 1, answerForm: .getResponse, selectCarriesFCI: false, terminalNumberOnlyInMF: false,
            blockMACLength: 4)
    }
}

/// A PSAM as the contract describes it (§5).
public struct SimulatedPSAM: SimulatedCard {
    public var state: PSAMState
    var formatter: AnswerFormatter
    private var session = Session()

    struct Session {
        enum Directory { case none, masterFile, application }
        var directory = Directory.none
        var authenticationCode: [UInt8]?
        var mac2Check: (algorithmID: UInt8, key: [UInt8], amount: [UInt8])?
        var blockKey: [UInt8]?
    }

    public init(state: PSAMState) {
        self.state = state
        self.formatter = AnswerFormatter(form: state.answerForm)
    }

    public var atr: [UInt8] { [0x3B, 0x86, 0x00, 0x50, 0x53, 0x41, 0x4D, 0x30, 0x31] }

    public mutating func powerCycle() {
        session = Session()
        formatter = AnswerFormatter(form: state.answerForm)
    }

    /// Test hooks (`CommandHooks`): a tear or a made-up answer at any PSAM
    /// command, and answers rewritten as they leave.
    public var hooks = CommandHooks()

    public mutating func respond(to bytes: [UInt8]) -> [UInt8]? {
        respond(to: bytes, hooks: hooks) { psam in
            let result = AnswerFormatter.respond(psam, to: bytes, formatter: \.formatter) { $0.execute($1) }
            psam = result.card
            return result.answer
        }
    }

    private mutating func execute(_ c: SimCommand) -> SimAnswer {
        switch (c.cla, c.ins) {
        case (0x00, 0xA4): return select(c)
        case (0x00, 0xB0): return readBinary(c)
        default: break
        }
        guard session.directory == .application else { return .status(0x6985) }
        switch (c.cla, c.ins) {
        case (0x80, 0xCA):
            guard c.data.count == 9 else { return .status(0x6700) }
            session.authenticationCode = c.data
            return SimAnswer()
        case (0x80, 0x70): return mac1(c)
        case (0x80, 0x72): return checkMAC2(c)
        case (0x80, 0x1A): return loadBlockKey(c)
        case (0x80, 0xFA): return blockMAC(c)
        default: return .status(0x6D00)
        }
    }

    private mutating func select(_ c: SimCommand) -> SimAnswer {
        guard c.p1 == 0x00, c.data.count == 2 else { return .status(0x6A86) }
        switch (c.data[0], c.data[1]) {
        case (0x3F, 0x00): session.directory = .masterFile
        case (0x10, 0x01): session.directory = .application
        default: return .status(0x6A82)
        }
        session.mac2Check = nil
        guard state.selectCarriesFCI else { return SimAnswer() }
        return SimAnswer(tlv([0x6F], tlv([0x84], c.data)))
    }

    private func readBinary(_ c: SimCommand) -> SimAnswer {
        let file: [UInt8]
        switch c.p1 {
        case 0x96:
            guard session.directory == .masterFile || (session.directory == .application && !state.terminalNumberOnlyInMF)
            else { return .status(0x6A82) }
            file = state.terminalNumber
        case 0x97:
            guard session.directory == .application else { return .status(0x6985) }
            file = state.ef17
        default:
            return .status(0x6A82)
        }
        let offset = Int(c.p2)
        guard offset < file.count else { return .status(0x6B00) }
        let length = Int(c.le ?? 0)
        let rest = Array(file[offset...])
        return SimAnswer(length == 0 ? rest : Array(rest.prefix(length)))
    }

    private mutating func mac1(_ c: SimCommand) -> SimAnswer {
        let code = session.authenticationCode
        session.authenticationCode = nil  // good for this 80 70 only
        session.mac2Check = nil
        guard c.data.count == 28 else { return .status(0x6700) }
        let d = c.data
        let random = Array(d[0..<4]), counter = Array(d[4..<6]), amount = Array(d[6..<10])
        let type = d[10], time = Array(d[11..<18]), keyVersion = d[18], algorithmID = d[19]
        let cardNumber = Array(d[20..<28])
        guard keyVersion == state.mpkVersion else { return .status(0x6A88) }
        guard algorithmID == PurseCrypto.algorithm3DES || algorithmID == PurseCrypto.algorithmSM4 else {
            return .status(0x6A80)
        }
        guard state.sequence != .max else { return .status(0x6985) }
        let sequence = be(state.sequence, 4)
        let dpk = PurseCrypto.diversify(algorithmID: algorithmID, master: state.mpk, factor: cardNumber)
        let key = PurseCrypto.sessionKey(algorithmID: algorithmID, cardKey: dpk, input: random + counter + Array(sequence[2..<4]))
        let mac = PurseCrypto.sessionMAC(algorithmID: algorithmID, sessionKey: key,
                                         amount + [type] + state.terminalNumber + time + (code ?? []))
        state.sequence += 1
        session.mac2Check = (algorithmID, key, amount)
        return SimAnswer(sequence + mac)
    }

    private mutating func checkMAC2(_ c: SimCommand) -> SimAnswer {
        guard let check = session.mac2Check else { return .status(0x6901) }
        session.mac2Check = nil
        guard c.data.count == 4 else { return .status(0x6700) }
        let expected = PurseCrypto.sessionMAC(algorithmID: check.algorithmID, sessionKey: check.key, check.amount)
        return expected == c.data ? SimAnswer() : .status(0x9302)
    }

    private mutating func loadBlockKey(_ c: SimCommand) -> SimAnswer {
        guard c.p1 == 0x27, c.p2 == 0x01 else { return .status(0x6A88) }
        guard c.data.count == 8 else { return .status(0x6700) }
        session.blockKey = PurseCrypto.diversify(algorithmID: PurseCrypto.algorithm3DES, master: state.mabk, factor: c.data)
        return SimAnswer()
    }

    private func blockMAC(_ c: SimCommand) -> SimAnswer {
        guard let key = session.blockKey else { return .status(0x6901) }
        guard c.p1 == 0x05, c.data.count >= 16, c.data.count % 8 == 0 else { return .status(0x6700) }
        let mac = PurseCrypto.retailMAC(key: key, padded: Array(c.data[8...]), iv: Array(c.data[0..<8]))
        return SimAnswer(Array(mac.prefix(state.blockMACLength)))
    }
}
