#if POSD_LIBFUZZER
import CLibFuzzer
#endif
import Foundation
import FuzzTargets

/// posd-fuzz: the fuzz targets, by hand or under libFuzzer.
///
///     posd-fuzz list
///     posd-fuzz run TARGET FILE|DIR...     every input once; exit 1 if any breaks an invariant
///     posd-fuzz fuzz TARGET [libFuzzer options] [CORPUS_DIR...]
///
/// `fuzz` exists in a libFuzzer build only (`scripts/fuzz.sh`): a broken
/// invariant aborts, so libFuzzer keeps the input as a crash file.
@main
enum PosdFuzz {
    static func main() {
        var arguments = CommandLine.arguments
        guard arguments.count >= 2 else { usage() }
        switch arguments[1] {
        case "list":
            for target in FuzzTarget.all { print("\(target.name)\t\(target.summary)") }
        case "run":
            guard arguments.count >= 4, let target = FuzzTarget.named(arguments[2]) else { usage() }
            exit(replay(target, paths: Array(arguments[3...])) ? 0 : 1)
        case "fuzz":
            guard arguments.count >= 3, let target = FuzzTarget.named(arguments[2]) else { usage() }
            arguments.removeSubrange(1...2)
            fuzz(target, arguments: arguments)
        default:
            usage()
        }
    }

    static func usage() -> Never {
        FileHandle.standardError.write(Data("""
            usage: posd-fuzz list | run TARGET FILE|DIR... | fuzz TARGET [libFuzzer options] [CORPUS_DIR...]
            targets: \(FuzzTarget.all.map(\.name).joined(separator: " "))

            """.utf8))
        exit(2)
    }

    /// Runs each file (each file in each directory) once.
    static func replay(_ target: FuzzTarget, paths: [String]) -> Bool {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("posd-fuzz: \(path): no such file\n".utf8))
                return false
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { "\(path)/\($0)" }
            } else {
                files.append(path)
            }
        }
        var broken = 0
        for file in files {
            guard let bytes = FileManager.default.contents(atPath: file) else { continue }
            let verdict = target.run(Array(bytes))
            if !verdict.violations.isEmpty { broken += 1 }
            print("\(file): \(verdict)")
        }
        print("\(target.name): \(files.count) inputs, \(broken) broke an invariant")
        return broken == 0
    }

    #if POSD_LIBFUZZER
    /// The target libFuzzer's callback runs (a C callback cannot capture it).
    nonisolated(unsafe) static var selected: FuzzTarget?

    static func fuzz(_ target: FuzzTarget, arguments: [String]) -> Never {
        selected = target
        var argc = Int32(arguments.count)
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = UnsafeMutablePointer.allocate(capacity: arguments.count + 1)
        for (index, argument) in arguments.enumerated() { argv![index] = strdup(argument) }
        argv![arguments.count] = nil
        let status = LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
            let verdict = PosdFuzz.selected!.run(bytes)
            if !verdict.violations.isEmpty {
                FileHandle.standardError.write(Data("posd-fuzz: invariant broken: \(verdict)\n".utf8))
                abort()
            }
            return 0
        }
        exit(status)
    }
    #else
    static func fuzz(_ target: FuzzTarget, arguments: [String]) -> Never {
        FileHandle.standardError.write(Data("posd-fuzz: this build has no libFuzzer (build with scripts/fuzz.sh)\n".utf8))
        exit(2)
    }
    #endif
}
