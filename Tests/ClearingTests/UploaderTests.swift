import BenchSupport
import ClearingAPI
import Foundation
import Journal
import Testing
import TestSupport

/// posd's store-and-forward against the reference clearing platform, both as
/// shipped binaries, over real HTTP on loopback.
@Suite struct UploaderTests {
    /// Every fault the platform can throw, one after another, during one
    /// delivery: every record ends delivered exactly once, chain and TACs accepted,
    /// and the token is in no log line even at trace level.
    @Test func deliversEverythingOnceThroughEveryFault() async throws {
        let dir = try TemporaryDirectory("posd-upload")
        defer { dir.remove() }
        let platform = try PlatformProcess(directory: dir.url)
        let data = dir.url.appendingPathComponent("terminal")
        let records = SyntheticSales.records(1_234)
        try Journal(directory: data).append(contentsOf: records)

        for fault in [#"{"kind":"503","retry_after":1,"path":"/v1/records"}"#, #"{"kind":"429","path":"/v1/records"}"#,
                      #"{"kind":"500","path":"/v1/records"}"#, #"{"kind":"503","path":"/v1/parameters"}"#,
                      #"{"kind":"hang","seconds":5,"path":"/v1/records"}"#, #"{"kind":"close_mid_response","path":"/v1/records"}"#,
                      #"{"kind":"omit_seq","path":"/v1/records"}"#, #"{"kind":"extra_seq","path":"/v1/records"}"#] {
            try await platform.control(.POST, "/control/fault", fault)
        }
        let run = try PosdRun.run(["sync"] + clearingArguments(platform, dataDir: data))
        #expect(run.status == 0, "\(run.stdout)\n\(run.stderr.suffix(2000))")
        #expect(run.stdout.contains("0 undelivered"))

        let summary = try await platform.summary()
        #expect(summary.records == records.count)
        #expect(summary.accepted == records.count, "rejected: \(summary.rejected)")
        #expect(summary.chain_breaks == 0)
        #expect(summary.resent >= 1, "the stored-but-unanswered batches came back as duplicates")
        #expect(summary.debit_amount == SyntheticSales.debitTotal(records))
        let journal = Journal(directory: data)
        #expect(try journal.undeliveredCount == 0)
        #expect(journal.offlineExposure == OfflineExposure())

        let logs = run.stdout + run.stderr
        #expect(!logs.contains(platform.token))
        #expect(logs.contains("left out records it was sent"))
        #expect(logs.contains("listed records it was not sent"))
        #expect(logs.contains("retry"))
    }

