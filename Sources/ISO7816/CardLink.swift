/// Why an exchange with a card produced no usable answer.
public enum CardLinkError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The transmit succeeded with fewer than two bytes: the card vanished
    /// mid-command (vpcd reports it this way) or answered garbage.
    case noAnswer
    /// The reader says the card is gone.
    case cardRemoved
    /// Any other reader or transport failure, with the reader's own words.
    case transmitFailed(String)
    /// The card broke the transport rules (endless `61xx`, a `6Cxx` loop).
    case protocolViolation(String)

    public var description: String {
        switch self {
        case .noAnswer: "no answer from the card"
        case .cardRemoved: "card removed"
        case .transmitFailed(let why): "transmit failed: \(why)"
        case .protocolViolation(let why): "card broke the transport rules: \(why)"
        }
    }
}

/// The raw seam to a card: one command's bytes out, the answer's bytes back.
/// `PCSC.CardHandle` implements it on a reader; tests implement it with scripts.
public protocol CardLink {
    func transmit(_ command: [UInt8]) throws(CardLinkError) -> [UInt8]
}

/// A link that passes every command on to another (a recorder, a watcher):
/// lets a tool reach the reader underneath.
public protocol WrappingLink: CardLink {
    var inner: any CardLink { get }
}
