import Foundation

/// The safetensors container (huggingface/safetensors): an 8-byte little-endian header length N,
/// N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}},
/// then the raw little-endian tensor bytes, offsets relative to the end of the header.
/// PyTorch (`safetensors.torch.load_file`) and NumPy tools open these files directly.
public struct SafeTensors: Sendable {
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32", f16 = "F16", i32 = "I32", u16 = "U16", u8 = "U8"
        public var size: Int {
            switch self {
            case .f32, .i32: 4
            case .f16, .u16: 2
            case .u8: 1
            }
        }
    }

    public struct Entry: Sendable {
        public var dtype: DType
        public var shape: [Int]
        public var bytes: [UInt8]
        public var count: Int { shape.reduce(1, *) }

        public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
            precondition(bytes.count == shape.reduce(1, *) * dtype.size, "safetensors entry: \(shape) \(dtype) needs \(shape.reduce(1, *) * dtype.size) bytes")
            (self.dtype, self.shape, self.bytes) = (dtype, shape, bytes)
        }

        public init(_ values: [Float], shape: [Int], halfPrecision: Bool = false) {
            if halfPrecision {
                self.init(dtype: .f16, shape: shape, bytes: littleEndianBytes(values.map { Float16($0).bitPattern }))
            } else {
                self.init(dtype: .f32, shape: shape, bytes: littleEndianBytes(values.map { $0.bitPattern }))
            }
        }

        public init(_ values: [Int32], shape: [Int]) {
            self.init(dtype: .i32, shape: shape, bytes: littleEndianBytes(values.map { UInt32(bitPattern: $0) }))
        }

        public init(_ values: [UInt16], shape: [Int]) {
            self.init(dtype: .u16, shape: shape, bytes: littleEndianBytes(values))
        }

        /// Float values of an F32 or F16 tensor; nil for integer dtypes.
        public var floats: [Float]? {
            switch dtype {
            case .f32: return readLittleEndian(bytes, as: UInt32.self).map { Float(bitPattern: $0) }
            case .f16: return readLittleEndian(bytes, as: UInt16.self).map { Float(Float16(bitPattern: $0)) }
            default: return nil
            }
        }

        public var int32s: [Int32]? {
            dtype == .i32 ? readLittleEndian(bytes, as: UInt32.self).map { Int32(bitPattern: $0) } : nil
        }

        public var uint16s: [UInt16]? { dtype == .u16 ? readLittleEndian(bytes, as: UInt16.self) : nil }
    }

    /// Tensors in file order (the order they were added).
    public var names: [String] = []
    public var entries: [String: Entry] = [:]
    public var metadata: [String: String] = [:]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    public subscript(name: String) -> Entry? { entries[name] }

    public mutating func add(_ name: String, _ entry: Entry) {
        precondition(entries[name] == nil && name != "__metadata__", "safetensors: duplicate tensor \(name)")
        names.append(name)
        entries[name] = entry
    }

    /// A header larger than this is refused before it is parsed; real headers are a few KiB.
    public static let maximumHeaderBytes = 16 << 20

    public func serialized() -> [UInt8] {
        var header: [String: Any] = [:]
        var offset = 0
        for name in names {
            let entry = entries[name]!
            header[name] = ["dtype": entry.dtype.rawValue, "shape": entry.shape, "data_offsets": [offset, offset + entry.bytes.count]]
            offset += entry.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = Array(try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        // The spec allows trailing spaces; padding to 8 bytes keeps the tensor data aligned for mmap readers.
        while json.count % 8 != 0 { json.append(0x20) }
        var out = littleEndianBytes([UInt64(json.count)])
        out.reserveCapacity(8 + json.count + offset)
        out += json
        for name in names { out += entries[name]!.bytes }
        return out
    }

    /// Parses and validates a whole file: header length within the file, JSON shape, known dtypes,
    /// byte ranges matching shapes, lying inside the data section and not overlapping, no bytes left over.
    public init(parsing bytes: [UInt8], name: String) throws {
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: name, problem: problem) }
        guard bytes.count >= 8 else { throw fail("truncated: \(bytes.count) bytes, not a safetensors file") }
        let headerLength = readLittleEndian(Array(bytes[0..<8]), as: UInt64.self)[0]
        guard headerLength >= 2, headerLength <= UInt64(Self.maximumHeaderBytes) else {
            throw fail("header length \(headerLength) is not plausible (not a safetensors model file?)")
        }
        guard UInt64(bytes.count) >= 8 + headerLength else {
            throw fail("truncated: header of \(headerLength) bytes but only \(bytes.count - 8) follow")
        }
        let headerEnd = 8 + Int(headerLength)
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])),
              let header = object as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataCount = bytes.count - headerEnd
        var ranges: [(Range<Int>, String)] = []
        for (key, value) in header {
            if key == "__metadata__" {
                guard let metadata = value as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
                self.metadata = metadata
                continue
            }
            guard let info = value as? [String: Any],
                  let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int],
                  let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("tensor \"\(key)\" lacks dtype, shape or data_offsets")
            }
            guard let dtype = DType(rawValue: dtypeName) else { throw fail("tensor \"\(key)\" has unsupported dtype \(dtypeName)") }
            guard shape.allSatisfy({ $0 >= 0 && $0 <= 1 << 31 }), shape.count <= 8 else { throw fail("tensor \"\(key)\" has an invalid shape \(shape)") }
            let (count, overflow) = shape.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d); return (p, acc.1 || o)
            }
            guard !overflow, count <= Int.max / 8 else { throw fail("tensor \"\(key)\" has an absurd shape \(shape)") }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, end >= begin, end <= dataCount else {
                throw fail("tensor \"\(key)\" lies outside the file (bytes \(begin)..<\(end) of \(dataCount)): truncated?")
            }
            guard end - begin == count * dtype.size else {
                throw fail("tensor \"\(key)\" holds \(end - begin) bytes, but \(dtypeName) \(shape) needs \(count * dtype.size)")
            }
            ranges.append((begin..<end, key))
            entries[key] = Entry(dtype: dtype, shape: shape, bytes: Array(bytes[(headerEnd + begin)..<(headerEnd + end)]))
        }
        ranges.sort { $0.0.lowerBound < $1.0.lowerBound }
        var covered = 0
        for (range, key) in ranges {
            guard range.lowerBound >= covered || range.isEmpty else { throw fail("tensor \"\(key)\" overlaps another tensor") }
            guard range.lowerBound <= covered || range.isEmpty else { throw fail("gap of \(range.lowerBound - covered) bytes before tensor \"\(key)\"") }
            covered = max(covered, range.upperBound)
        }
        guard covered == dataCount else { throw fail("\(dataCount - covered) bytes after the last tensor (corrupt or concatenated file)") }
        names = ranges.map(\.1)
    }
}

public struct SafeTensorsError: Error, CustomStringConvertible, LocalizedError {
    public let file: String
    public let problem: String
    public init(file: String, problem: String) { (self.file, self.problem) = (file, problem) }
    public var description: String { "\(file): \(problem)" }
    public var errorDescription: String? { description }
}

func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(values.count * MemoryLayout<T>.size)
    for v in values {
        var le = v.littleEndian
        withUnsafeBytes(of: &le) { out.append(contentsOf: $0) }
    }
    return out
}

func readLittleEndian<T: FixedWidthInteger>(_ bytes: [UInt8], as: T.Type) -> [T] {
    let size = MemoryLayout<T>.size
    return bytes.withUnsafeBytes { raw in
        (0..<(bytes.count / size)).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: T.self)) }
    }
}
