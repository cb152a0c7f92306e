import Foundation
import Hex

/// The contract's byte-exact vectors, copied into `Tests/Fixtures/vectors`.
/// Each file is an array of `{id, kind, note, inputs, expected}`.
public struct VectorCase: @unchecked Sendable, CustomStringConvertible {
    public let id: String
    public let kind: String
    public let inputs: [String: Any]
    public let expected: [String: Any]

    public var description: String { id }

    /// Hex input or expected value by name (inputs first).
    public func bytes(_ name: String) -> [UInt8] {
        guard let text = (inputs[name] ?? expected[name]) as? String, let bytes = [UInt8](hex: text) else {
            fatalError("\(id): no hex value \(name)")
        }
        return bytes
    }

    public func has(_ name: String) -> Bool { inputs[name] != nil || expected[name] != nil }

    public func string(_ name: String) -> String {
        guard let text = (inputs[name] ?? expected[name]) as? String else { fatalError("\(id): no text \(name)") }
        return text
    }

    /// A transcript: `[{to, c, r}]` as (to, command, response).
    public func transcript(_ name: String = "transcript") -> [(to: String, command: [UInt8], response: [UInt8])] {
        guard let steps = expected[name] as? [[String: String]] else { fatalError("\(id): no transcript") }
        return steps.map { ($0["to"]!, [UInt8](hex: $0["c"]!)!, [UInt8](hex: $0["r"]!)!) }
    }

    public func object(_ name: String) -> [String: Any] {
        guard let object = (expected[name] ?? inputs[name]) as? [String: Any] else { fatalError("\(id): no object \(name)") }
        return object
    }
}

/// The repository the tests were built from (found from this file), or
/// `POSD_REPOSITORY` where they run from elsewhere than they were built: the
/// aarch64 suites, compiled in a chroot that sees the repository at /src.
public enum Repository {
    public static let root = ProcessInfo.processInfo.environment["POSD_REPOSITORY"].map { URL(fileURLWithPath: $0) }
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A file or directory of the repository, by its path from the top.
    public static func path(_ relative: String) -> URL { root.appendingPathComponent(relative) }
}

public enum Vectors {
    /// `Tests/Fixtures/vectors`, or under `POSD_FIXTURES` (the repository's `Tests/Fixtures`).
    public static let directory = (ProcessInfo.processInfo.environment["POSD_FIXTURES"].map { URL(fileURLWithPath: $0) }
        ?? Repository.path("Tests/Fixtures")).appendingPathComponent("vectors")

    public static func load(_ file: String) -> [VectorCase] {
        let url = directory.appendingPathComponent(file)
        guard let data = try? Data(contentsOf: url),
              let array = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
        else { fatalError("cannot read \(url.path)") }
        return array.map {
            VectorCase(id: $0["id"] as! String, kind: $0["kind"] as! String,
                       inputs: $0["inputs"] as! [String: Any], expected: $0["expected"] as! [String: Any])
        }
    }

    public static func named(_ id: String, in file: String) -> VectorCase {
        guard let found = load(file).first(where: { $0.id == id }) else { fatalError("no vector \(id) in \(file)") }
        return found
    }

    public static let allFiles = ["published.json", "crypto-primitives.json", "diversification.json", "profiles.json",
                                  "transport.json", "purchase.json", "capp.json", "load.json", "block.json"]
}