    /// The terminal killed while the platform holds an answer to records it
    /// stored: the next run sends them again, the platform counts them once.
    @Test func restartAfterKillWhileAnAnswerIsOutstanding() async throws {
        let dir = try TemporaryDirectory("posd-upload-restart")
        defer { dir.remove() }
        let platform = try PlatformProcess(directory: dir.url)
        let data = dir.url.appendingPathComponent("terminal")
        let records = SyntheticSales.records(1_100)
        try Journal(directory: data).append(contentsOf: records)
        try await platform.control(.POST, "/control/fault", #"{"kind":"hang","seconds":30,"path":"/v1/records"}"#)

        let arguments = try clearingArguments(platform, dataDir: data)
        let first = try PosdRun.start(["sync"] + clearingArguments(platform, dataDir: data, requestTimeoutSeconds: 60))
        #expect(platform.nextLine() == "holding the answer to /v1/records")
        kill(first.0.processIdentifier, SIGKILL)
        _ = PosdRun.finish(first)
        #expect(try await platform.summary().records == UploadRequest.maxRecords)
        #expect(try Journal(directory: data).undeliveredCount == records.count)

        let second = try PosdRun.run(["sync"] + arguments)
        #expect(second.status == 0, "\(second.stderr.suffix(2000))")
        let summary = try await platform.summary()
        #expect(summary.records == records.count)
        #expect(summary.accepted == records.count)
        #expect(summary.resent == UploadRequest.maxRecords)
        #expect(try Journal(directory: data).undeliveredCount == 0)
    }

    @Test func rejectedRecordsAreDeliveredAndFlagged() async throws {
        let dir = try TemporaryDirectory("posd-upload-reject")
        defer { dir.remove() }
        let platform = try PlatformProcess(directory: dir.url)
        let data = dir.url.appendingPathComponent("terminal")
        var records = SyntheticSales.records(3)
        records[1].tac = "00000000"  // not what the card made
        try Journal(directory: data).append(contentsOf: records)

        let run = try PosdRun.run(["sync"] + clearingArguments(platform, dataDir: data))
        #expect(run.status == 0)
        #expect(try await platform.summary().rejected == ["tac_invalid": 1])
        let journal = Journal(directory: data)
        #expect(try journal.uploadState(of: 2)?.state == "rejected")
        #expect(try journal.uploadState(of: 2)?.reason == "tac_invalid")
        #expect(try journal.uploadState(of: 3)?.state == "delivered")
        #expect(try journal.nextBatch()?.count == 2, "the rejected debit is left out of settlement totals")
    }

    /// Clearing API revision 1.1: the platform rejected a record, but its
    /// answer was lost after it stored the verdict. The re-send comes back
    /// under `rejected` with the stored reason (under 1.0 it came back as a
    /// duplicate and the terminal counted a rejected debit in settlement).
    @Test func aRejectedRecordWhoseAnswerWasLostStaysRejected() async throws {
        let dir = try TemporaryDirectory("posd-upload-reject-lost")
        defer { dir.remove() }
        let platform = try PlatformProcess(directory: dir.url)
        let data = dir.url.appendingPathComponent("terminal")
        var records = SyntheticSales.records(6)
        let debit = try #require(records.firstIndex { $0.kind == .purchase })
        records[debit].tac = "00000000"
        try Journal(directory: data).append(contentsOf: records)
        try await platform.control(.POST, "/control/fault", #"{"kind":"close_mid_response","path":"/v1/records"}"#)

        let arguments = try clearingArguments(platform, dataDir: data)
        let sync = try PosdRun.run(["sync"] + arguments)
        #expect(sync.status == 0, "\(sync.stdout)\(sync.stderr.suffix(1500))")
        let summary = try await platform.summary()
        #expect(summary.resent == records.count, "the first answer was lost: everything was sent again")
        let journal = Journal(directory: data)
        #expect(try journal.uploadState(of: debit + 1)?.state == "rejected")
        #expect(try journal.uploadState(of: debit + 1)?.reason == "tac_invalid")

        let settle = try PosdRun.run(["settle"] + arguments)
        #expect(settle.status == 0, "\(settle.stdout)\(settle.stderr.suffix(1500))")
        #expect(settle.stdout.contains("batch 1 balanced"), "\(settle.stdout)")
    }

    @Test func badTokenAndWrongTerminalAreConfigurationFaults() async throws {
        let dir = try TemporaryDirectory("posd-upload-auth")
        defer { dir.remove() }
        let platform = try PlatformProcess(directory: dir.url)
        let data = dir.url.appendingPathComponent("terminal")
        try Journal(directory: data).append(contentsOf: SyntheticSales.records(5))

        let badToken = try PosdRun.run(["sync"] + clearingArguments(platform, dataDir: data, token: "wrong-token"))
        #expect(badToken.status == 78)
        #expect(badToken.stdout.contains("CONFIGURATION FAULT"))
        #expect(!(badToken.stdout + badToken.stderr).contains("wrong-token"))

        try await platform.control(.POST, "/control/terminals", #"{"terminal_id":"AABBCCDDEEFF","token":"other-terminal"}"#)
        let otherTerminal = try PosdRun.run(["sync"] + clearingArguments(platform, dataDir: data, token: "other-terminal"))
        #expect(otherTerminal.status == 78)
        #expect(try Journal(directory: data).undeliveredCount == 5)
        #expect(try await platform.summary().records == 0)
    }

    @Test func plainHTTPToANonLoopbackHostIsRefused() throws {
        let dir = try TemporaryDirectory("posd-upload-http")
        defer { dir.remove() }
        let token = dir.url.appendingPathComponent("token")
        try "secret-token".write(to: token, atomically: true, encoding: .utf8)
        let run = try PosdRun.run(["sync", "--clearing-url", "http://192.0.2.10:8080", "--terminal-id", terminalID,
                                   "--token-file", token.path, "--data-dir", dir.url.path])
        #expect(run.status == 78)
        #expect(run.stderr.contains("plain HTTP to 192.0.2.10 refused"))
        #expect(!(run.stdout + run.stderr).contains("secret-token"))
        let byName = try PosdRun.run(["sync", "--clearing-url", "http://localhost:1", "--terminal-id", terminalID,
                                      "--token-file", token.path, "--data-dir", dir.url.path])
        #expect(byName.status == 78 && byName.stderr.contains("plain HTTP to localhost refused"), "\(byName.stderr)")

        for allowed in ["http://127.0.0.1:1", "http://127.8.9.10", "http://[::1]:80", "http://[0:0:0:0:0:0:0:1]", "https://clearing.example"] {
            #expect(throws: Never.self) { try ClearingEndpoint(url: allowed, terminalID: terminalID, token: "t") }
        }
        // A name is refused even when it resolves to loopback: the rule is about
        // the address the token travels to, and a name can be made to point anywhere.
        for refused in ["http://10.0.0.1", "http://128.0.0.1", "http://clearing.example", "ftp://127.0.0.1", "http://localhost",
                        "http://LOCALHOST:8080", "http://127.0.0.1.example", "http://127.0.0.01", "http://0x7f.0.0.1", "http://[::ffff:10.0.0.1]",
                        "http://127.1", "http://2130706433"] {
            #expect(throws: ClearingEndpoint.Invalid.self) { try ClearingEndpoint(url: refused, terminalID: terminalID, token: "t") }
        }
        #expect(!"\(try ClearingEndpoint(url: "https://x.example", terminalID: terminalID, token: "hidden"))".contains("hidden"))

        // The request target: under the provisioned path, encoded as provisioned, never a line break.
        let targets = ["https://x.example": "/v1/records", "https://x.example/": "/v1/records", "https://x.example/clearing//": "/clearing/v1/records",
                       "https://x.example/a%0D%0AX-Injected:%201": "/a%0D%0AX-Injected:%201/v1/records",
                       "https://x.example/caf%C3%A9": "/caf%C3%A9/v1/records"]
        for (url, target) in targets {
            #expect(try ClearingEndpoint(url: url, terminalID: terminalID, token: "t").requestTarget("/v1/records") == target, "\(url)")
        }
    }
}
