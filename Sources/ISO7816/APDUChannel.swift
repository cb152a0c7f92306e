/// Sends commands over a `CardLink` and hides the two transport answer forms
/// of ISO 7816-4 (contract §2), so that callers see only data and a final SW:
///
/// - `61xx`: the command was executed and xx bytes wait; fetch them with GET
///   RESPONSE, repeating while the answer is `61yy`, concatenating the data.
/// - `6Cxx`: the command was *not* executed; re-send it with Le = xx.
public struct APDUChannel {
    public let link: any CardLink
    /// Guards against a card that answers `61xx`/`6Cxx` forever.
    public var maximumTransportRounds: Int

    public init(_ link: any CardLink, maximumTransportRounds: Int = 16) {
        self.link = link
        self.maximumTransportRounds = maximumTransportRounds
    }

    public func send(_ command: CommandAPDU) throws(CardLinkError) -> ResponseAPDU {
        var next = command
        var collected: [UInt8] = []
        var resent = false
        for _ in 0..<maximumTransportRounds {
            guard let answer = ResponseAPDU(raw: try link.transmit(next.bytes)) else {
                throw .noAnswer
            }
            switch answer.status.sw1 {
            case 0x61:
                collected += answer.data
                next = .getResponse(answer.status.sw2)
                resent = false
            case 0x6C where !resent:
                // Re-send the command (or the GET RESPONSE) that was refused, once.
                next = next.with(le: answer.status.sw2)
                resent = true
            case 0x6C:
                throw .protocolViolation("6Cxx repeated for \(next)")
            default:
                return ResponseAPDU(data: collected + answer.data, status: answer.status)
            }
        }
        throw .protocolViolation("more than \(maximumTransportRounds) transport rounds for \(command)")
    }
}
