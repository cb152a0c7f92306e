import Cashier
import ClearingAPI
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Journal
import Settings
import StoreAndForward
import Terminal

/// What the merchant's menu shows, gathered from the journal, the settings
/// and the store-and-forward service (`desk`, absent under `posd cashier`),
/// in lines of at most 16 characters (the smallest shipped display). Runs on
/// the terminal loop's thread.
final class MerchantMenu {
    let journal: Journal
    let settings: TerminalSettings?
    let desk: SettlementDesk?
    /// How long the keypad waits for the service to settle.
    let settleTimeout: Duration
    private var wrongPINs = 0
    private var lockedUntil: UInt64 = 0

    init(journal: Journal, settings: TerminalSettings?, desk: SettlementDesk?, settleTimeout: Duration = .seconds(90)) {
        self.journal = journal
        self.settings = settings
        self.desk = desk
        self.settleTimeout = settleTimeout
    }

    func report(_ item: CashierFlow.MenuItem) -> MenuReport {
        switch item {
        case .dayTotals: dayTotals
        case .lastSales: lastSales
        case .terminalInfo: terminalInfo
        }
    }

    /// Under "READY" while the day's scheduled settlement has not balanced.
    var idleNotice: String? {
        if case .failing? = desk?.scheduled { return "SETTLE FAILED" }
        return nil
    }

    var dayTotals: MenuReport {
        let now = journal.transactionTime().description
        let title = "TOTALS " + Self.monthDay(now)
        guard let totals = try? journal.dayTotals(day: String(now.prefix(8))) else {
            return MenuReport(title: title, entries: [["JOURNAL ERROR"]])
        }
        var entries = [["SALES \(totals.sales)"], ["AMOUNT " + CashierFlow.money(Int64(totals.salesAmount))], ["DECLINED \(totals.declines)"]]
        if totals.loads > 0 { entries.append(["LOADS \(totals.loads) " + CashierFlow.money(Int64(totals.loadsAmount))]) }
        entries.append(["UNSENT \(totals.undelivered)"])
        return MenuReport(title: title, entries: entries)
    }

    /// The last ten records, newest first: time and card, then amount and result.
    var lastSales: MenuReport {
        let records = (try? journal.lastRecords(10)) ?? []
        return MenuReport(title: "LAST SALES", entries: records.map { record in
            let card = "*" + record.cardNo.suffix(4)
            let amount = CashierFlow.money(Int64(record.amount))
            let result = switch record.kind {
            case .purchase, .cappPurchase: amount + " PAID"
            case .load: "+" + amount + " LOAD"
            case .declined: amount + " DECLINED"
            case .cardBlocked: "CARD BLOCKED"
            }
            return [Self.clock(record.time) + " " + card, result]
        })
    }

    var terminalInfo: MenuReport {
        var entries: [[String]] = [["ID " + (settings?.terminalID ?? "NOT SET UP")]]
        let firmware = FirmwareSlot.running()
        entries.append(["FW \(firmware.version ?? "DEV")" + (firmware.slot.map { " SLOT " + $0.uppercased() } ?? "")])
        entries.append([journal.fault == nil ? "JOURNAL OK" : "JOURNAL FAULT"])
        if let desk {
            let link = desk.link
            entries.append([link.lastError.map(Self.platformProblem) ?? (link.lastContact == nil ? "PLATFORM ?" : "PLATFORM OK")])
            entries.append(["SYNC " + (link.lastSync.map { Self.monthDay($0) + " " + Self.clock($0) } ?? "NOT YET")])
        } else {
            entries.append(["PLATFORM: NO SVC"])
        }
        let offset = journal.clockOffsetSeconds
        entries.append(["CLOCK \(offset >= 0 ? "+" : "")\(offset)S"])
        if let settleAt = settings?.settleAt {
            entries.append(["SETTLE AT " + settleAt])
            switch desk?.scheduled {
            case .balanced(let day)?: entries.append(["SETTLED " + Self.monthDay(day)])
            case .failing?: entries.append(["SETTLE FAILED"])
            case nil: break
            }
        }
        return MenuReport(title: "TERMINAL", entries: entries)
    }

