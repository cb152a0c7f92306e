import Foundation

/// A card as vpcd sees it: an ATR, answers to commands, and power.
public protocol SimulatedCard: Sendable {
    associatedtype State: Codable & Equatable & Sendable
    var state: State { get }
    var atr: [UInt8] { get }
    /// Test hooks and faults (`CommandHooks`), honoured by `respond(to:)`.
    var hooks: CommandHooks { get set }
    /// The answer's bytes, or nil when the card loses power mid-command (a tear):
    /// then it sends nothing and leaves the field.
    mutating func respond(to command: [UInt8]) -> [UInt8]?
    /// Power off/on or reset: everything but `state` is forgotten.
    mutating func powerCycle()
}

/// What a test hook decides for a command as it reaches a simulated card.
public enum CommandFate: Sendable, Equatable {
    /// Act on it and answer as the card would.
    case proceed
    /// Leave the field right there, without acting or answering: a tear at an APDU boundary.
    case vanish
    /// Send these bytes instead of acting on the command (a card whose
    /// answers are garbled, short, over-long, or from another card).
    case answer([UInt8])
}

/// Test hooks shared by the card and PSAM simulators: each sees every
/// command first, and may rewrite every answer (a bit flip in a chosen field).
public struct CommandHooks: Sendable {
    public var onCommand: (@Sendable ([UInt8]) -> CommandFate)?
    /// Called with the command and the answer the card would send; returns what it sends.
    public var onAnswer: (@Sendable ([UInt8], [UInt8]) -> [UInt8])?
    /// Faults in the answers, applied after the hooks above, each logged.
    public var faults: AnswerFaults?
    public init() {}
}

extension SimulatedCard {
    /// One command through `hooks` around the card's own `execute`: a made-up
    /// answer or a tear in place of the command, and the answer rewritten as
    /// it leaves.
    mutating func respond(to bytes: [UInt8], hooks: CommandHooks, execute: (inout Self) -> [UInt8]?) -> [UInt8]? {
        guard let faults = hooks.faults else { return respondUnfaulted(to: bytes, hooks: hooks, execute: execute) }
        var delivered: [UInt8]?
        guard let planned = faults.next(for: bytes) else {
            delivered = respondUnfaulted(to: bytes, hooks: hooks, execute: execute)
            faults.record(nil, command: bytes, delivered: delivered)
            return delivered
        }
        defer { faults.record(planned, command: bytes, delivered: delivered) }
        if case .delay(let milliseconds) = planned.fault { usleep(useconds_t(milliseconds) * 1000) }
        // A card that acted gives its answer, spoiled on the way; one that
        // never saw the command gives nothing of its own: what arrives is
        // noise, a bare status word, a stale answer or nothing.
        let answer = planned.cardActs ? respondUnfaulted(to: bytes, hooks: hooks, execute: execute) : []
        // Nothing arriving is the card leaving the field. (Not an empty frame:
        // vpcd's read hangs on one, a wedge MoneyTruthTests provokes on purpose.)
        delivered = answer.flatMap { planned.fault.apply(to: $0, previous: faults.previousAnswer) }.flatMap { $0.isEmpty ? nil : $0 }
        if delivered == nil { powerCycle() }
        return delivered
    }

    private mutating func respondUnfaulted(to bytes: [UInt8], hooks: CommandHooks, execute: (inout Self) -> [UInt8]?) -> [UInt8]? {
        switch hooks.onCommand?(bytes) ?? .proceed {
        case .vanish:
            powerCycle()
            return nil
        case .answer(let made):
            return made
        case .proceed:
            guard let answer = execute(&self) else { return nil }
            return hooks.onAnswer?(bytes, answer) ?? answer
        }
    }
}
