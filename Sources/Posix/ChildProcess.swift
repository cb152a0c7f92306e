import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A program run to its end within a deadline, by posix_spawn(3): in a
/// process group of its own, with every signal at its default and none
/// blocked (whatever systemd or a shell handed us). At the deadline the group
/// gets SIGTERM, `graceSeconds` later SIGKILL, so nothing it starts can hang
/// the caller; whatever it leaves in its group is killed when it ends.
public enum ChildProcess {
    public enum Ending: Equatable, Sendable, CustomStringConvertible {
        case exited(Int32)
        case signalled(Int32)
        /// Still running at the deadline (and then stopped, whatever it did after).
        case overran

        public var description: String {
            switch self {
            case .exited(let code): "exit \(code)"
            case .signalled(let signal): "signal \(signal)"
            case .overran: "still running at the deadline"
            }
        }
    }

    /// Runs `path` with `arguments` (standard output and error to /dev/null
    /// when `quiet`) and waits up to `seconds` for it to end.
    public static func run(_ path: String, _ arguments: [String] = [], quiet: Bool = false,
                           seconds: Int, graceSeconds: Int = 5) throws(SystemError) -> Ending {
        let pid = try spawn(path, arguments, quiet: quiet)
        let exited = DispatchSemaphore(value: 0)
        let status = Mutex<Int32>(0)
        do throws(SystemError) {
            try detachThread {
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                status.withLock { $0 = raw }
                exited.signal()
            }
        } catch {
            // No thread to watch it: it is not left running unwatched.
            kill(-pid, SIGKILL)
            var raw: Int32 = 0
            while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
            throw error
        }
        var inTime = true
        if exited.wait(timeout: .now() + .seconds(seconds)) == .timedOut {
            inTime = false
            kill(-pid, SIGTERM)
            if exited.wait(timeout: .now() + .seconds(graceSeconds)) == .timedOut {
                kill(-pid, SIGKILL)
                exited.wait()
            }
        }
        kill(-pid, SIGKILL)  // anything it left behind in its group
        guard inTime else { return .overran }
        // WIFEXITED, WEXITSTATUS and WTERMSIG, which Swift does not import.
        let raw = status.withLock { $0 }
        return raw & 0x7F == 0 ? .exited((raw >> 8) & 0xFF) : .signalled(raw & 0x7F)
    }

    private static func spawn(_ path: String, _ arguments: [String], quiet: Bool) throws(SystemError) -> pid_t {
        var attributes = posix_spawnattr_t()
        var actions = posix_spawn_file_actions_t()
        posix_spawnattr_init(&attributes)
        posix_spawn_file_actions_init(&actions)
        defer {
            posix_spawnattr_destroy(&attributes)
            posix_spawn_file_actions_destroy(&actions)
        }
        var all = sigset_t(), none = sigset_t()
        sigfillset(&all)
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))
        if quiet {
            posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0)
        }
        var argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, &argv, environ)
        guard status == 0 else { throw SystemError("posix_spawn \(path)", errno: status) }
        return pid
    }
}
