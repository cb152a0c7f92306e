#if canImport(Glibc)
import Glibc
#endif

/// Runs `body` on a detached thread of its own (Foundation's `Thread`, which
/// the firmware does not link): for loops that block in system calls for a
/// long time and must not hold a worker of a shared pool.
public func detachThread(_ body: @escaping @Sendable () -> Void) throws(SystemError) {
    let box = Unmanaged.passRetained(ThreadBody(body))
    var thread = pthread_t()
    let status = pthread_create(&thread, nil, { box in
        Unmanaged<ThreadBody>.fromOpaque(box!).takeRetainedValue().run()
        return nil
    }, box.toOpaque())
    guard status == 0 else {
        box.release()
        throw SystemError("pthread_create", errno: status)
    }
    pthread_detach(thread)
}

private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}
