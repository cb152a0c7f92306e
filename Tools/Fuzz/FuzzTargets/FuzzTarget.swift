/// One thing posd reads from outside, driven by arbitrary bytes: what the
/// bytes did, and every invariant they broke. The same targets run under
/// libFuzzer (`posd-fuzz`, built by `scripts/fuzz.sh`) and, seeded, in every
/// `swift test`; a defect found either way is kept as a corpus file.
public struct FuzzTarget: Sendable {
    public let name: String
    public let summary: String
    /// Runs one input. Must not trap, whatever the bytes.
    public let run: @Sendable ([UInt8]) -> Verdict

    public init(name: String, summary: String, run: @escaping @Sendable ([UInt8]) -> Verdict) {
        self.name = name
        self.summary = summary
        self.run = run
    }

    public static let all: [FuzzTarget] = FlowTargets.all + ParserTargets.all

    public static func named(_ name: String) -> FuzzTarget? { all.first { $0.name == name } }
}

/// What one input did (a short outcome, for counting) and what it broke.
public struct Verdict: Sendable, CustomStringConvertible {
    public var outcome: String
    public var violations: [String]

    public init(_ outcome: String, violations: [String] = []) {
        self.outcome = outcome
        self.violations = violations
    }

    public var description: String { violations.isEmpty ? outcome : "\(outcome): " + violations.joined(separator: "; ") }
}
