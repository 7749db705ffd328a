import EntropyCoding

/// The `.vae` file, version 2: three header bytes for a 64x64 image, then the entropy-coded latent symbols.
///
///     offset  size  field
///     0       1     magic 0xAE
///     1       1     version (bits 7-6, = 2) | format hint (bit 5: 0 PNG, 1 JPEG) | size follows (bit 4) | rung (bits 3-0)
///     2       1     model id: the low 8 bits of the model's 64-bit fingerprint
///     3       0-6   when bit 4 is set, width and height, unsigned LEB128 each; otherwise the image is 64x64
///     ..      n     payload: rANS bytes of the quantized latent means
///
/// At 0.05 bpp a 64x64 file has 25 bytes, so every header byte costs a visible share of the picture: version 1
/// spent 12 (a 2-byte magic, a 16-bit id, the size and a CRC-32). There is no CRC now; the integrity check
/// (`integrityCheck`) rides in the rANS coder's initial state, 23 bits that the stream pays for anyway. The
/// decoder finds it only by decoding the symbols with the right model, so a model that merely shares the 8-bit
/// id fails it instead of decoding garbage. The payload's length is implied: the decoder consumes it exactly.
/// See docs/FORMAT.md for a worked example.
public struct ContainerHeader: Equatable, Sendable {
    public static let magic: UInt8 = 0xAE
    public static let version: UInt8 = 2
    /// Version 1 began with these two bytes.
    static let versionOneMagic: [UInt8] = [0x56, 0xAE]
    /// The side of an image whose size the header leaves out.
    public static let implicitSide = 64
    public static let maxSide = 16_384
    /// The rung has 4 bits.
    public static let maxRungs = 16

    public enum FormatHint: UInt8, Sendable { case png = 0, jpeg = 1 }

    public var formatHint: FormatHint
    public var rung: UInt8
    public var modelID: UInt8
    public var width: Int
    public var height: Int

    public init(formatHint: FormatHint, rung: UInt8, modelID: UInt8, width: Int, height: Int) {
        precondition(Int(rung) < Self.maxRungs, "rung \(rung) does not fit the header's 4 bits")
        self.formatHint = formatHint
        self.rung = rung
        self.modelID = modelID
        self.width = width
        self.height = height
    }

    /// Bytes the header occupies in a file.
    public var byteCount: Int { serialized().count }

    var hasImplicitSize: Bool { width == Self.implicitSide && height == Self.implicitSide }

    func serialized() -> [UInt8] {
        let flags = Self.version << 6 | formatHint.rawValue << 5 | (hasImplicitSize ? 0 : 0x10) | rung
        var bytes = [Self.magic, flags, modelID]
        if !hasImplicitSize {
            LEB128.append(width, to: &bytes)
            LEB128.append(height, to: &bytes)
        }
        return bytes
    }
}

public struct ContainerError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String
    public var description: String { "\(file): \(problem)" }
    public init(file: String, problem: String) { (self.file, self.problem) = (file, problem) }
}

public struct Container: Equatable, Sendable {
    public var header: ContainerHeader
    public var payload: [UInt8]

    public init(header: ContainerHeader, payload: [UInt8]) {
        self.header = header
        self.payload = payload
    }

    public func serialized() -> [UInt8] { header.serialized() + payload }

    /// Parses the header and splits off the payload. Whether the payload is intact is known only once it is
    /// decoded with the model the header names (`LatentCodec.decodeSymbols`).
    public static func parse(_ bytes: [UInt8], name: String) throws -> Container {
        func fail(_ problem: String) -> ContainerError { ContainerError(file: name, problem: problem) }
        guard !bytes.isEmpty else { throw fail("file is empty") }
        if bytes.starts(with: ContainerHeader.versionOneMagic) {
            throw fail("format version 1 is not supported (this vaecodec reads version \(ContainerHeader.version))")
        }
        guard bytes[0] == ContainerHeader.magic else { throw fail("not a .vae file (wrong signature)") }
        guard bytes.count >= 3 + RANS.stateByteCount else { throw fail("file is truncated (\(bytes.count) bytes)") }
        let version = bytes[1] >> 6
        guard version == ContainerHeader.version else {
            throw fail("format version \(version) is not supported (this vaecodec reads version \(ContainerHeader.version))")
        }
        let hint = ContainerHeader.FormatHint(rawValue: bytes[1] >> 5 & 1)!
        var (width, height) = (ContainerHeader.implicitSide, ContainerHeader.implicitSide)
        var offset = 3
        if bytes[1] & 0x10 != 0 {
            guard let w = LEB128.read(bytes, at: &offset, end: bytes.count), let h = LEB128.read(bytes, at: &offset, end: bytes.count) else {
                throw fail("file is truncated (header cut short)")
            }
            guard (1...ContainerHeader.maxSide).contains(w), (1...ContainerHeader.maxSide).contains(h) else {
                throw fail("damaged header (image size \(w)x\(h) is outside 1...\(ContainerHeader.maxSide))")
            }
            (width, height) = (w, h)
        }
        guard bytes.count - offset >= RANS.stateByteCount else { throw fail("file is truncated (\(bytes.count) bytes)") }
        let header = ContainerHeader(formatHint: hint, rung: bytes[1] & 0x0F, modelID: bytes[2], width: width, height: height)
        // One image, model and rung make exactly one file: a size spelled out for 64x64, or in more LEB128 bytes than
        // it needs, would be a second file for the same content, so it is refused (the check covers these bytes).
        guard header.serialized().elementsEqual(bytes[..<offset]) else {
            throw fail("damaged header (not in canonical form: the size \(width)x\(height) takes \(offset - 3) bytes where the canonical header has \(header.byteCount - 3))")
        }
        return Container(header: header, payload: Array(bytes[offset...]))
    }

    /// The value the payload's rANS initial state carries (its low `RANS.checkBits` bits): a CRC-32 of the
    /// model's full fingerprint (8 bytes, big-endian), the header's bytes and the symbols (Int32, little-endian).
    /// `parse` accepts only canonical headers, so the header's bytes are those stored in the file.
    public static func integrityCheck(header: ContainerHeader, symbols: [Int32], fingerprint: UInt64) -> UInt32 {
        var crc = CRC32()
        crc.update((0..<8).map { UInt8(truncatingIfNeeded: fingerprint >> (56 - 8 * $0)) })
        crc.update(header.serialized())
        crc.update(symbols.flatMap { value in (0..<4).map { UInt8(truncatingIfNeeded: UInt32(bitPattern: value) >> (8 * $0)) } })
        return crc.checksum
    }
}

/// Unsigned LEB128: seven bits a byte, low bits first, high bit set on every byte but the last.
enum LEB128 {
    static func append(_ value: Int, to bytes: inout [UInt8]) {
        precondition(value >= 0)
        var rest = value
        repeat {
            let low = UInt8(rest & 0x7F)
            rest >>= 7
            bytes.append(rest == 0 ? low : low | 0x80)
        } while rest != 0
    }

    /// nil when the number runs past `end` or is longer than 3 bytes (21 bits cover every allowed size).
    static func read(_ bytes: [UInt8], at offset: inout Int, end: Int) -> Int? {
        var value = 0
        for shift in stride(from: 0, to: 21, by: 7) {
            guard offset < end else { return nil }
            let byte = bytes[offset]
            offset += 1
            value |= Int(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
        }
        return nil
    }
}
