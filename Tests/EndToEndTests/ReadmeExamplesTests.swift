import Foundation
import Testing
import TestSupport

/// The README's by-hand examples, run exactly as written: every shell block
/// the README marks `<!-- tested: NAME -->`, with bash, from the repository,
/// on the shared pcscd (so among the serialized suites) and with `TMPDIR` in
/// the test's own directory, where `mktemp` puts what the block writes.
extension PurchaseEndToEndTests {
    static let repository = Repository.root

    /// (name, script) of each tested block.
    static func testedBlocks() throws -> [(name: String, script: String)] {
        let readme = try String(contentsOf: repository.appendingPathComponent("README.md"), encoding: .utf8)
        var blocks: [(String, String)] = []
        var rest = readme[...]
        while let marker = rest.range(of: "<!-- tested: ") {
            let name = rest[marker.upperBound...].prefix { $0 != " " }
            guard let open = rest[marker.upperBound...].range(of: "```sh\n"), let close = rest[open.upperBound...].range(of: "\n```") else { break }
            blocks.append((String(name), String(rest[open.upperBound..<close.lowerBound])))
            rest = rest[close.upperBound...]
        }
        return blocks
    }

    @Test func theReadmeExamplesWorkAsWritten() throws {
        let blocks = try Self.testedBlocks()
        #expect(blocks.map(\.name).contains("cashier-by-hand"), "\(blocks.map(\.name))")
        for (name, script) in blocks {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("posd-readme-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let bash = Process()
            bash.executableURL = URL(fileURLWithPath: "/bin/bash")
            bash.arguments = ["-e", "-o", "pipefail", "-c", script]
            bash.currentDirectoryURL = Self.repository
            bash.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": directory.path]) { $1 }
            let out = Pipe(), err = Pipe()
            (bash.standardOutput, bash.standardError) = (out, err)
            try bash.run()
            let watchdog = DispatchWorkItem { kill(bash.processIdentifier, SIGKILL) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
            let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            bash.waitUntilExit()
            watchdog.cancel()
            #expect(bash.terminationStatus == 0, "README block \(name) failed:\n\(stdout)\n\(stderr.suffix(2000))")
            if name == "cashier-by-hand" {
                #expect(stdout.contains("ok APPROVED 2.00|BALANCE 98.00"), "\(stdout)")
            }
        }
    }
}
