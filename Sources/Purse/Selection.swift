import Hex
import ISO7816

/// A purse application found on the card, with its EF 0x15.
struct SelectedPurse {
    let profile: PurseProfile
    let info: PurseApplicationInfo
}

extension CardSession {
    /// SELECT each AID in turn (§3): FCI ‖ `9000` picks the profile, `6A81` or
    /// `9303` means blocked, anything else tries the next AID. Then EF 0x15, from
    /// `9F0C` when the FCI carries it, else READ BINARY.
    func selectPurse(_ profiles: [PurseProfile]) throws(Decline) -> SelectedPurse {
        for profile in profiles {
            let answer = try send(PurseCommand.select(aid: profile.aid))
            switch answer.status.value {
            case 0x9000:
                guard let fci = FileControlInformation(answer.data), fci.dfName.starts(with: profile.aid) else {
                    throw Decline(.cardError, "SELECT \(profile.rawValue): malformed FCI \(answer.data.hex)")
                }
                let raw: [UInt8]
                if let carried = fci.applicationInfo {
                    raw = carried
                } else {
                    raw = try expect(PurseCommand.readApplicationInfo, length: PurseApplicationInfo.length)
                }
                guard let info = PurseApplicationInfo(raw) else {
                    throw Decline(.cardError, "EF 0x15 malformed: \(raw.hex)")
                }
                return SelectedPurse(profile: profile, info: info)
            case 0x6A81, 0x9303:
                throw Decline(.appBlocked, "SELECT \(profile.rawValue) answered \(answer.status)")
            default:
                continue
            }
        }
        throw Decline(.notAPurseCard, "no purse application answered SELECT")
    }
}

extension SelectedPurse {
    /// The checks after SELECT (§3), in the contract's order.
    func checkValidity(on today: BCDDate) throws(Decline) {
        let number = info.cardNumber
        guard info.isEnabled else { throw Decline(.notEnabled, "enabled flag is 00", cardNumber: number) }
        guard today >= info.startDate else { throw Decline(.notYetValid, "starts \(info.startDate)", cardNumber: number) }
        guard today <= info.expiryDate else { throw Decline(.expired, "expired \(info.expiryDate)", cardNumber: number) }
    }
}
