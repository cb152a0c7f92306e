/// A card as vpcd sees it: an ATR, answers to commands, and power.
public protocol SimulatedCard: Sendable {
    associatedtype State: Codable & Equatable & Sendable
    var state: State { get }
    var atr: [UInt8] { get }
    /// The answer's bytes, or nil when the card loses power mid-command (a tear):
    /// then it sends nothing and leaves the field.
    mutating func respond(to command: [UInt8]) -> [UInt8]?
    /// Power off/on or reset: everything but `state` is forgotten.
    mutating func powerCycle()
}
