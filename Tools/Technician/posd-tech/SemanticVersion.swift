/// A firmware version as semantic versioning orders it (semver.org §11):
/// MAJOR.MINOR.PATCH compared as numbers, a pre-release (`-rc.1`) before its
/// release, pre-release identifiers numeric before alphanumeric. Build
/// metadata (`+…`) is ignored.
struct SemanticVersion: Comparable, CustomStringConvertible {
    let core: [Int]
    let prerelease: [String]
    let description: String

    init?(_ text: String) {
        let withoutBuild = text.split(separator: "+", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? text
        let parts = withoutBuild.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        let numbers = parts[0].split(separator: ".", omittingEmptySubsequences: false)
        let core = numbers.compactMap { $0.allSatisfy { ("0"..."9").contains($0) } ? Int($0) : nil }
        guard numbers.count == 3, core.count == 3 else { return nil }
        let prerelease = parts.count == 2 ? parts[1].split(separator: ".", omittingEmptySubsequences: false).map(String.init) : []
        guard prerelease.allSatisfy({ !$0.isEmpty }), parts.count == 1 || !prerelease.isEmpty else { return nil }
        self.core = core
        self.prerelease = prerelease
        self.description = text
    }

    static func < (a: SemanticVersion, b: SemanticVersion) -> Bool {
        if a.core != b.core { return a.core.lexicographicallyPrecedes(b.core) }
        switch (a.prerelease.isEmpty, b.prerelease.isEmpty) {
        case (true, _): return false
        case (false, true): return true
        case (false, false):
            for (x, y) in zip(a.prerelease, b.prerelease) where x != y {
                switch (Int(x), Int(y)) {
                case let (m?, n?): return m < n
                case (_?, nil): return true
                case (nil, _?): return false
                case (nil, nil): return x < y
                }
            }
            return a.prerelease.count < b.prerelease.count
        }
    }

    static func == (a: SemanticVersion, b: SemanticVersion) -> Bool { a.core == b.core && a.prerelease == b.prerelease }
}
