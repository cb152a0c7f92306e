import Dispatch
import Synchronization

/// Runs blocking pcsc-lite calls with a bound of our own. pcsc-lite's client
/// waits for pcscd's answer with `poll(-1)`, and pcscd waits as long for the
/// reader: a card or reader driver that never answers (vpcd given a 0-length
/// frame, a wedged USB reader) would hang the terminal for good.
///
/// Each call runs on this object's own serial queue while the caller waits up
/// to the bound. A call that overruns is abandoned where it is: it still holds
/// the pcsc-lite context's lock, so the caller is told (`overran`) and must
/// stop using that context and every handle on it (see `PCSCContext.stranded`).
final class BoundedCall: Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: "pcsc.\(label)")
    }

    /// The value of `body`, or nil when it did not return within `milliseconds`.
    func run<T: Sendable>(within milliseconds: UInt32, _ body: @escaping @Sendable () -> T) -> T? {
        let box = Box<T>()
        let done = DispatchSemaphore(value: 0)
        queue.async {
            box.value.withLock { $0 = body() }
            done.signal()
        }
        guard done.wait(timeout: .now() + .milliseconds(Int(milliseconds))) == .success else { return nil }
        return box.value.withLock { $0 }
    }

    private final class Box<T: Sendable>: Sendable {
        let value = Mutex<T?>(nil)
    }
}
