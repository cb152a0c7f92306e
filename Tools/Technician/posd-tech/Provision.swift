import ArgumentParser
import BoardDefinition
import ClearingAPI
import Fares
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Posix
import Hex
import Settings
import StoreAndForward
import Terminal

struct Provision: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write the terminal's identity and configuration, after checking each part.",
        discussion: """
            Checks the clearing URL (HTTPS, or HTTP to loopback only), the clearing CA (needed \
            for HTTPS: a CA certificate valid today, the one anchor posd trusts for the platform), the board definition, the \
            route, and that the PSAM in the reader is this terminal's (its terminal number must be \
            --terminal-id); then writes <data-dir>/terminal.json and the token, readable by the \
            posd user alone. The token comes from a file or standard input, never the command \
            line, and is never printed.
            """)

    @Option(help: "Data directory of the terminal.")
    var dataDir = "/var/lib/posd"

    @Option(help: "Terminal id: the PSAM terminal number, 12 upper-case hex digits.")
    var terminalId: String

    @Option(help: "Clearing platform base URL.")
    var clearingUrl: String

    @Option(help: "PEM file of the CA that issues the platform's HTTPS certificate: the only anchor posd will trust for it (needed for https).")
    var clearingCa: String?

    @Option(help: "File holding the terminal token (use - for standard input).")
    var tokenFile: String

    @Option(help: "What the terminal does: cashier or validator.")
    var mode: TerminalSettings.Mode

    @Option(help: "Board definition (keypad, display, LEDs, buzzer, readers).")
    var board: String?

    @Option(help: "PC/SC reader of the customer's card (default: the board's).")
    var cardReader: String?

    @Option(help: "PC/SC reader of the PSAM (default: the board's).")
    var psamReader: String?

    @Option(help: "Validators: the vehicle's line.")
    var line: UInt16?

    @Option(help: "Validators: the stop number.")
    var stop: UInt16?

    @Option(help: "Validators: route definition for distance fares (copied into the data directory).")
    var route: String?

    @Option(help: "Validators: Unix socket path the vehicle computer reports the current stop on (see README, \"The vehicle feed\").")
    var vehicleSocket: String?

    @Option(help: "Cashiers: file holding the supervisor PIN (4-12 digits) settling from the keypad asks for; stored hashed.")
    var supervisorPinFile: String?

    @Option(help: "Cashiers: time of day (HH:MM, terminal time) posd run settles by itself, retrying until balanced.")
    var settleAt: String?

    @Option(help: "User that runs posd: the token file is made theirs (needs root).")
    var owner: String?

    func run() throws {
        let data = URL(fileURLWithPath: dataDir)
        let token = try step("reading the token", exit: TechExit.configuration) { () throws -> String in
            let raw = tokenFile == "-" ? String(decoding: try FileDescriptor.standardInput.readToEnd(), as: UTF8.self)
                : try String(contentsOfFile: tokenFile, encoding: .utf8)
            let token = raw.trimmingWhitespace
            guard !token.isEmpty else { throw Failure("the token is empty") }
            return token
        }
        try step("checking the clearing URL \(clearingUrl)", exit: TechExit.configuration) {
            _ = try ClearingEndpoint(url: clearingUrl, terminalID: terminalId, token: token)
        }
        let anchor = try clearingCa.map { path in
            try step("checking the clearing CA \(path)", exit: TechExit.configuration) { try ClearingCA.check(pemFile: path) }
        }
        if URL(string: clearingUrl)?.scheme?.lowercased() == "https", anchor == nil {
            try step("checking the clearing CA", exit: TechExit.configuration) {
                throw Failure("an https clearing URL needs --clearing-ca: the CA its certificate must chain to (the system's CA store is not trusted)")
            }
        }
        let definition = try board.map { path in
            try step("checking the board \(path)", exit: TechExit.configuration) { try BoardDefinition.load(URL(fileURLWithPath: path)) }
        }
        if mode == .validator {
            try step("checking the validator's line", exit: TechExit.configuration) {
                guard line != nil else { throw Failure("a validator needs --line") }
                if let vehicleSocket {
                    guard vehicleSocket.hasPrefix("/"), vehicleSocket.utf8.count < 104 else {
                        throw Failure("--vehicle-socket wants an absolute path under 104 bytes")
                    }
                }
            }
        }
        if mode == .cashier {
            try step("checking the cashier's board", exit: TechExit.configuration) {
                guard let definition else { throw Failure("a cashier needs --board (its keypad and display)") }
                let missing = definition.missingCashierKeys
                guard missing.isEmpty else { throw Failure("board \(definition.name) has no \(missing.joined(separator: ", ")) key: a cashier needs them") }
            }
        }
        let supervisorPIN = try supervisorPinFile.map { path in
            try step("reading the supervisor PIN", exit: TechExit.configuration) { () throws -> SupervisorPIN in
                let pin = try String(contentsOfFile: path, encoding: .utf8).trimmingWhitespace
                do { return try SupervisorPIN(pin: pin) } catch { throw Failure("\(error)") }
            }
        }
        if let settleAt {
            try step("checking --settle-at \(settleAt)", exit: TechExit.configuration) {
                guard SettlementSchedule(settleAt) != nil else { throw Failure("--settle-at wants HH:MM (24-hour), e.g. 22:30") }
            }
        }
        let routeData = try route.map { path in
            try step("checking the route \(path)", exit: TechExit.configuration) { () throws -> Data in
                let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
                let parsed = try JSONDecoder().decode(Route.self, from: bytes)
                try parsed.validate()
                guard parsed.line == line else { throw Failure("the route is line \(parsed.line), not --line \(line.map(String.init) ?? "none")") }
                guard Int(stop ?? 0) < parsed.stops.count else { throw Failure("--stop \(stop ?? 0) is not a stop of the route") }
                return bytes
            }
        }
        let (namedCard, namedPSAM) = (self.cardReader ?? definition?.readers.card, self.psamReader ?? definition?.readers.psam)
        let (cardReader, psamReader) = try step("naming the readers", exit: TechExit.configuration) { () throws -> (String, String) in
            guard let namedCard, let namedPSAM else {
                throw Failure("no readers named: give --board (its readers), or --card-reader and --psam-reader")
            }
            return (namedCard, namedPSAM)
        }
        let number = try step("reading the PSAM's terminal number in \(psamReader)", exit: TechExit.unavailable) {
            try Terminal(.init(cardReader: cardReader, psamReader: psamReader)).psam.terminalNumber.hex
        }
        try step("matching the PSAM's terminal number \(number) with --terminal-id", exit: TechExit.dataMismatch) {
            guard number == terminalId else {
                throw Failure("this PSAM belongs to terminal \(number), not \(terminalId): fit the right PSAM or correct --terminal-id")
            }
        }
        let ownerIDs = try owner.map { name in
            try step("looking up user \(name)", exit: TechExit.configuration) { () throws -> (uid_t, gid_t) in
                guard let entry = getpwnam(name) else { throw Failure("no such user") }
                return (entry.pointee.pw_uid, entry.pointee.pw_gid)
            }
        }
        try step("writing the token (mode 0600)", exit: TechExit.cannotWrite) {
            try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
            try TerminalSettings.saveToken(token, in: data, owner: ownerIDs.map { (uid: $0.0, gid: $0.1) })
        }
        if let anchor {
            try step("installing the clearing CA (\(anchor.subjects.joined(separator: "; ")))", exit: TechExit.cannotWrite) {
                try anchor.pem.write(to: data.appendingPathComponent(TerminalSettings.clearingCAFileName), options: .atomic)
            }
        }
        if let routeData {
            try step("installing the route", exit: TechExit.cannotWrite) { try routeData.write(to: data.appendingPathComponent("route.json"), options: .atomic) }
        }
        let settings = TerminalSettings(terminalID: terminalId, clearingURL: clearingUrl, mode: mode, board: board.map { URL(fileURLWithPath: $0).path },
                                        cardReader: cardReader, psamReader: psamReader, line: line, stop: stop,
                                        route: routeData == nil ? nil : "route.json",
                                        clearingCA: anchor == nil ? nil : TerminalSettings.clearingCAFileName,
                                        supervisorPIN: supervisorPIN, settleAt: settleAt, vehicleSocket: vehicleSocket)
        try step("writing \(TerminalSettings.url(in: data).path)", exit: TechExit.cannotWrite) { try settings.save(in: data) }
        print("terminal \(terminalId) provisioned as a \(mode.rawValue)")
    }
}

extension TerminalSettings.Mode: ExpressibleByArgument {}
