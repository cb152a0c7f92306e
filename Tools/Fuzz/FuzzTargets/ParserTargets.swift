import BoardDefinition
import ClearingAPI
import FirmwareBundle
import Foundation
import Hex
import Purse
import Settings

/// The parsers of what cards, files and the platform hand posd. Each must
/// refuse what it cannot read, never trap, and what it accepts must be what
/// the bytes say.
enum ParserTargets {
    static let all = [card, boardFile, terminalFile, export, clearingAnswers, bundleHeader]

    /// Byte 0 picks the parser, the rest is its input.
    static let card = FuzzTarget(
        name: "card-parsers", summary: "FCI/TLV, EF 0x15, composite records (CU and TU), BCD times, history records") { input in
        let bytes = Array(input.dropFirst())
        var broken: [String] = []
        switch (input.first ?? 0) % 6 {
        case 0:
            guard let info = FileControlInformation(bytes) else { return Verdict("FCI refused") }
            if info.dfName.isEmpty && bytes.count < 4 { broken.append("an FCI with no DF name from \(bytes.count) bytes") }
            return Verdict("FCI read", violations: broken)
        case 1:
            guard let info = PurseApplicationInfo(bytes) else { return Verdict("EF 0x15 refused") }
            if info.raw != bytes || info.cardNumber.bytes != Array(bytes[12..<20]) { broken.append("EF 0x15 read as another file") }
            return Verdict("EF 0x15 read", violations: broken)
        case 2, 3:
            let profile: PurseProfile = input[0] % 6 == 2 ? .cu : .tu
            guard let record = CompositeRecord(bytes, profile: profile) else { return Verdict("composite record refused") }
            // Written back and read again, it is the same record.
            if CompositeRecord(record.bytes(for: profile), profile: profile) != record { broken.append("the record does not survive a write") }
            return Verdict("composite record read", violations: broken)
        case 4:
            guard let time = BCDDateTime(bytes) else { return Verdict("BCD time refused") }
            if BCDDateTime(text: time.description) != time || time.bytes != bytes { broken.append("time \(time) is not \(bytes.hex)") }
            return Verdict("BCD time read", violations: broken)
        default:
            guard bytes.count == 23 else { return Verdict("history record of another size") }
            let entry = HistoryEntry(bytes)
            if entry.amount != UInt32(BigEndian.uint(bytes[5..<9])) || entry.terminalNumber != Array(bytes[10..<16]) {
                broken.append("history record read as another")
            }
            return Verdict(entry.isLoad ? "load record" : "purchase record", violations: broken)
        }
    }

    static let boardFile = FuzzTarget(name: "board-json", summary: "board.json: decoded, checked, its lines derived") { input in
        do {
            let board = try BoardDefinition.parse(Data(input), file: "fuzz")
            _ = board.lineSpecs
            _ = board.missingCashierKeys
            return Verdict("board accepted")
        } catch {
            return Verdict("board refused", violations: "\(error)".contains("board") ? [] : ["refused without naming the board: \(error)"])
        }
    }

    static let terminalFile = FuzzTarget(
        name: "terminal-json", summary: "terminal.json: decoded, its clearing endpoint and supervisor PIN used") { input in
        guard let settings = try? JSONDecoder().decode(TerminalSettings.self, from: Data(input)) else { return Verdict("settings refused") }
        var broken: [String] = []
        // The request line's target: origin form, printable ASCII without spaces, whatever the URL held.
        if let endpoint = try? ClearingEndpoint(url: settings.clearingURL, terminalID: settings.terminalID, token: "fuzz-token"),
           case let target = endpoint.requestTarget("/v1/records"),
           !(target.hasPrefix("/") && target.hasSuffix("/v1/records") && target.utf8.allSatisfy({ (0x21...0x7E).contains($0) })) {
            broken.append("request target \(target.debugDescription) for \(settings.clearingURL)")
        }
        if let pin = settings.supervisorPIN, pin.matches("") { broken.append("an empty PIN matches") }
        return Verdict("settings read", violations: broken)
    }

    static let export = FuzzTarget(name: "export-file", summary: "the offline export file: header, records, MAC") { input in
        guard let file = try? JournalExport(bytes: Data(input)) else { return Verdict("export refused") }
        do {
            try file.verify(tokenDigest: Array(repeating: 0, count: 32))
            return Verdict("export verified", violations: ["a MAC under a key nobody holds verified"])
        } catch {
            return Verdict("export read, MAC refused")
        }
    }

    /// Byte 0 picks the answer, the rest is its body.
    static let clearingAnswers = FuzzTarget(
        name: "clearing-answers", summary: "every clearing-platform answer body, decoded as the client does") { input in
        let body = Data(input.dropFirst())
        let decoder = JSONDecoder()
        switch (input.first ?? 0) % 6 {
        case 0: return Verdict((try? decoder.decode(UploadResponse.self, from: body)) == nil ? "upload answer refused" : "upload answer read")
        case 1: return Verdict((try? decoder.decode(HotListUpdate.self, from: body)) == nil ? "hot list refused" : "hot list read")
        case 2:
            guard let parameters = try? decoder.decode(Parameters.self, from: body) else { return Verdict("parameters refused") }
            return Verdict(parameters.problem == nil ? "parameters accepted" : "parameters refused by their check")
        case 3: return Verdict((try? decoder.decode(SettlementResponse.self, from: body)) == nil ? "settlement refused" : "settlement read")
        case 4:
            guard let answer = try? decoder.decode(LoadResponse.self, from: body) else { return Verdict("load answer refused") }
            return Verdict([UInt8](hex: answer.mac2)?.count == 4 ? "MAC2 read" : "MAC2 of another form")
        default: return Verdict((try? decoder.decode(Refusal.self, from: body)) == nil ? "refusal unreadable" : "refusal read")
        }
    }

    static let bundleHeader = FuzzTarget(
        name: "bundle-manifest", summary: "a firmware bundle's header: magic, signed manifest, signature line") { input in
        guard let bundle = try? FirmwareBundle(header: Data(input.prefix(FirmwareBundle.headerLimit))) else { return Verdict("bundle refused") }
        var broken: [String] = []
        // Whatever it accepts is safe to lay out: plain relative paths, once each, sane modes and sizes that add up.
        var seen = Set<String>()
        var end = bundle.payloadOffset
        for file in bundle.manifest.files {
            if FirmwareBundle.pathProblem(file.path) != nil || !seen.insert(file.path).inserted { broken.append("accepted path \(file.path.debugDescription)") }
            if file.mode & ~FirmwareBundle.allowedMode != 0 { broken.append("accepted mode \(String(file.mode, radix: 8))") }
            let (sum, overflow) = end.addingReportingOverflow(file.size)
            if file.size < 0 || overflow { broken.append("accepted size \(file.size)") } else { end = sum }
        }
        if bundle.payloadOffset > input.count { broken.append("payload starts past the header read") }
        if (try? bundle.verify(trustedKeys: [], bundle: URL(fileURLWithPath: "/nonexistent"))) != nil { broken.append("verified with no trusted key") }
        return Verdict(bundle.signature.isEmpty ? "unsigned bundle read" : "signed bundle read", violations: broken)
    }
}
