import COpenSSL

/// Block ciphers from OpenSSL's libcrypto, all ECB over whole blocks. Nothing
/// here is hand-written cryptography: only key layout and block chaining.
public enum Cipher {
    public enum Algorithm {
        /// Single DES, 8-byte key (run as EDE3 with K ‖ K ‖ K, which equals DES).
        case des
        /// Two-key triple DES EDE, 16-byte key K1 ‖ K2 (run as K1 ‖ K2 ‖ K1).
        case tdes
        /// SM4 (GB/T 32907), 16-byte key.
        case sm4

        public var blockSize: Int { self == .sm4 ? 16 : 8 }
    }

    public static func encrypt(_ algorithm: Algorithm, key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        ecb(algorithm, key: key, data, encrypt: true)
    }

    public static func decrypt(_ algorithm: Algorithm, key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        ecb(algorithm, key: key, data, encrypt: false)
    }

    private static func ecb(_ algorithm: Algorithm, key: [UInt8], _ data: [UInt8], encrypt: Bool) -> [UInt8] {
        precondition(data.count % algorithm.blockSize == 0, "ECB works on whole blocks")
        let (cipher, fullKey): (OpaquePointer?, [UInt8]) = switch algorithm {
        case .des:
            (EVP_des_ede3_ecb(), { precondition(key.count == 8); return key + key + key }())
        case .tdes:
            (EVP_des_ede3_ecb(), { precondition(key.count == 16); return key + key[0..<8] }())
        case .sm4:
            (EVP_sm4_ecb(), { precondition(key.count == 16); return key }())
        }
        guard let context = EVP_CIPHER_CTX_new() else { fatalError("EVP_CIPHER_CTX_new failed") }
        defer { EVP_CIPHER_CTX_free(context) }
        guard EVP_CipherInit_ex(context, cipher, nil, fullKey, nil, encrypt ? 1 : 0) == 1,
              EVP_CIPHER_CTX_set_padding(context, 0) == 1
        else { fatalError("libcrypto refused \(algorithm)") }
        var out = [UInt8](repeating: 0, count: data.count + algorithm.blockSize)
        var written: Int32 = 0
        var tail: Int32 = 0
        guard EVP_CipherUpdate(context, &out, &written, data, Int32(data.count)) == 1,
              out.withUnsafeMutableBufferPointer({ EVP_CipherFinal_ex(context, $0.baseAddress! + Int(written), &tail) }) == 1
        else { fatalError("libcrypto \(algorithm) failed") }
        return Array(out.prefix(Int(written + tail)))
    }

    /// SHA-256 (for the test key set's master keys).
    public static func sha256(_ data: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard EVP_Digest(data, data.count, &digest, &length, EVP_sha256(), nil) == 1 else {
            fatalError("EVP_Digest failed")
        }
        return digest
    }
}
