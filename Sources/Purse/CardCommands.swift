import Hex
import ISO7816

/// The card and PSAM commands of the contract (§4.1, §5), built exactly as sent:
/// case-2 commands with their exact Le, case-4 commands without Le.
enum PurseCommand {
    static func select(aid: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x04, p2: 0x00, data: aid)
    }
    static let readApplicationInfo = CommandAPDU(cla: 0x00, ins: 0xB0, p1: 0x95, p2: 0x00, le: 0x1E)
    static let getBalance = CommandAPDU(cla: 0x80, ins: 0x5C, p1: 0x00, p2: 0x02, le: 0x04)
    static let getAuthenticationCode = CommandAPDU(cla: 0x80, ins: 0xCA, p1: 0x00, p2: 0x00, le: 0x09)

    static func readHistory(_ n: UInt8) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xB2, p1: n, p2: 0xC4, le: 0x17)
    }

    /// INITIALIZE FOR PURCHASE (P1 `01`) or CAPP PURCHASE (P1 `03`).
    static func initializeForPurchase(p1: UInt8, keyIndex: UInt8, amount: UInt32, terminal: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0x50, p1: p1, p2: 0x02,
                    data: [keyIndex] + BigEndian.bytes(UInt64(amount), width: 4) + terminal)
    }

    static func debit(sequence: UInt32, time: BCDDateTime, mac1: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0x54, p1: 0x01, p2: 0x00,
                    data: BigEndian.bytes(UInt64(sequence), width: 4) + time.bytes + mac1)
    }

    /// READ RECORD / UPDATE CAPP DATA CACHE address the composite record by identifier (P2 low bits `000`).
    static func readComposite(_ profile: PurseProfile) -> CommandAPDU {
        let layout = profile.compositeRecord
        return CommandAPDU(cla: 0x00, ins: 0xB2, p1: layout.id, p2: layout.sfi << 3, le: UInt8(layout.length & 0xFF))
    }

    static func updateCompositeCache(_ profile: PurseProfile, record: [UInt8]) -> CommandAPDU {
        let layout = profile.compositeRecord
        return CommandAPDU(cla: 0x80, ins: 0xDC, p1: layout.id, p2: layout.sfi << 3, data: record)
    }

    static func verifyPIN(_ pin: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0x20, p1: 0x00, p2: 0x00, data: pin)
    }

    static func initializeForLoad(keyIndex: UInt8, amount: UInt32, terminal: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0x50, p1: 0x00, p2: 0x02, data: [keyIndex] + BigEndian.bytes(UInt64(amount), width: 4) + terminal)
    }

    static func creditForLoad(time: BCDDateTime, mac2: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0x52, p1: 0x00, p2: 0x00, data: time.bytes + mac2)
    }

    // PSAM
    static func psamSelectFile(_ id: UInt16) -> CommandAPDU {
        CommandAPDU(cla: 0x00, ins: 0xA4, p1: 0x00, p2: 0x00, data: [UInt8(id >> 8), UInt8(id & 0xFF)])
    }
    static let psamReadTerminalNumber = CommandAPDU(cla: 0x00, ins: 0xB0, p1: 0x96, p2: 0x00, le: 0x06)
    static let psamReadKeyIndex = CommandAPDU(cla: 0x00, ins: 0xB0, p1: 0x97, p2: 0x00, le: 0x01)

    static func psamAuthenticationCode(_ code: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0xCA, p1: 0x00, p2: 0x00, data: code)
    }
    static func psamMAC1(_ input: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0x70, p1: 0x00, p2: 0x00, data: input)
    }
    static func psamVerifyMAC2(_ mac2: [UInt8]) -> CommandAPDU {
        CommandAPDU(cla: 0x80, ins: 0x72, p1: 0x00, p2: 0x00, data: mac2)
    }
}

/// One card's channel with the terminal's failure rules applied: a link failure
/// before DEBIT abandons the transaction (card unchanged), and a `9000`
/// answer of the wrong length is a malformed card, never trusted.
struct CardSession {
    let channel: APDUChannel
    var cardNumber: CardNumber?

    func send(_ command: CommandAPDU) throws(Decline) -> ResponseAPDU {
        do {
            return try channel.send(command)
        } catch {
            switch error {
            case .cardRemoved, .noAnswer:
                throw Decline(.cardRemoved, "\(error) at \(command.ins.hexByte)", cardNumber: cardNumber)
            case .transmitFailed, .protocolViolation:
                throw Decline(.cardError, "\(error)", cardNumber: cardNumber)
            }
        }
    }

    /// Sends and requires `9000` with exactly `length` bytes of data.
    func expect(_ command: CommandAPDU, length: Int) throws(Decline) -> [UInt8] {
        let answer = try send(command)
        guard answer.status.isSuccess else {
            throw Decline(Self.reason(for: answer.status), "\(command.ins.hexByte) answered \(answer.status)", cardNumber: cardNumber)
        }
        guard answer.data.count == length else {
            throw Decline(.cardError, "\(command.ins.hexByte) answered \(answer.data.count) bytes, expected \(length)", cardNumber: cardNumber)
        }
        return answer.data
    }

    /// §11: what a status word means before DEBIT.
    static func reason(for status: StatusWord) -> DeclineReason {
        switch status.value {
        case 0x9401: .insufficientBalance
        case 0x9402: .counterExhausted
        case 0x9403: .keyNotSupported
        case 0x6A81, 0x9303: .appBlocked
        default: .cardError
        }
    }
}

extension UInt8 {
    var hexByte: String { [self].hex }
}
