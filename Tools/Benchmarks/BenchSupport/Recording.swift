import ISO7816
import PCSC

/// Passes commands through and remembers commands and answers, numbered in
/// one sequence shared by all recorders so card and PSAM steps interleave.
public final class Recorder: CardLink {
    private let inner: CardLink
    private(set) var steps: [(order: Int, command: [UInt8])] = []
    public private(set) var answers: [[UInt8]] = []
    nonisolated(unsafe) private static var counter = 0

    public init(_ inner: CardLink) { self.inner = inner }

    public func transmit(_ command: [UInt8]) throws(CardLinkError) -> [UInt8] {
        Recorder.counter += 1
        steps.append((Recorder.counter, command))
        let answer = try inner.transmit(command)
        answers.append(answer)
        return answer
    }

    public static func merged(_ recorders: Recorder...) -> [(link: CardLink, command: [UInt8])] {
        recorders.flatMap { r in r.steps.map { (order: $0.order, link: r.inner, command: $0.command) } }
            .sorted { $0.order < $1.order }
            .map { ($0.link, $0.command) }
    }
}

/// Answers from a recording, in order, whatever is sent.
public final class Replay: CardLink {
    private var answers: ArraySlice<[UInt8]>
    public init(_ answers: [[UInt8]]) { self.answers = answers[...] }
    public func transmit(_ command: [UInt8]) throws(CardLinkError) -> [UInt8] {
        guard let next = answers.popFirst() else { throw .noAnswer }
        return next
    }
}

/// One recorded step sent again through bare `SCardTransmit` (the baseline),
/// which must answer at least a status word: a benchmark times only what worked.
public func replayBare(_ step: (link: CardLink, command: [UInt8])) {
    var link = step.link
    while let wrapper = link as? WrappingLink { link = wrapper.inner }  // the PSAM's link is watched
    guard let handle = link as? CardHandle else { fatalError("the baseline replays only through a reader") }
    guard let answer = try? handle.transmitUnbounded(step.command), answer.count >= 2 else {
        fatalError("the baseline's SCardTransmit of \(step.command.count) bytes failed")
    }
}
