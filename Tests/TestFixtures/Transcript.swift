import Hex
import ISO7816

/// Plays a contract transcript (`[{to, c, r}]`) back to a terminal: each
/// device's link checks that the terminal sends exactly the next command, in
/// the global order, and answers the transcript's response.
public final class TranscriptPlayer {
    public struct Step {
        public var to: String
        public var command: [UInt8]
        public var response: [UInt8]
        public init(to: String, command: [UInt8], response: [UInt8]) {
            self.to = to
            self.command = command
            self.response = response
        }
    }

    public private(set) var steps: [Step]
    public private(set) var position = 0
    /// Mismatches, as text; empty when the terminal followed the script.
    public private(set) var mismatches: [String] = []

    public init(_ steps: [Step]) { self.steps = steps }

    public convenience init(_ transcript: [(to: String, command: [UInt8], response: [UInt8])]) {
        self.init(transcript.map { Step(to: $0.to, command: $0.command, response: $0.response) })
    }

    public var finished: Bool { position == steps.count }

    public func link(_ device: String) -> CardLink { DeviceLink(player: self, device: device) }

    fileprivate func next(_ device: String, _ command: [UInt8]) throws(CardLinkError) -> [UInt8] {
        guard position < steps.count else {
            mismatches.append("\(device) sent \(command.hex) after the end of the script")
            throw .cardRemoved
        }
        let step = steps[position]
        position += 1
        if step.to != device || step.command != command {
            mismatches.append("step \(position): expected \(step.to) \(step.command.hex), got \(device) \(command.hex)")
        }
        return step.response
    }
}

private struct DeviceLink: CardLink {
    let player: TranscriptPlayer
    let device: String
    func transmit(_ command: [UInt8]) throws(CardLinkError) -> [UInt8] { try player.next(device, command) }
}

/// A card that answers from a list and records what it was sent.
public final class ScriptedLink: CardLink {
    public var script: [[UInt8]]
    public private(set) var sent: [[UInt8]] = []

    public init(_ answers: [[UInt8]]) { script = answers }

    public func transmit(_ command: [UInt8]) throws(CardLinkError) -> [UInt8] {
        sent.append(command)
        guard !script.isEmpty else { throw .cardRemoved }
        return script.removeFirst()
    }
}
