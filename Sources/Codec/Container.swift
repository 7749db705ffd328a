import EntropyCoding

/// The `.vae` file: a small header, the entropy-coded latent symbols, and a CRC-32.
///
///     offset  size  field
///     0       2     magic 0x56 0xAE ("V", then a byte no text file starts a line with)
///     2       1     format version (high 4 bits) | output format hint (low 2 bits: 0 PNG, 1 JPEG)
///     3       1     rung: which rate point of the model's quality ladder coded the latent
///     4       2     model id, big-endian: the low 16 bits of the model's 64-bit fingerprint
///     6       1-3   width, unsigned LEB128 (64 takes one byte)
///     ..      1-3   height, unsigned LEB128
///     ..      n     payload: rANS bytes of the quantized latent means
///     end-4   4     CRC-32 (big-endian) of the model's full 64-bit fingerprint followed by every byte above
///
/// Mixing the full fingerprint into the CRC means a model that only shares the 16-bit id fails the check
/// instead of decoding garbage. The payload's length is implied: the decoder consumes it exactly.
/// See docs/FORMAT.md for a worked example.
public struct ContainerHeader: Equatable, Sendable {
    public static let magic: [UInt8] = [0x56, 0xAE]
    public static let version: UInt8 = 1
    public static let maxSide = 16_384

    public enum FormatHint: UInt8, Sendable { case png = 0, jpeg = 1 }

    public var formatHint: FormatHint
    public var rung: UInt8
    public var modelID: UInt16
    public var width: Int
    public var height: Int

    public init(formatHint: FormatHint, rung: UInt8, modelID: UInt16, width: Int, height: Int) {
        self.formatHint = formatHint
        self.rung = rung
        self.modelID = modelID
        self.width = width
        self.height = height
    }

    func serialized() -> [UInt8] {
        var bytes = Self.magic
        bytes.append(Self.version << 4 | formatHint.rawValue)
        bytes.append(rung)
        bytes.append(UInt8(modelID >> 8))
        bytes.append(UInt8(modelID & 0xFF))
        LEB128.append(width, to: &bytes)
        LEB128.append(height, to: &bytes)
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

    public static let checksumSize = 4

    public func serialized(modelFingerprint: UInt64) -> [UInt8] {
        var bytes = header.serialized() + payload
        let crc = Self.checksum(bytes[...], fingerprint: modelFingerprint)
        bytes += [UInt8(crc >> 24), UInt8((crc >> 16) & 0xFF), UInt8((crc >> 8) & 0xFF), UInt8(crc & 0xFF)]
        return bytes
    }

    /// Parses the header and splits off the payload. The checksum needs the model's fingerprint, so it is
    /// checked in a second step, `verify`, once the caller has found the model the header names.
    public static func parse(_ bytes: [UInt8], name: String) throws -> Container {
        func fail(_ problem: String) -> ContainerError { ContainerError(file: name, problem: problem) }
        guard !bytes.isEmpty else { throw fail("file is empty") }
        guard bytes.starts(with: ContainerHeader.magic) else { throw fail("not a .vae file (wrong signature)") }
        guard bytes.count >= 8 + checksumSize else { throw fail("file is truncated (\(bytes.count) bytes)") }
        let version = bytes[2] >> 4
        guard version == ContainerHeader.version else {
            throw fail("format version \(version) is not supported (this vaecodec reads version \(ContainerHeader.version))")
        }
        guard bytes[2] & 0x0C == 0, let hint = ContainerHeader.FormatHint(rawValue: bytes[2] & 0x03) else {
            throw fail("damaged header (unknown format flags 0x\(String(bytes[2] & 0x0F, radix: 16)))")
        }
        var offset = 6
        let end = bytes.count - checksumSize
        guard let width = LEB128.read(bytes, at: &offset, end: end), let height = LEB128.read(bytes, at: &offset, end: end) else {
            throw fail("file is truncated (header cut short)")
        }
        guard (1...ContainerHeader.maxSide).contains(width), (1...ContainerHeader.maxSide).contains(height) else {
            throw fail("damaged header (image size \(width)x\(height) is outside 1...\(ContainerHeader.maxSide))")
        }
        let header = ContainerHeader(formatHint: hint, rung: bytes[3], modelID: UInt16(bytes[4]) << 8 | UInt16(bytes[5]),
                                     width: width, height: height)
        return Container(header: header, payload: Array(bytes[offset..<end]))
    }

    /// True when the stored checksum matches this content under this model.
    public static func verify(_ bytes: [UInt8], fingerprint: UInt64) -> Bool {
        guard bytes.count > checksumSize else { return false }
        let end = bytes.count - checksumSize
        let stored = bytes[end...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return checksum(bytes[..<end], fingerprint: fingerprint) == stored
    }

    static func checksum(_ content: ArraySlice<UInt8>, fingerprint: UInt64) -> UInt32 {
        var crc = CRC32()
        crc.update((0..<8).map { UInt8(truncatingIfNeeded: fingerprint >> (56 - 8 * $0)) })
        crc.update(content)
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
