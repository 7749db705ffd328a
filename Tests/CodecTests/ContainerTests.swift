import EntropyCoding
import Testing
@testable import Codec

@Suite struct ContainerTests {
    var sample: Container {
        Container(header: ContainerHeader(formatHint: .jpeg, rung: 3, modelID: 0xEF, width: 64, height: 64),
                  payload: [0x10, 0x20, 0x30, 0x40, 0x55, 0x66])
    }

    @Test func headerIsThreeBytesAt64x64() {
        let bytes = sample.serialized()
        #expect(bytes == [0xAE, 0x80 | 0x20 | 0x03, 0xEF, 0x10, 0x20, 0x30, 0x40, 0x55, 0x66])
    }

    @Test(arguments: [(1, 1), (64, 64), (64, 63), (127, 128), (16384, 250), (177, 151)])
    func headerRoundTrips(width: Int, height: Int) throws {
        var container = sample
        container.header.width = width
        container.header.height = height
        let bytes = container.serialized()
        #expect(bytes.count - container.payload.count == (width == 64 && height == 64 ? 3 : 3 + (width < 128 ? 1 : width < 16384 ? 2 : 3) + (height < 128 ? 1 : 2)))
        #expect(try Container.parse(bytes, name: "x.vae") == container)
    }

    /// The check covers the model, every header field and every symbol.
    @Test func integrityCheckSeesModelHeaderAndSymbols() {
        let header = sample.header, symbols: [Int32] = [0, -3, 7, Int32.min]
        let check = Container.integrityCheck(header: header, symbols: symbols, fingerprint: 42)
        var otherRung = header
        otherRung.rung = 4
        var otherSize = header
        otherSize.width = 65
        for other in [Container.integrityCheck(header: header, symbols: symbols, fingerprint: 43),
                      Container.integrityCheck(header: otherRung, symbols: symbols, fingerprint: 42),
                      Container.integrityCheck(header: otherSize, symbols: symbols, fingerprint: 42),
                      Container.integrityCheck(header: header, symbols: [0, -3, 7, Int32.max], fingerprint: 42)] {
            #expect(RANS.initialState(check: other) != RANS.initialState(check: check))
        }
    }

    @Test(arguments: [
        ([UInt8](), "file is empty"),
        ([0x89, 0x50, 0x4E, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0], "not a .vae file (wrong signature)"),
        ([0x56, 0xAE, 0x11, 0, 0, 0, 64, 64, 0, 0, 0, 0], "format version 1 is not supported (this vaecodec reads version 2)"),
        ([0xAE, 0x83, 0], "file is truncated (3 bytes)"),
        ([0xAE, 0x83, 0, 0, 0, 0], "file is truncated (6 bytes)"),
        ([0xAE, 0xC3, 0, 0, 0, 0x80, 0], "format version 3 is not supported (this vaecodec reads version 2)"),
        ([0xAE, 0x90, 0, 0x80, 0x80, 0x02, 64, 0, 0, 0x80, 0], "damaged header (image size 32768x64 is outside 1...16384)"),
        ([0xAE, 0x90, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80], "file is truncated (header cut short)"),
        ([0xAE, 0x90, 0, 0, 64, 0, 0, 0x80, 0], "damaged header (image size 0x64 is outside 1...16384)"),
        ([0xAE, 0x90, 0, 64, 64, 0, 0, 0x80], "file is truncated (8 bytes)"),
        ([0xAE, 0x90, 0, 64, 64, 0, 0, 0x80, 0], "damaged header (not in canonical form: the size 64x64 takes 2 bytes where the canonical header has 0)"),
        ([0xAE, 0x90, 0, 0xC1, 0x80, 0, 64, 0, 0, 0x80, 0], "damaged header (not in canonical form: the size 65x64 takes 4 bytes where the canonical header has 2)"),
    ])
    func headerErrorsAreNamed(bytes: [UInt8], problem: String) {
        let error = #expect(throws: ContainerError.self) { try Container.parse(bytes, name: "f.vae") }
        #expect(error?.description == "f.vae: \(problem)")
    }

    /// Finding 4 of the hardening review: the same content under a header that spells out 64x64, or pads a size,
    /// was accepted, so one image had several files. Made by Fixtures/make_hostile.py from the golden files.
    @Test(arguments: [("vae-explicit-64x64.vae", "64x64 takes 2 bytes where the canonical header has 0"),
                      ("vae-padded-size.vae", "177x151 takes 5 bytes where the canonical header has 4")])
    func nonCanonicalHeadersAreRefused(file: String, detail: String) {
        let error = #expect(throws: ContainerError.self) { try Container.parse(CodecFixture.bytes("hostile/" + file), name: file) }
        #expect(error?.problem == "damaged header (not in canonical form: the size \(detail))")
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