    /// Settles through the service if `pin` is the supervisor's. Three wrong
    /// PINs lock settling from the keypad for five minutes.
    func settle(pin: String, now: UInt64) -> MenuReport {
        let title = "SETTLE"
        guard now >= lockedUntil else { return MenuReport(title: title, entries: [["LOCKED", "TRY LATER"]]) }
        guard let expected = settings?.supervisorPIN, expected.matches(pin) else {
            wrongPINs += 1
            if wrongPINs >= SupervisorPIN.attemptsBeforeLockout {
                wrongPINs = 0
                lockedUntil = now + UInt64(SupervisorPIN.lockout.components.seconds) * 1_000_000_000
                return MenuReport(title: title, entries: [["WRONG PIN", "LOCKED 5 MIN"]])
            }
            return MenuReport(title: title, entries: [["WRONG PIN", ""]])
        }
        wrongPINs = 0
        guard let desk else { return MenuReport(title: title, entries: [["NOT SETTLED", "NO SERVICE"]]) }
        guard let outcome = desk.settleNow(timeout: settleTimeout) else {
            return MenuReport(title: title, entries: [["NOT SETTLED", "NO ANSWER YET"]])
        }
        return MenuReport(title: title, entries: Self.lines(outcome))
    }

    static func lines(_ outcome: Settlement.Outcome) -> [[String]] {
        switch outcome {
        case .nothingToSettle: [["NOTHING", "TO SETTLE"]]
        case .balanced(let batch):
            [["BALANCED", "BATCH \(batch.batchNo)"], ["\(batch.count) SALES", CashierFlow.money(Int64(batch.amount))]]
        case .unbalanced(let batch, let count, let amount, _):
            [["UNBALANCED", "BATCH \(batch.batchNo)"], ["TERMINAL \(batch.count)", CashierFlow.money(Int64(batch.amount))],
             ["PLATFORM \(count)", CashierFlow.money(Int64(amount))]]
        case .undelivered(let remaining, let error):
            [["NOT SETTLED", "\(remaining) UNSENT"]] + (error.map { [[platformProblem($0)]] } ?? [])
        case .failed(let error): [["NOT SETTLED", platformProblem(error)]]
        }
    }

    static func platformProblem(_ error: ClearingError) -> String {
        switch error {
        case .configuration: "TOKEN REFUSED"
        case .untrusted: "CERT REFUSED"
        case .timeout: "NO ANSWER"
        case .busy: "PLATFORM BUSY"
        case .transport: "PLATFORM DOWN"
        case .badRequest, .refused, .status, .malformedAnswer: "PLATFORM ERROR"
        }
    }

    /// `YYYYMMDDhhmmss` → "MM-DD".
    static func monthDay(_ time: String) -> String {
        let digits = Array(time)
        return digits.count >= 8 ? String(digits[4...5]) + "-" + String(digits[6...7]) : "?"
    }

    /// `YYYYMMDDhhmmss` → "hh:mm".
    static func clock(_ time: String) -> String {
        let digits = Array(time)
        return digits.count >= 12 ? String(digits[8...9]) + ":" + String(digits[10...11]) : "?"
    }
}

/// The firmware slot this binary runs from (`/opt/posd/a/posd` → "a") and
/// the version `posd-tech boot` recorded for it in `slots.json`; nil outside
/// an A/B layout (a bench build).
struct FirmwareSlot {
    var slot: String?
    var version: String?

    static func running(executable: URL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()) -> FirmwareSlot {
        let directory = executable.deletingLastPathComponent()
        let name = directory.lastPathComponent
        guard name == "a" || name == "b" else { return FirmwareSlot() }
        struct Slots: Decodable { var current: String; var currentVersion: String? }
        let slots = (try? Data(contentsOf: directory.deletingLastPathComponent().appendingPathComponent("slots.json")))
            .flatMap { try? JSONDecoder().decode(Slots.self, from: $0) }
        return FirmwareSlot(slot: name, version: slots?.current == name ? slots?.currentVersion : nil)
    }
}
