import Foundation
import FuzzTargets
import Testing
import TestSupport

/// The fuzz targets in every `swift test`: the corpus kept in the repository
/// (seeds, and every input that once broke something) run once each, then
/// seeded random inputs shaped like fault plans. libFuzzer runs the same
/// targets for longer (`scripts/fuzz.sh`, in CI). `POSD_FUZZ_SEED` and
/// `POSD_FUZZ_RUNS` reproduce or lengthen a run.
@Suite struct FuzzTargetTests {
    static let corpus = Repository.path("Tests/Fixtures/fuzz")

    static func inputs(of target: FuzzTarget) -> [(String, [UInt8])] {
        let directory = corpus.appendingPathComponent(target.name)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
        return names.compactMap { name in
            FileManager.default.contents(atPath: directory.appendingPathComponent(name).path).map { (name, Array($0)) }
        }
    }

    @Test(arguments: FuzzTarget.all.map(\.name))
    func theCorpusBreaksNothing(_ name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        let inputs = Self.inputs(of: target)
        #expect(!inputs.isEmpty, "no corpus for \(name) in \(Self.corpus.path)")
        for (file, bytes) in inputs {
            let verdict = target.run(bytes)
            #expect(verdict.violations.isEmpty, "\(name)/\(file): \(verdict)")
        }
    }

    /// Without faults each flow does what it is for: the targets are not vacuous.
    @Test func unfaultedFlowsSucceed() throws {
        let expected = [("purchase", "approved"), ("capp", "approved"), ("load", "load approved"), ("balance", "balance shown"),
                        ("recovery", "torn before commit, approved"), ("recovery", "torn after commit, recovered")]
        for (name, outcome) in expected {
            let target = try #require(FuzzTarget.named(name))
            for card: UInt8 in [0, 1, 2, 3] {
                let options = name == "recovery" && outcome.contains("after") ? card | 4 : card
                let verdict = target.run([options])
                #expect(verdict.outcome == outcome && verdict.violations.isEmpty, "\(name), card options \(options): \(verdict)")
            }
        }
    }

    /// A random input shaped like a fault plan: card options, then up to four
    /// faults at the first sixteen commands of any device, some with payloads.
    static func planLike(_ random: inout SeededRandom) -> [UInt8] {
        func byte() -> UInt8 { UInt8(truncatingIfNeeded: random.next()) }
        var input = [byte() & 7]
        for _ in 0..<(1 + random.next() % 4) {
            let kind = byte() % 8
            input += [byte() % 16, kind, byte(), byte()]
            if kind == 1 || kind == 4 { input += (0..<Int(input[input.count - 2] % 40)).map { _ in byte() } }
            if kind == 3 { input.append(byte()) }
        }
        return input
    }

    @Test(arguments: FuzzTarget.all.map(\.name))
    func seededInputsBreakNothing(_ name: String) throws {
        let target = try #require(FuzzTarget.named(name))
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["POSD_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        let runs = environment["POSD_FUZZ_RUNS"].flatMap(Int.init) ?? 3_000
        var random = SeededRandom(seed: seed)
        let seeds = Self.inputs(of: target).map(\.1)
        var outcomes: [String: Int] = [:]
        var violations = 0
        let started = ContinuousClock.now
        for run in 0..<runs {
            let input: [UInt8]
            if Self.flowTargets.contains(name) {
                input = Self.planLike(&random)
            } else {
                // A corpus file with a few bytes changed, cut or added.
                var bytes = seeds.isEmpty ? [] : seeds[Int(random.next() % UInt64(seeds.count))]
                for _ in 0..<(1 + random.next() % 4) {
                    let at = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count))
                    switch random.next() % 3 {
                    case 0 where !bytes.isEmpty: bytes[at] = UInt8(truncatingIfNeeded: random.next())
                    case 1 where !bytes.isEmpty: bytes.removeSubrange(at..<min(bytes.count, at + Int(random.next() % 8)))
                    default: bytes.insert(contentsOf: (0..<(1 + random.next() % 4)).map { _ in UInt8(truncatingIfNeeded: random.next()) }, at: at)
                    }
                }
                input = bytes
            }
            let verdict = target.run(input)
            outcomes[verdict.outcome, default: 0] += 1
            if !verdict.violations.isEmpty {
                violations += 1
                Issue.record("\(name) run \(run) (seed \(seed)), input \(input.map { String(format: "%02x", $0) }.joined()): \(verdict)")
                if violations > 10 { break }
            }
        }
        let elapsed = ContinuousClock.now - started
        print("fuzz \(name), seed \(seed): \(runs) runs in \(elapsed), \(violations) broke an invariant; outcomes "
              + outcomes.sorted { $0.value > $1.value }.prefix(8).map { "\($0.key): \($0.value)" }.joined(separator: ", "))
    }

    static let flowTargets: Set<String> = ["purchase", "capp", "load", "balance", "recovery"]
}
