import Foundation

/// A pcscd of the test's own, to stop, restart and reconfigure under a
/// running `posd` without touching the machine's pcscd (which the other
/// suites share): it lives in private mount and PID namespaces (its socket on
/// a tmpfs over `/run/pcscd`) and reads a reader.conf of its own, whose vpcd
/// listens on ports of its own. Programs that use it are started inside the
/// namespaces (`start`); when the test process ends, however it ends, the
/// namespace's init exits and the kernel kills everything in it. Needs root,
/// as the test command has.
///
/// pcscd's info log is watched: "daemon ready", and "Card Removed From" a
/// reader, which is how a test knows a card has been seen to leave without
/// a PC/SC client of its own (the test process is outside the namespace).
public final class PrivatePCSCD {
    /// Reader names as pcscd makes them from the friendly name: slot 0 and slot 1 of one vpcd.
    public static let friendlyName = "Field PCD"
    public static let cardReader = "\(friendlyName) 00 00"
    public static let psamReader = "\(friendlyName) 00 01"

    public let directory: URL
    /// vpcd's port for the card reader; the PSAM reader's is the next one.
    public let cardPort: UInt16
    public var psamPort: UInt16 { cardPort + 1 }
    /// `unshare`, whose child (`cat` on a pipe of ours, so it ends with us)
    /// is the namespaces' init.
    private let holder = Process()
    private let holderInput = Pipe()
    private let initPID: pid_t
    private var daemon: Started?
    /// The running pcscd's output (nil while it is stopped).
    public private(set) var log: LineWatcher?

    /// Each instance in one test process gets ports of its own.
    nonisolated(unsafe) private static var instances = 0
    private static let lock = NSLock()

    public init(directory: URL) throws {
        self.directory = directory
        let index = Self.lock.withLock { defer { Self.instances += 1 }; return Self.instances }
        // Never reused within a run: a long suite (the soak) holds its ports while
        // later suites start, and two pcscds on one vpcd port see each other's cards.
        // Below the kernel's ephemeral range (32768-60999): a client socket or a
        // server on port 0 elsewhere in the run can never be holding one, which
        // left vpcd unable to listen and pcscd with no readers.
        cardPort = 30_013 + UInt16(index % 270) * 10
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "/run/pcscd", withIntermediateDirectories: true)
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/unshare")
        // A /proc of the namespace's own: libdispatch reads /proc/<tid>/stat of
        // its worker threads and traps when the tid (the namespace's) is not there.
        holder.arguments = ["--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private", "--", "sh", "-c",
                            "mount -t tmpfs tmpfs /run/pcscd && echo ready && exec cat"]
        // Our end must not leak into the programs started in the namespaces,
        // or `cat` would outlive us through them.
        _ = fcntl(holderInput.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        holder.standardInput = holderInput
        let out = Pipe()
        holder.standardOutput = out
        try holder.run()
        guard PlatformProcess.readLine(out.fileHandleForReading) == "ready", let child = Self.child(of: holder.processIdentifier) else {
            throw HarnessError("no private namespaces (unshare needs root)")
        }
        initPID = child
    }

    /// A program started in the namespaces: `nsenter` (which forks, to enter
    /// the PID namespace) and the program itself, its child.
    public struct Started {
        public let nsenter: Process
        /// The program's process id (as this process sees it): signal this one.
        public let pid: pid_t
        public let stdout: Pipe
        public let stderr: Pipe

        /// Waits until the program has exited; its exit status, as `nsenter` passes it on.
        public func wait() -> Int32 {
            nsenter.waitUntilExit()
            return nsenter.terminationStatus
        }
    }

    /// The only child of `parent` (read from /proc), once it has one: it was
    /// forked before `parent` wrote anything, or is being forked now.
    static func child(of parent: pid_t) -> pid_t? {
        let file = "/proc/\(parent)/task/\(parent)/children"
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }  // parent gone
            if let pid = text.split(separator: " ").first.flatMap({ pid_t($0) }) { return pid }
            sched_yield()
        }
        return nil
    }

    deinit {
        stop(signal: SIGKILL)
        try? holderInput.fileHandleForWriting.close()
        holder.waitUntilExit()
    }

    /// Starts pcscd with the card and PSAM readers under `friendlyName`
    /// (another name: as if the readers were unplugged) and waits until it is ready.
    public func start(friendlyName: String = PrivatePCSCD.friendlyName) throws {
        precondition(daemon == nil, "pcscd already running")
        let conf = directory.appendingPathComponent("reader.conf")
        let channel = "0x" + String(cardPort, radix: 16, uppercase: true)
        try """
            FRIENDLYNAME "\(friendlyName)"
            DEVICENAME   /dev/null:\(channel)
            LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
            CHANNELID    \(channel)

            """.write(to: conf, atomically: true, encoding: .utf8)
        let process = try start(["/usr/sbin/pcscd", "--foreground", "--info", "--config", conf.path])
        let watcher = LineWatcher(process.stdout.fileHandleForReading)
        (daemon, log) = (process, watcher)
        guard watcher.await("daemon ready", seconds: 20) != nil else {
            throw HarnessError("private pcscd did not start: \(watcher.all.suffix(5))")
        }
    }

    /// The running pcscd's process id (a test may kill it from a simulator's hook).
    public var pid: pid_t? { daemon?.pid }

    /// Stops pcscd (SIGKILL: a crash; SIGTERM: a restart by systemd, which
    /// kills it 5 s later if it has not gone: pcscd may wait for a reader
    /// thread) and waits for it to exit.
    public func stop(signal: Int32 = SIGTERM) {
        guard let daemon else { return }
        kill(daemon.pid, signal)
        let killer = DispatchWorkItem { kill(daemon.pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 5, execute: killer)
        _ = daemon.wait()
        killer.cancel()
        self.daemon = nil
    }

    /// Starts `command` (an absolute path and its arguments) inside the namespaces.
    public func start(_ command: [String]) throws -> Started {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nsenter")
        process.arguments = ["--target", "\(initPID)", "--mount", "--pid", "--"] + command
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        guard let pid = Self.child(of: process.processIdentifier) else {
            throw HarnessError("\(command.first ?? "") did not start in the namespaces")
        }
        return Started(nsenter: process, pid: pid, stdout: out, stderr: err)
    }

    /// A package binary (`posd` by default) started inside the namespaces.
    public func startTool(_ arguments: [String], tool: String = "posd") throws -> Started {
        try PosdRun.checkSandboxed(tool: tool, arguments)
        return try start([binaries.appendingPathComponent(tool).path] + arguments)
    }

    /// A package binary run to completion inside the namespaces.
    public func runTool(_ arguments: [String], tool: String = "posd") throws -> PosdRun {
        let started = try startTool(arguments, tool: tool)
        return PosdRun.finish((started.nsenter, started.stdout, started.stderr))
    }

    /// Waits until pcscd has logged, after its `from`-th line, that a card left `reader`.
    public func awaitRemoval(from reader: String, after from: Int, seconds: Double = 10) -> Bool {
        log?.await("Card Removed From \(reader)", after: from, seconds: seconds) != nil
    }

    public var logLines: Int { log?.all.count ?? 0 }
}
