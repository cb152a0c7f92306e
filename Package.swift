// swift-tools-version: 6.1
import PackageDescription

// Module map (see README "Architecture"):
//   Hex          byte/hex helpers, shared by everything (no purse knowledge)
//   Posix        thin typed wrappers over the system calls Foundation's FileHandle and Thread
//                would make (the firmware and posd-tech link FoundationEssentials only)
//   ISO7816      APDUs, status words, the 61xx/6Cxx transport rules      pure
//   Purse        purse and PSAM flows, decline rules                     pure
//   CPCSCLite    pcsc-lite system library + shim
//   PCSC         thin typed pcsc-lite binding; a CardHandle is a CardLink
//   LineIO       the GPIO seam: LinePort (bulk line levels), LineSpec, polarity  pure
//   Panel        keypad scan + debounce, HD44780 4-bit driver               -> LineIO
//   CGPIOD, GPIOD libgpiod v1 or v2 behind one small C request API; requested lines as a LinePort
//   BoardDefinition  Board/boards/<name>/board.json decoded and checked   -> LineIO
//   BoardModel   the board simulator's electrical models (keypad matrix, HD44780)
//   SimLink      the bench's LinePort: the board simulator's lines over a Unix socket
//   LineServer   line-per-request Unix socket server (simulator control, board lines, posd's vehicle feed)
//   Cashier      the cashier's screens and keys as a pure state machine  -> Purse
//   Fares        transit fares: flat, distance, transfers, double taps     pure -> Purse
//   CSQLite, SQLite  the system libsqlite3 and a thin typed binding over its C API
//   Journal      the offline journal: SQLite, hash chain, write-ahead entries
//   Terminal     readers + PSAM wired to the flows (composition helpers)
//   Settings     the provisioned terminal.json and its token file
//   BoardPanel   a board's keypad, display, LEDs and buzzer wired from its definition
//   posd         the terminal's one composition root
//   ClearingAPI  the clearing platform's messages, endpoint rule and service protocol;
//                the journal export format                                pure
//   ClearingClient  ClearingService over HTTP/1.1 (SwiftNIO's codec, NIOSSL), one connection a call
//   StoreAndForward  uploader, parameters + hot list sync, clock, settlement   -> ClearingAPI, Journal
//   IssuerCrypto the issuer's key schedule (DES/3DES/SM4 via libcrypto): simulators and
//                reference platform only; the terminal holds no card keys
//   VirtualCards purse card and PSAM simulators behind vpcd (Board/), and their answer
//                faults (AnswerFaults); deliberately independent of ISO7816 and Purse
//   ClearingPlatform  the reference clearing platform (Tools/), Hummingbird + SQLite
//   FirmwareBundle  the signed firmware bundle format, read and verified (posd-tech, fuzzing)
//   FuzzTargets, posd-fuzz  fuzz targets over the flows and parsers; libFuzzer or replay (Tools/Fuzz)
//   posd-tech    the technician's tool (Tools/Technician): provision, bundles and A/B flash,
//                journal export, diagnostics
//   BenchSupport, *-bench   benchmarks (Tools/Benchmarks), each against a baseline in the same run;
//                soak-bench drives the built posd run itself, for hours
let package = Package(
    name: "posd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "posd", targets: ["posd"]),
        .executable(name: "vcard", targets: ["vcard"]),
        .executable(name: "board-sim", targets: ["board-sim"]),
        .executable(name: "purchase-bench", targets: ["purchase-bench"]),
        .executable(name: "journal-bench", targets: ["journal-bench"]),
        .executable(name: "clearing-platform", targets: ["clearing-platform"]),
        .executable(name: "upload-bench", targets: ["upload-bench"]),
        .executable(name: "transit-bench", targets: ["transit-bench"]),
        .executable(name: "posd-tech", targets: ["posd-tech"]),
        .executable(name: "soak-bench", targets: ["soak-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
    ],
    targets: [
        .target(name: "Hex"),
        .target(name: "Posix"),
        .target(name: "ISO7816", dependencies: ["Hex"]),
        .target(name: "Purse", dependencies: ["ISO7816", "Hex"]),
        .systemLibrary(
            name: "CPCSCLite", path: "Sources/CPCSCLite",
            pkgConfig: "libpcsclite", providers: [.apt(["libpcsclite-dev"])]),
        .target(name: "PCSC", dependencies: ["CPCSCLite", "ISO7816"]),
        .systemLibrary(
            name: "CSQLite", path: "Sources/CSQLite",
            pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "SQLite", dependencies: ["CSQLite"]),
        .target(name: "Journal", dependencies: ["Hex", "SQLite", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "LineIO"),
        .target(name: "Panel", dependencies: ["LineIO"]),
        // libgpiod v1 or v2, whichever <gpiod.h> the build finds (libgpiod-dev).
        .target(name: "CGPIOD", path: "Sources/CGPIOD", linkerSettings: [.linkedLibrary("gpiod")]),
        .target(name: "GPIOD", dependencies: ["CGPIOD", "LineIO"]),
        .target(name: "BoardDefinition", dependencies: ["LineIO"]),
        .target(name: "Cashier", dependencies: ["Purse", "Hex"]),
        .target(name: "Fares", dependencies: ["Purse"]),
        .target(name: "Settings", dependencies: ["Hex", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "BoardPanel", dependencies: ["BoardDefinition", "Cashier", "GPIOD", "LineIO", "Panel", "Purse", "SimLink"]),
        .target(name: "BoardModel", dependencies: ["BoardDefinition"], path: "Board/Sim/BoardModel"),
        .target(name: "SimLink", dependencies: ["LineIO"]),
        .executableTarget(
            name: "board-sim",
            dependencies: ["BoardModel", "BoardDefinition", "LineServer", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Board/Sim/board-sim"),
        .target(name: "FlightRecorder", dependencies: ["ISO7816", "Hex"]),
        .target(name: "Terminal", dependencies: ["PCSC", "Posix", "Purse", "ISO7816", "Journal", "Hex", "FlightRecorder"]),
        .target(name: "ClearingAPI", dependencies: ["Hex", .product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "FirmwareBundle", dependencies: ["Hex", "Posix", .product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "ClearingClient",
            dependencies: [
                "ClearingAPI", .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "NIOTLS", package: "swift-nio"),
            ]),
        .target(
            name: "StoreAndForward",
            dependencies: ["ClearingAPI", "Journal", .product(name: "Logging", package: "swift-log")]),
        .executableTarget(
            name: "posd",
            dependencies: [
                "Terminal", "PCSC", "Purse", "Journal", "Hex", "Cashier", "BoardDefinition", "LineIO", "Panel", "GPIOD", "SimLink",
                "ClearingAPI", "ClearingClient", "StoreAndForward", "Fares", "Settings", "BoardPanel", "LineServer", "Posix",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),

        // Simulators (Board/): card and PSAM behind vpcd.
        .systemLibrary(
            name: "COpenSSL", path: "Board/COpenSSL",
            pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "IssuerCrypto", dependencies: ["COpenSSL"], path: "Board/IssuerCrypto"),
        .target(
            name: "LineServer", dependencies: ["Posix", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Board/LineServer"),
        .target(name: "VirtualCards", dependencies: ["IssuerCrypto", "Hex", "LineServer"], path: "Board/VirtualCards/VirtualCards"),
        .executableTarget(
            name: "vcard",
            dependencies: ["VirtualCards", "LineServer", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Board/VirtualCards/vcard"),

        // Tools
        .executableTarget(
            name: "posd-tech",
            dependencies: [
                "Settings", "Terminal", "Journal", "ClearingAPI", "ClearingClient", "StoreAndForward", "BoardDefinition", "BoardPanel", "FirmwareBundle",
                "Fares", "FlightRecorder", "Hex", "PCSC", "Purse", "ISO7816", "Panel", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"), .product(name: "X509", package: "swift-certificates"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/Technician/posd-tech"),
        .target(
            name: "ClearingPlatform",
            dependencies: [
                "ClearingAPI", "IssuerCrypto", "Hex", .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "GRDB", package: "GRDB.swift"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/ClearingPlatform/ClearingPlatform"),
        .executableTarget(
            name: "clearing-platform",
            dependencies: [
                "ClearingPlatform", .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Tools/ClearingPlatform/clearing-platform"),
        .executableTarget(
            name: "upload-bench",
            dependencies: [
                "ClearingAPI", "ClearingClient", "StoreAndForward", "Journal", "BenchSupport", "ClearingPlatform",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/Benchmarks/upload-bench"),
        .executableTarget(
            name: "purchase-bench",
            dependencies: [
                "Terminal", "PCSC", "Purse", "ISO7816", "Hex", "VirtualCards", "Journal", "BenchSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/Benchmarks/purchase-bench"),

        // Fuzzing: the targets (run by `swift test` and by posd-fuzz), the driver and libFuzzer's entry.
        .target(
            name: "FuzzTargets",
            dependencies: ["Purse", "ISO7816", "Hex", "VirtualCards", "IssuerCrypto", "BoardDefinition", "Settings", "ClearingAPI", "FirmwareBundle"],
            path: "Tools/Fuzz/FuzzTargets"),
        .target(name: "CLibFuzzer", path: "Tools/Fuzz/CLibFuzzer"),
        .executableTarget(name: "posd-fuzz", dependencies: ["FuzzTargets", "CLibFuzzer"], path: "Tools/Fuzz/posd-fuzz"),

        .target(
            name: "BenchSupport", dependencies: ["Journal", "IssuerCrypto", "Hex", "ISO7816", "PCSC", "VirtualCards", "BoardDefinition"],
            path: "Tools/Benchmarks/BenchSupport"),
        .executableTarget(
            name: "transit-bench",
            dependencies: [
                "Terminal", "PCSC", "Purse", "ISO7816", "Hex", "VirtualCards", "Journal", "BenchSupport", "Fares",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Tools/Benchmarks/transit-bench"),
        .executableTarget(
            name: "soak-bench",
            dependencies: [
                "BenchSupport", "BoardDefinition", "ClearingPlatform", "Hex", "PCSC", "VirtualCards",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/Benchmarks/soak-bench"),
        .executableTarget(
            name: "journal-bench",
            dependencies: ["Journal", "BenchSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Tools/Benchmarks/journal-bench"),

        // Tests
        .target(name: "TestFixtures", dependencies: ["Hex", "ISO7816", "VirtualCards"], path: "Tests/TestFixtures"),
        .target(
            name: "TestSupport",
            dependencies: [
                "TestFixtures", "BenchSupport", "Hex", "ISO7816", "VirtualCards", .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            path: "Tests/TestSupport"),
        .testTarget(name: "ISO7816Tests", dependencies: ["ISO7816", "Hex", "TestFixtures"]),
        .testTarget(name: "PurseTests", dependencies: ["Purse", "ISO7816", "Hex", "TestFixtures"]),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzTargets", "VirtualCards", "TestSupport"]),
        .testTarget(
            name: "JournalTests",
            dependencies: ["Journal", "SQLite", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(
            name: "PanelTests",
            dependencies: ["Panel", "LineIO", "BoardModel", "GPIOD", "BoardDefinition", "SimLink", "LineServer", "board-sim", "TestSupport"]),
        .testTarget(name: "CashierTests", dependencies: ["Cashier", "Purse"]),
        .testTarget(name: "FaresTests", dependencies: ["Fares", "Purse"]),
        .testTarget(
            name: "TechnicianTests",
            dependencies: ["Journal", "TestSupport", "BenchSupport", "posd-tech", .product(name: "Crypto", package: "swift-crypto")]),
        .testTarget(name: "TerminalTests", dependencies: ["Terminal", "Journal", "Purse", "TestSupport"]),
        .testTarget(name: "VirtualCardsTests", dependencies: ["VirtualCards", "IssuerCrypto", "Hex", "TestSupport"]),
        .testTarget(
            name: "ClearingTests",
            dependencies: [
                "ClearingAPI", "ClearingClient", "StoreAndForward", "Journal", "TestSupport", "BenchSupport", "Settings", "Terminal", "Purse",
                "clearing-platform", "posd",
                "posd-tech",
                .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Terminal", "PCSC", "Purse", "ISO7816", "Hex", "VirtualCards", "IssuerCrypto", "Journal", "TestSupport", "posd", "vcard",
                "LineServer", "clearing-platform", "Fares", "Settings", "posd-tech", "BoardDefinition", "BenchSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)

// POSD_PURE_TESTS=1: only the pure suites and what they need, no package but
// the argument parser (the simulators' control server uses it), so they can
// be cross-built for aarch64 in a minute or two and run under qemu
// (scripts/cross-build.sh IMAGE pure-tests).
if Context.environment["POSD_PURE_TESTS"] == "1" {
    let pure: Set = [
        "Hex", "Posix", "ISO7816", "Purse", "Cashier", "Fares", "COpenSSL", "IssuerCrypto", "LineServer", "VirtualCards", "TestFixtures",
        "ISO7816Tests", "PurseTests", "CashierTests", "FaresTests",
    ]
    package.products = []
    package.targets = package.targets.filter { pure.contains($0.name) }
    package.dependencies = package.dependencies.filter { "\($0.kind)".contains("swift-argument-parser") }
}
