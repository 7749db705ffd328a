/// CRC-32 as in zlib, PNG and IEEE 802.3: reflected polynomial 0xEDB88320, register preset to
/// all ones and inverted at the end. Catches every burst error up to 32 bits in a stream.
public struct CRC32: Sendable {
    /// table[b] = the register's update for byte b, one shift-and-xor per bit done in advance.
    static let table: [UInt32] = (0..<256).map { byte in
        var remainder = UInt32(byte)
        for _ in 0..<8 { remainder = remainder & 1 == 1 ? (remainder >> 1) ^ 0xEDB8_8320 : remainder >> 1 }
        return remainder
    }

    private var register: UInt32 = 0xFFFF_FFFF

    public init() {}

    /// Feeds more bytes; any split of the input gives the same checksum as one call.
    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let table = Self.table
        var register = self.register
        let usedContiguousStorage: Void? = bytes.withContiguousStorageIfAvailable { buffer in
            for byte in buffer { register = (register >> 8) ^ table[Int(UInt8(truncatingIfNeeded: register) ^ byte)] }
        }
        if usedContiguousStorage == nil {
            for byte in bytes { register = (register >> 8) ^ table[Int(UInt8(truncatingIfNeeded: register) ^ byte)] }
        }
        self.register = register
    }

    /// The CRC of everything fed so far.
    public var checksum: UInt32 { ~register }

    public static func checksum(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var crc = CRC32()
        crc.update(bytes)
        return crc.checksum
    }
}
