import Testing
@testable import EntropyCoding

@Suite struct CRC32Tests {
    @Test func matchesPublishedCheckValues() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Array("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
        #expect(CRC32.checksum([UInt8]()) == 0)
        #expect(CRC32.checksum([0]) == 0xD202_EF8D)
        #expect(CRC32.table[1] == 0x7707_3096 && CRC32.table[255] == 0x2D02_EF8D)
    }

    @Test func incrementalEqualsOneShot() {
        var generator = SeededGenerator(seed: 30)
        let bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let oneShot = CRC32.checksum(bytes)
        for _ in 0..<50 {
            var crc = CRC32()
            var start = 0
            while start < bytes.count {
                let end = min(bytes.count, start + Int.random(in: 0...300, using: &generator))
                crc.update(bytes[start..<end])
                start = end
            }
            #expect(crc.checksum == oneShot)
        }
        // Sequences without contiguous storage take the other path.
        #expect(CRC32.checksum(bytes.lazy.map { $0 }) == oneShot)
        var corrupted = bytes
        corrupted[1234] ^= 0x10
        #expect(CRC32.checksum(corrupted) != oneShot)
    }
}
