import BoardDefinition
import Foundation
import Testing
import TestSupport

/// Board files a technician may get wrong, or a hostile one: the shipped
/// boards with one value anywhere in them replaced (negative, zero, huge,
/// empty, the wrong type, null, removed), seeded. Loading must never trap:
/// either a board whose every check passed (its lines then derived without
/// trouble) or an error that names the file. `POSD_FUZZ_SEED` reproduces a run.
@Suite struct BoardFilePropertyTests {
    /// Paths to every leaf and container of a JSON value.
    static func paths(_ value: Any, _ prefix: [Any] = []) -> [[Any]] {
        var found = [prefix]
        if let object = value as? [String: Any] {
            for (key, child) in object { found += paths(child, prefix + [key]) }
        } else if let array = value as? [Any] {
            for (index, child) in array.enumerated() { found += paths(child, prefix + [index]) }
        }
        return found
    }

    /// `value` with the element at `path` replaced (nil: removed).
    static func replacing(_ value: Any, at path: ArraySlice<Any>, with new: Any?) -> Any? {
        guard let head = path.first else { return new }
        if var object = value as? [String: Any], let key = head as? String {
            object[key] = object[key].flatMap { replacing($0, at: path.dropFirst(), with: new) }
            return object
        }
        if var array = value as? [Any], let index = head as? Int, array.indices.contains(index) {
            if let replaced = replacing(array[index], at: path.dropFirst(), with: new) { array[index] = replaced } else { array.remove(at: index) }
            return array
        }
        return value
    }

    @Test(arguments: ["sim-16x2", "sim-20x4"])
    func aMutatedBoardFileIsRefusedByNameOrLoads(_ name: String) throws {
        let seed = ProcessInfo.processInfo.environment["POSD_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        var seeded = SeededRandom(seed: seed)
        let original = try JSONSerialization.jsonObject(with: Data(contentsOf: BoardDefinitionTests.boards.appendingPathComponent("\(name)/board.json")))
        let places = Self.paths(original)
        let hostile: [Any?] = [-1, 0, 1, 63, 64, 1_000_000, Int(Int32.max), -9_999_999_999, 0.5, "", "x", [Any](), [String: Any](), NSNull(), true, nil,
                               [[String]](repeating: ["1"], count: 40), String(repeating: "A", count: 10_000)]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("board-fuzz-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        var loaded = 0, refused = 0
        for _ in 0..<1_500 {
            let path = places[Int(seeded.next() % UInt64(places.count))]
            let value = hostile[Int(seeded.next() % UInt64(hostile.count))]
            // (JSONSerialization traps, rather than throws, on what is not JSON.)
            guard !path.isEmpty, let mutated = Self.replacing(original, at: path[...], with: value),
                  JSONSerialization.isValidJSONObject(mutated), let bytes = try? JSONSerialization.data(withJSONObject: mutated)
            else { continue }
            try bytes.write(to: file)
            do {
                let board = try BoardDefinition.load(file)
                _ = board.lineSpecs
                loaded += 1
            } catch {
                #expect("\(error)".contains("board"), "seed \(seed): \(path) = \(String(describing: value)): \(error)")
                refused += 1
            }
        }
        print("board file \(name), seed \(seed): \(loaded + refused) mutations, \(loaded) still valid, \(refused) refused by name; no trap")
    }
}
