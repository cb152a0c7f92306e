import ArgumentParser
import ClearingAPI
import ClearingClient
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Dispatch
import Glibc
import Journal
import Posix
import LineServer
import Logging
import ServiceLifecycle
import Settings
import StoreAndForward
import Synchronization
import Terminal

/// `posd run`: the terminal as a service (systemd `Type=notify`). Everything
/// comes from the provisioned settings. The cashier or validator runs on its
/// own thread (PC/SC and GPIO calls block); delivery, parameters and the hot
/// list run beside it; SIGTERM lets a transaction under way finish and be
/// journalled before the process exits.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the provisioned terminal (cashier or validator) with store-and-forward, as a systemd service.",
        discussion: """
            Tells systemd READY=1 once the PSAM is started and the journal is open, pets the \
            watchdog (WATCHDOG_USEC) only while the terminal loop is alive, and on SIGTERM or \
            SIGINT finishes the transaction under way, says STOPPING=1 and exits 0. Exit 78 when \
            the terminal is not provisioned.
            """)

    @Option(help: "Seconds between delivery rounds.")
    var uploadIntervalSeconds = 30

    @Option(help: "Seconds between parameter and hot-list refreshes.")
    var syncIntervalSeconds = 900

    @Option(help: "Log level on stderr.")
    var logLevel = "notice"

    @Option(help: "Validators: seconds after the vehicle's last stop report that the provisioned stop prices taps again.")
    var vehicleStaleSeconds = 120

    @Option(help: "Seconds between tries of a scheduled settlement (settle_at) that has not balanced.")
    var settleRetrySeconds = 300

    func validate() throws {
        try require(settleRetrySeconds, in: 1...86_400, "settle-retry-seconds")
        try require(vehicleStaleSeconds, in: 1...86_400, "vehicle-stale-seconds")
        try require(uploadIntervalSeconds, in: 1...86_400, "upload-interval-seconds")
        try require(syncIntervalSeconds, in: 1...604_800, "sync-interval-seconds")
    }

    @OptionGroup var data: DataOptions

    func run() async throws {
        unblockStopSignals()
        let started = ContinuousClock.now
        LoggingBootstrap.once
        var logger = Logger(label: "posd")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .notice
        let settings: TerminalSettings
        do {
            guard let loaded = try TerminalSettings.load(from: data.url) else {
                logLine("not provisioned: \(TerminalSettings.url(in: data.url).path) missing (posd-tech provision)")
                throw ExitCode(configurationFailure)
            }
            settings = loaded
        } catch let exit as ExitCode {
            throw exit
        } catch {
            logLine("\(TerminalSettings.url(in: data.url).path): \(error)")
            throw ExitCode(configurationFailure)
        }

        // This data directory is this service's: technicians' tools ask before touching its readers.
        let lock: ServiceLock
        do { lock = try ServiceLock(directory: data.url, mode: settings.mode.rawValue) } catch {
            logLine("\(error)")
            throw ExitCode(configurationFailure)
        }
        defer { withExtendedLifetime(lock) {} }

        // The provisioned values, through the same option types the commands use.
        let readers = try ReaderOptions.parse(["--card-reader", settings.cardReader, "--psam-reader", settings.psamReader])
        // One journal for the terminal loop and store-and-forward alike.
        let core = try TerminalCore(data: data, limits: LimitOptions.parse([]))
        // The cashier's "settle now" and the service's view of the platform meet here.
        let desk = SettlementDesk()
        let loop: TerminalLoop
        switch settings.mode {
        case .validator:
            guard let line = settings.line else {
                logLine("a validator needs its line (posd-tech provision --line)")
                throw ExitCode(configurationFailure)
            }
            let validator = try Validator(line: line, stop: settings.stop ?? 0, route: settings.route.map { data.url.appendingPathComponent($0).path },
                                          board: settings.board, core: core, readers: readers, recoveryWaitSeconds: 10,
                                          vehicleFeed: settings.vehicleSocket, staleAfter: .seconds(vehicleStaleSeconds),
                                          statusFile: data.url.appendingPathComponent(VehicleStatus.fileName))
            loop = TerminalLoop { shouldStop in _ = validator.serve(taps: 0, waitMilliseconds: 1000, shouldStop: shouldStop) }
        case .cashier:
            guard let board = settings.board else {
                logLine("a cashier terminal needs its board (posd-tech provision --board)")
                throw ExitCode(configurationFailure)
            }
            let cashier = try CashierTerminal(board: board, core: core, readers: readers, cardWaitSeconds: 30, settings: settings, desk: desk)
            loop = TerminalLoop { shouldStop in cashier.serve(shouldStop: shouldStop) }
        }

        var services: [any Service] = [loop]
        do {
            let client = try ClearingOptions.parse([]).client(data: data, logger: logger, timeout: .seconds(15))
            let schedule = settings.settleAt.flatMap { SettlementSchedule($0, retry: .seconds(settleRetrySeconds)) }
            services.append(StoreAndForwardService(journal: core.journal, service: client, terminalID: settings.terminalID, desk: desk,
                                                   schedule: schedule, logger: logger,
                                                   uploadInterval: .seconds(uploadIntervalSeconds), syncInterval: .seconds(syncIntervalSeconds)))
        } catch {
            logger.error("store and forward off: records stay in the journal", metadata: ["why": "\(error)"])
        }
        let notifier = SystemdNotifier()
        if let watchdog = notifier.watchdogInterval { services.append(WatchdogService(notifier: notifier, loop: loop, interval: watchdog)) }
        let ready = ContinuousClock.now - started
        notifier.send("READY=1\nSTATUS=\(settings.mode.rawValue) ready")
        logger.notice("ready", metadata: ["mode": "\(settings.mode.rawValue)", "ms": "\(ready.components.seconds * 1000 + ready.components.attoseconds / 1_000_000_000_000_000)"])
        let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        notifier.send("STOPPING=1")
        logger.notice("stopped")
    }
}

