import Testing
@testable import Codec

@Suite struct ContainerTests {
    let fingerprint: UInt64 = 0x0123_4567_89AB_CDEF
    var sample: Container {
        Container(header: ContainerHeader(formatHint: .jpeg, rung: 3, modelID: 0xCDEF, width: 64, height: 64),
                  payload: [0x10, 0x20, 0x30, 0x40, 0x55, 0x66])
    }

    @Test func fixedPartIsTwelveBytesAt64x64() {
        let bytes = sample.serialized(modelFingerprint: fingerprint)
        #expect(bytes.count - sample.payload.count == 12)
        #expect(Array(bytes.prefix(8)) == [0x56, 0xAE, 0x11, 0x03, 0xCD, 0xEF, 64, 64])
    }

    @Test(arguments: [(1, 1), (64, 64), (127, 128), (16384, 250), (177, 151)])
    func headerRoundTrips(width: Int, height: Int) throws {
        var container = sample
        container.header.width = width
        container.header.height = height
        let bytes = container.serialized(modelFingerprint: fingerprint)
        #expect(try Container.parse(bytes, name: "x.vae") == container)
        #expect(Container.verify(bytes, fingerprint: fingerprint))
        #expect(!Container.verify(bytes, fingerprint: fingerprint ^ 1 << 40))
    }

    @Test func everySingleBitFlipIsDetected() {
        let bytes = sample.serialized(modelFingerprint: fingerprint)
        for bit in 0..<(bytes.count * 8) {
            var damaged = bytes
            damaged[bit / 8] ^= 1 << (bit % 8)
            let parsed = try? Container.parse(damaged, name: "x.vae")
            #expect(parsed == nil || !Container.verify(damaged, fingerprint: fingerprint), "bit \(bit)")
        }
    }

    @Test func everyTruncationIsRejected() {
        let bytes = sample.serialized(modelFingerprint: fingerprint)
        for length in 0..<bytes.count {
            let cut = Array(bytes.prefix(length))
            let parsed = try? Container.parse(cut, name: "x.vae")
            #expect(parsed == nil || !Container.verify(cut, fingerprint: fingerprint), "length \(length)")
        }
        #expect(!Container.verify(bytes + [0], fingerprint: fingerprint))
    }

    @Test(arguments: [
        ([UInt8](), "file is empty"),
        ([0x89, 0x50, 0x4E, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0], "not a .vae file (wrong signature)"),
        ([0x56, 0xAE, 0x11], "file is truncated (3 bytes)"),
        ([0x56, 0xAE, 0x21, 0, 0, 0, 64, 64, 0, 0, 0, 0], "format version 2 is not supported (this vaecodec reads version 1)"),
        ([0x56, 0xAE, 0x13, 0, 0, 0, 64, 64, 0, 0, 0, 0], "damaged header (unknown format flags 0x3)"),
        ([0x56, 0xAE, 0x10, 0, 0, 0, 0x80, 0x80, 0x02, 64, 0, 0, 0, 0], "damaged header (image size 32768x64 is outside 1...16384)"),
        ([0x56, 0xAE, 0x10, 0, 0, 0, 0x80, 0x80, 0, 0, 0, 0], "file is truncated (header cut short)"),
        ([0x56, 0xAE, 0x10, 0, 0, 0, 0, 64, 0, 0, 0, 0], "damaged header (image size 0x64 is outside 1...16384)"),
    ])
    func headerErrorsAreNamed(bytes: [UInt8], problem: String) {
        let error = #expect(throws: ContainerError.self) { try Container.parse(bytes, name: "f.vae") }
        #expect(error?.description == "f.vae: \(problem)")
    }

    @Test func leb128RoundTripsAndRejectsOverlongNumbers() {
        for value in [0, 1, 127, 128, 300, 16384, (1 << 21) - 1] {
            var bytes: [UInt8] = []
            LEB128.append(value, to: &bytes)
            var offset = 0
            #expect(LEB128.read(bytes, at: &offset, end: bytes.count) == value)
            #expect(offset == bytes.count)
        }
        var offset = 0
        #expect(LEB128.read([0x80, 0x80, 0x80, 0x01], at: &offset, end: 4) == nil)
    }
}
