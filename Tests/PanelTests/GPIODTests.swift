import Glibc
import GPIOD
import LineIO
import Testing

/// libgpiod links and runs here through its error paths: this machine has no
/// GPIO character devices (the bench uses the board simulator instead).
@Suite struct GPIODTests {
    @Test func theBindingIsTheLibrarysAPI() {
        // Debian 12 has libgpiod 1.6, Debian 13 2.x: the C binding is built for whichever header it found.
        #expect(libgpiodAPI == (libgpiodVersion.hasPrefix("1.") ? 1 : 2), "libgpiod \(libgpiodVersion), binding for API \(libgpiodAPI)")
    }

    @Test func missingChipIsAnErrorValueWithItsErrno() {
        let specs = [LineSpec(chip: "gpiochip0", offset: 3, direction: .output), LineSpec(chip: "gpiochip0", offset: 4, direction: .input)]
        #expect {
            _ = try GPIOChip(named: "gpiochip0").request(specs, consumer: "posd-test")
        } throws: { error in
            guard let error = error as? GPIOError else { return false }
            return error.errno == ENOENT && error.description.contains("/dev/gpiochip0")
        }
    }

    @Test func anEmptyRequestIsRefused() {
        #expect(throws: GPIOError.self) { _ = try GPIOChip(named: "/dev/null").request([], consumer: "posd-test") }
    }
}