/// The cashier or validator loop on a thread of its own; a graceful shutdown
/// raises the stop flag, and the loop returns after the transaction under way.
final class TerminalLoop: Service, @unchecked Sendable {
    // The body owns the terminal's readers and panel and runs on one thread only.
    private let body: (@escaping @Sendable () -> Bool) -> Void
    private let stopping = Atomic<Bool>(false)
    /// Last sign of life of the loop (uptime nanoseconds), for the watchdog.
    let heartbeat = Atomic<UInt64>(DispatchTime.now().uptimeNanoseconds)

    init(_ body: @escaping (@escaping @Sendable () -> Bool) -> Void) { self.body = body }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                do {
                    try detachThread { [self] in
                        body { [self] in
                            heartbeat.store(DispatchTime.now().uptimeNanoseconds, ordering: .relaxed)
                            return stopping.load(ordering: .relaxed)
                        }
                        done.resume()
                    }
                } catch {
                    logLine("cannot start the terminal loop: \(error)")
                    done.resume()
                }
            }
        } onGracefulShutdown: { [self] in
            stopping.store(true, ordering: .relaxed)
        }
    }
}

/// Delivery rounds and periodic parameter and hot-list refreshes, until
/// shutdown; settlement when the cashier asks for it (`desk`) and, with a
/// `schedule`, each day at its time until it balances.
struct StoreAndForwardService: Service {
    let journal: Journal
    let service: any ClearingService
    let terminalID: String
    let desk: SettlementDesk
    let schedule: SettlementSchedule?
    let logger: Logger
    let uploadInterval: Duration
    let syncInterval: Duration

    /// The day (`YYYYMMDD`) the scheduled settlement last balanced, kept in the journal across restarts.
    static let scheduledDayKey = "scheduled_settlement_day"

