// FoundationEssentials: with Foundation itself, Testing's Foundation overlay is
// linked, and Debian's Swift (the aarch64 build of these suites) ships none.
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Hex
@testable import Purse
import Testing
import TestFixtures

/// The card-side parsers fed random and mutated bytes, seeded: none may trap,
/// and what parses must be what the bytes say (a composite record written
/// back gives the bytes it was read from). `POSD_FUZZ_SEED` reproduces a run.
@Suite struct ParserPropertyTests {
    static let fci = Vectors.named("card1-cu-select", in: "profiles.json").bytes("select_resp").dropLast(2)
    static let ef15 = [UInt8](hex: "888810000000000001010000888800000000000120250101203512310000")!

    /// Random bytes, or a sample with bytes flipped, cut, repeated or appended.
    static func input(from sample: [UInt8], _ random: inout SeededRandom) -> [UInt8] {
        func byte() -> UInt8 { UInt8(truncatingIfNeeded: random.next()) }
        var bytes = sample
        switch random.next() % 5 {
        case 0: return (0..<Int(random.next() % 300)).map { _ in byte() }
        case 1: if !bytes.isEmpty { bytes[Int(random.next() % UInt64(bytes.count))] = byte() }
        case 2: bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count + 1))))
        case 3: bytes += (0..<Int(1 + random.next() % 40)).map { _ in byte() }
        default:
            // A length byte made to lie: every TLV length in range of the sample.
            if !bytes.isEmpty { bytes[Int(random.next() % UInt64(bytes.count))] = [0x00, 0x7F, 0x80, 0x81, 0x82, 0x83, 0xFF][Int(random.next() % 7)] }
        }
        return bytes
    }

    @Test func cardParsersNeverTrap() {
        let seed = ProcessInfo.processInfo.environment["POSD_FUZZ_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64(UInt32.max))
        var random = SeededRandom(seed: seed)
        var parsed = (fci: 0, info: 0, composite: 0, time: 0)
        let runs = 50_000
        for _ in 0..<runs {
            let fci = Self.input(from: Array(Self.fci), &random)
            if let info = FileControlInformation(fci) {
                parsed.fci += 1
                #expect(!info.dfName.isEmpty || fci.count >= 4)
            }
            let ef15 = Self.input(from: Self.ef15, &random)
            if let info = PurseApplicationInfo(ef15) {
                parsed.info += 1
                #expect(info.raw == ef15 && info.cardNumber.bytes == Array(ef15[12..<20]))
            }
            for profile in [PurseProfile.cu, .tu] {
                // As the issuer writes it: record id, length, then the data.
                let (id, length): (UInt8, Int) = profile == .cu ? (0x03, 48) : (0x01, 128)
                let sample = [id, UInt8(length - 2)] + [UInt8](repeating: 0, count: length - 2)
                let bytes = Self.input(from: sample, &random)
                if let record = CompositeRecord(bytes, profile: profile) {
                    parsed.composite += 1
                    // Written back and read again, it is the same record.
                    #expect(CompositeRecord(record.bytes(for: profile), profile: profile) == record, "seed \(seed): \(bytes.hex)")
                }
            }
            let time = Self.input(from: [0x20, 0x26, 0x11, 0x22, 0x14, 0x03, 0x05], &random)
            if let parsedTime = BCDDateTime(time) {
                parsed.time += 1
                #expect(BCDDateTime(text: parsedTime.description) == parsedTime)
                // Any digits (month 00, day 99) give a difference, never a trap.
                #expect(parsedTime.seconds(since: parsedTime) == 0)
                _ = parsedTime.seconds(since: BCDDateTime(text: "20000101000000")!)
            }
        }
        print("card parsers, seed \(seed): \(runs) inputs each; parsed FCI \(parsed.fci), EF 0x15 \(parsed.info), "
              + "composite records \(parsed.composite), BCD times \(parsed.time); no trap")
    }

    /// The wall-clock difference the fares (transfer window, tap-on to
    /// tap-off) and the offline limit (oldest record's age) are measured by.
    @Test func wallClockSecondsAcrossMonthsYearsAndLeapDays() {
        func seconds(_ later: String, _ earlier: String) -> Int { BCDDateTime(text: later)!.seconds(since: BCDDateTime(text: earlier)!) }
        #expect(seconds("20240301000000", "20240229235959") == 1)
        #expect(seconds("20240101000000", "20231231235959") == 1)
        #expect(seconds("20230301000000", "20230228000000") == 86_400, "2023 has no 29 February")
        #expect(seconds("20000301000000", "20000101000000") == 60 * 86_400, "2000 is a leap year")
        #expect(seconds("21000301000000", "21000228000000") == 86_400, "2100 is not")
        #expect(seconds("20261122140305", "20261122133305") == 1800)
        #expect(seconds("20261122133305", "20261122140305") == -1800)
        #expect(seconds("20270101000000", "20260101000000") == 365 * 86_400)
    }
}
