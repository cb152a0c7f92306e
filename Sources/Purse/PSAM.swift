import Hex
import ISO7816

/// The terminal's secure access module (contract §5). Started once per boot;
/// afterwards it computes MAC1 and checks MAC2 for each purchase. The terminal
/// itself holds no key: every MAC comes from here.
public struct PSAM {
    public let channel: APDUChannel
    /// EF 0x16: the terminal number that goes into INITIALIZE and MAC1.
    public let terminalNumber: [UInt8]
    /// EF 0x17 byte 0: the key index for INITIALIZE FOR PURCHASE.
    public let purchaseKeyIndex: UInt8

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Start-up: SELECT ADF `1001`, read the terminal number and key index.
    /// A PSAM whose EF 0x16 is readable only from the MF gets the §5 detour.
    public static func start(_ channel: APDUChannel) throws(Failure) -> PSAM {
        func must(_ command: CommandAPDU, length: Int? = nil) throws(Failure) -> [UInt8] {
            let answer: ResponseAPDU
            do { answer = try channel.send(command) } catch {
                throw Failure(description: "PSAM \(command): \(error)")
            }
            guard answer.status.isSuccess else {
                throw Failure(description: "PSAM \(command) answered \(answer.status)")
            }
            if let length, answer.data.count != length {
                throw Failure(description: "PSAM \(command) answered \(answer.data.count) bytes, expected \(length)")
            }
            return answer.data
        }
        let adf = PurseCommand.psamSelectFile(0x1001)
        _ = try must(adf)
        let terminal: [UInt8]
        if let direct = try? must(PurseCommand.psamReadTerminalNumber, length: 6) {
            terminal = direct
        } else {
            _ = try must(PurseCommand.psamSelectFile(0x3F00))
            terminal = try must(PurseCommand.psamReadTerminalNumber, length: 6)
            _ = try must(adf)
        }
        let keyIndex = try must(PurseCommand.psamReadKeyIndex, length: 1)[0]
        return PSAM(channel: channel, terminalNumber: terminal, purchaseKeyIndex: keyIndex)
    }

    /// The same PSAM reached through another channel (a recording or measuring wrapper).
    public func over(_ channel: APDUChannel) -> PSAM {
        PSAM(channel: channel, terminalNumber: terminalNumber, purchaseKeyIndex: purchaseKeyIndex)
    }

    /// Sends `80 CA` (the card's authentication code, for the next MAC1 only) when
    /// there is one, then `80 70`. Returns T and MAC1.
    func mac1(for input: [UInt8], authenticationCode: [UInt8]?) throws(Decline) -> (sequence: UInt32, mac1: [UInt8]) {
        if let code = authenticationCode {
            _ = try send(PurseCommand.psamAuthenticationCode(code), length: 0)
        }
        let answer = try send(PurseCommand.psamMAC1(input), length: 8)
        return (UInt32(BigEndian.uint(answer[0..<4])), Array(answer[4..<8]))
    }

    /// The APPLICATION BLOCK MAC: `80 1A 27 01` loads the block key for the card,
    /// `80 FA 05 00` MACs the padded header with IV = challenge ‖ `00000000`.
    /// PSAMs answer 4 or 8 bytes; the first 4 are the MAC.
    func blockMAC(cardNumber: CardNumber, header: [UInt8], challenge: [UInt8]) throws(Decline) -> [UInt8] {
        _ = try send(CommandAPDU(cla: 0x80, ins: 0x1A, p1: 0x27, p2: 0x01, data: cardNumber.bytes), lengths: [0])
        let padded = header + [0x80, 0x00, 0x00]  // ISO 9797-1 method 2 to 8 bytes
        let mac = try send(CommandAPDU(cla: 0x80, ins: 0xFA, p1: 0x05, p2: 0x00, data: challenge + [0, 0, 0, 0] + padded),
                           lengths: [4, 8])
        return Array(mac.prefix(4))
    }

    /// `80 72`: true when the PSAM confirms the card's MAC2.
    func verifyMAC2(_ mac2: [UInt8]) -> Bool {
        (try? channel.send(PurseCommand.psamVerifyMAC2(mac2)))?.status.isSuccess ?? false
    }

    private func send(_ command: CommandAPDU, length: Int) throws(Decline) -> [UInt8] {
        try send(command, lengths: [length])
    }

    private func send(_ command: CommandAPDU, lengths: [Int]) throws(Decline) -> [UInt8] {
        let answer: ResponseAPDU
        do { answer = try channel.send(command) } catch {
            throw Decline(.psamError, "PSAM \(command.ins.hexByte): \(error)")
        }
        guard answer.status.isSuccess, lengths.contains(answer.data.count) else {
            throw Decline(.psamError, "PSAM \(command.ins.hexByte) answered \(answer)")
        }
        return answer.data
    }
}