    func run() async throws {
        let sync = PlatformSync(journal: journal, service: service, logger: logger)
        let uploader = Uploader(journal: journal, service: service, logger: logger)
        let settlement = Settlement(uploader: uploader, service: service, terminalID: terminalID, logger: logger)
        await cancelWhenGracefulShutdown {
            var nextSync = ContinuousClock.now
            var nextScheduledTry = ContinuousClock.now
            while !Task.isCancelled {
                if ContinuousClock.now >= nextSync {
                    var refreshed = true
                    do { try await sync.refreshParameters() } catch {
                        refreshed = false
                        logger.warning("parameters not refreshed", metadata: ["error": "\(error)"])
                    }
                    do { try await sync.refreshHotList() } catch {
                        refreshed = false
                        logger.warning("hot list not refreshed", metadata: ["error": "\(error)"])
                    }
                    if refreshed { desk.update { $0.lastSync = journal.transactionTime().description } }
                    nextSync = .now + syncInterval
                }
                let delivery = await uploader.deliverAll(until: .now + uploadInterval)
                desk.update { link in
                    link.lastError = delivery.lastError
                    if delivery.lastError == nil { link.lastContact = journal.transactionTime().description }
                }
                let scheduledDue = scheduleIsDue() && ContinuousClock.now >= nextScheduledTry
                if desk.settlementRequested || scheduledDue {
                    let outcome = await settlement.close(until: .now + .seconds(60))
                    desk.answerRequests(outcome)
                    logger.notice("settlement", metadata: ["outcome": "\(outcome.summary)", "scheduled": "\(scheduledDue)"])
                    if scheduleIsDue() { nextScheduledTry = .now + (schedule?.retry ?? .seconds(300)) }
                    recordForSchedule(outcome)
                }
                // Until the next round, answer a cashier's "settle now" within a fraction of a second.
                let wake = ContinuousClock.now + uploadInterval
                while ContinuousClock.now < wake, !Task.isCancelled, !desk.settlementRequested {
                    try? await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }

    private var today: String { String(journal.transactionTime().description.prefix(8)) }

    private func scheduleIsDue() -> Bool {
        guard let schedule else { return false }
        let lastDay = (try? journal.setting(Self.scheduledDayKey)) ?? nil
        return schedule.isDue(now: journal.transactionTime().description, lastBalancedDay: lastDay)
    }

    /// Once the day's time has come, a settlement that balances (or finds
    /// nothing to settle) closes the day for the schedule; one that does not
    /// is shown on the idle screen and tried again.
    private func recordForSchedule(_ outcome: Settlement.Outcome) {
        guard scheduleIsDue() else { return }
        switch outcome {
        case .balanced, .nothingToSettle:
            try? journal.setSettings([Self.scheduledDayKey: today])
            desk.setScheduled(.balanced(day: today))
        default:
            desk.setScheduled(.failing(day: today, why: outcome.summary))
            logger.warning("scheduled settlement not balanced: trying again", metadata: ["why": "\(outcome.summary)"])
        }
    }
}

extension Settlement.Outcome {
    /// One line for the log.
    var summary: String {
        switch self {
        case .nothingToSettle: "nothing to settle"
        case .balanced(let batch): "batch \(batch.batchNo) balanced: \(batch.count) debits, \(batch.amount) fen"
        case .unbalanced(let batch, let count, let amount, let missing):
            "batch \(batch.batchNo) unbalanced: terminal \(batch.count) / \(batch.amount), platform \(count) / \(amount), missing \(missing)"
        case .undelivered(let remaining, let error): "\(remaining) records undelivered" + (error.map { " (\($0))" } ?? "")
        case .failed(let error): "\(error)"
        }
    }
}

/// Pets systemd's watchdog at half its interval, but only while the terminal
/// loop shows signs of life: a hung reader call gets the service restarted.
struct WatchdogService: Service {
    let notifier: SystemdNotifier
    let loop: TerminalLoop
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let silent = DispatchTime.now().uptimeNanoseconds - loop.heartbeat.load(ordering: .relaxed)
                if Duration.nanoseconds(Int64(silent)) < interval { notifier.send("WATCHDOG=1") }
                try? await Task.sleep(for: interval / 2)
            }
        }
    }
}

/// `sd_notify` without libsystemd: one datagram to `$NOTIFY_SOCKET`.
struct SystemdNotifier: Sendable {
    let socketPath: String?
    let watchdogInterval: Duration?

    init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"]
        watchdogInterval = environment["WATCHDOG_USEC"].flatMap { UInt64($0) }.map { Duration.microseconds(Int64($0)) }
    }

    func send(_ message: String) {
        guard let socketPath, !socketPath.isEmpty else { return }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var path = Array(socketPath.utf8)
        if path.first == UInt8(ascii: "@") { path[0] = 0 }  // abstract namespace
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { return }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        _ = message.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, text, strlen(text), 0, $0, length) }
            }
        }
    }
}
