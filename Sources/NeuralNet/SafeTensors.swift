import Foundation

/// The safetensors container (huggingface/safetensors): an 8-byte little-endian header length N,
/// N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}},
/// then the raw little-endian tensor bytes, offsets relative to the end of the header.
/// PyTorch (`safetensors.torch.load_file`) and NumPy tools open these files directly.
public struct SafeTensors: Sendable {
    public enum DType: String, Sendable, CaseIterable {
        case f32 = "F32", f16 = "F16", i32 = "I32", i16 = "I16", u16 = "U16", u8 = "U8", i8 = "I8"
        public var size: Int {
            switch self {
            case .f32, .i32: 4
            case .f16, .i16, .u16: 2
            case .u8, .i8: 1
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

        public init(_ values: [Int16], shape: [Int]) {
            self.init(dtype: .i16, shape: shape, bytes: littleEndianBytes(values.map { UInt16(bitPattern: $0) }))
        }

        public init(_ values: [UInt16], shape: [Int]) {
            self.init(dtype: .u16, shape: shape, bytes: littleEndianBytes(values))
        }

        public init(_ values: [Int8], shape: [Int]) {
            self.init(dtype: .i8, shape: shape, bytes: values.map { UInt8(bitPattern: $0) })
        }

        /// Float values of an F32 or F16 tensor; nil for integer dtypes.
        public var floats: [Float]? {
            switch dtype {
            case .f32: return readLittleEndian(bytes, as: UInt32.self).map { Float(bitPattern: $0) }
            case .f16: return halfToFloat(bytes)
            default: return nil
            }
        }

        /// Values of an I32 or I16 tensor (widened); nil for other dtypes.
        public var int32s: [Int32]? {
            switch dtype {
            case .i32: return readLittleEndian(bytes, as: UInt32.self).map { Int32(bitPattern: $0) }
            case .i16: return readLittleEndian(bytes, as: UInt16.self).map { Int32(Int16(bitPattern: $0)) }
            default: return nil
            }
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

    /// Parses and validates a whole file held in memory (see `SafeTensorsFile` for the checks).
    public init(parsing bytes: [UInt8], name: String) throws {
        let file = try SafeTensorsFile(bytes: bytes, name: name)
        metadata = file.metadata
        names = file.names
        for name in names { entries[name] = try file.entry(name) }
    }
}

/// A safetensors file whose header is parsed and validated up front and whose tensors are read one at a time,
/// on demand: opening a model to decode reads its header and the tensors it needs, never the whole file into memory.
/// Checks: header length within the file, JSON shape, known dtypes, byte ranges matching shapes, lying inside the
/// data section, neither overlapping nor leaving gaps, and no bytes left over.
public final class SafeTensorsFile: @unchecked Sendable {
    public struct TensorInfo: Sendable {
        public var dtype: SafeTensors.DType
        public var shape: [Int]
        /// Byte range within the data section (which starts after the header).
        public var range: Range<Int>
    }

    public let name: String
    public let metadata: [String: String]
    /// Tensors in file order.
    public let names: [String]
    public let tensors: [String: TensorInfo]
    private enum Source { case memory([UInt8]), file(Int32) }
    private let source: Source
    private let dataStart: Int

    public subscript(name: String) -> TensorInfo? { tensors[name] }

    /// A file already in memory.
    public convenience init(bytes: [UInt8], name: String) throws {
        guard bytes.count >= 8 else { throw SafeTensorsError(file: name, problem: "truncated: \(bytes.count) bytes, not a safetensors file") }
        try self.init(name: name, size: bytes.count, source: .memory(bytes)) { range in Array(bytes[range]) }
    }

    /// Opens `path`, reading only its header; the descriptor stays open until the file is released.
    public convenience init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw SafeTensorsError(file: path, problem: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw SafeTensorsError(file: path, problem: "not a regular file")
        }
        do {
            try self.init(name: path, size: Int(info.st_size), source: .file(fd)) { range in try Self.read(fd, range, name: path) }
        } catch {
            close(fd)
            throw error
        }
    }

    deinit { if case .file(let fd) = source { close(fd) } }

    private init(name: String, size: Int, source: Source, read: (Range<Int>) throws -> [UInt8]) throws {
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: name, problem: problem) }
        guard size >= 8 else { throw fail("truncated: \(size) bytes, not a safetensors file") }
        let headerLength = readLittleEndian(try read(0..<8), as: UInt64.self)[0]
        guard headerLength >= 2, headerLength <= UInt64(SafeTensors.maximumHeaderBytes) else {
            throw fail("header length \(headerLength) is not plausible (not a safetensors model file?)")
        }
        guard UInt64(size) >= 8 + headerLength else {
            throw fail("truncated: header of \(headerLength) bytes but only \(size - 8) follow")
        }
        let headerEnd = 8 + Int(headerLength)
        guard let object = try? JSONSerialization.jsonObject(with: Data(try read(8..<headerEnd))),
              let header = object as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataCount = size - headerEnd
        var metadata: [String: String] = [:]
        var tensors: [String: TensorInfo] = [:]
        for (key, value) in header {
            if key == "__metadata__" {
                guard let strings = value as? [String: String] else { throw fail("__metadata__ must map strings to strings") }
                metadata = strings
                continue
            }
            guard let info = value as? [String: Any],
                  let dtypeName = info["dtype"] as? String,
                  let shape = info["shape"] as? [Int],
                  let offsets = info["data_offsets"] as? [Int], offsets.count == 2 else {
                throw fail("tensor \"\(key)\" lacks dtype, shape or data_offsets")
            }
            guard let dtype = SafeTensors.DType(rawValue: dtypeName) else { throw fail("tensor \"\(key)\" has unsupported dtype \(dtypeName)") }
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
            tensors[key] = TensorInfo(dtype: dtype, shape: shape, range: begin..<end)
        }
        let ordered = tensors.sorted { $0.value.range.lowerBound < $1.value.range.lowerBound }
        var covered = 0
        for (key, info) in ordered where !info.range.isEmpty {
            guard info.range.lowerBound >= covered else { throw fail("tensor \"\(key)\" overlaps another tensor") }
            guard info.range.lowerBound == covered else { throw fail("gap of \(info.range.lowerBound - covered) bytes before tensor \"\(key)\"") }
            covered = info.range.upperBound
        }
        guard covered == dataCount else { throw fail("\(dataCount - covered) bytes after the last tensor (corrupt or concatenated file)") }
        (self.name, self.metadata, self.tensors, self.source, self.dataStart) = (name, metadata, tensors, source, headerEnd)
        names = ordered.map(\.key)
    }

    /// The raw bytes of one tensor (nil when the file has no such tensor).
    public func bytes(_ tensor: String) throws -> [UInt8]? {
        guard let info = tensors[tensor] else { return nil }
        let range = (dataStart + info.range.lowerBound)..<(dataStart + info.range.upperBound)
        switch source {
        case .memory(let bytes): return Array(bytes[range])
        case .file(let fd): return try Self.read(fd, range, name: name)
        }
    }

    /// Reads an F32 or F16 tensor's values straight into `out` (which must hold them), widening halves, a slice of
    /// the file at a time: loading a model then needs its weights' memory and no copy of any tensor.
    /// - Returns: false when the tensor is not a float tensor (nothing is written).
    public func readFloats(_ tensor: String, into out: UnsafeMutableBufferPointer<Float>) throws -> Bool {
        guard let info = tensors[tensor], info.dtype == .f32 || info.dtype == .f16 else { return false }
        precondition(out.count == info.shape.reduce(1, *), "safetensors: \(tensor) does not fit its buffer")
        let size = info.dtype.size, slice = 1 << 16
        for start in stride(from: 0, to: out.count, by: slice) {
            let count = min(slice, out.count - start)
            let begin = dataStart + info.range.lowerBound + start * size
            let bytes: [UInt8]
            switch source {
            case .memory(let all): bytes = Array(all[begin..<(begin + count * size)])
            case .file(let fd): bytes = try Self.read(fd, begin..<(begin + count * size), name: name)
            }
            let destination = UnsafeMutableBufferPointer(rebasing: out[start..<(start + count)])
            if info.dtype == .f16 {
                halfToFloat(bytes, into: destination)
            } else {
                bytes.withUnsafeBytes { raw in
                    for i in 0..<count {
                        destination[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                    }
                }
            }
        }
        return true
    }

    /// One tensor with its bytes.
    public func entry(_ tensor: String) throws -> SafeTensors.Entry? {
        guard let info = tensors[tensor], let bytes = try bytes(tensor) else { return nil }
        return SafeTensors.Entry(dtype: info.dtype, shape: info.shape, bytes: bytes)
    }

    private static func read(_ fd: Int32, _ range: Range<Int>, name: String) throws -> [UInt8] {
        try [UInt8](unsafeUninitializedCapacity: range.count) { buffer, count in
            var done = 0
            while done < range.count {
                let n = pread(fd, buffer.baseAddress! + done, range.count - done, off_t(range.lowerBound + done))
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw SafeTensorsError(file: name, problem: n == 0 ? "file shrank while being read" : String(cString: strerror(errno))) }
                done += n
            }
            count = done
        }
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

/// IEEE half (little-endian) to single, eight at a time. Swift's scalar `Float(Float16)` is a software routine on
/// baseline x86-64 and cost a model load more time than decoding an image; this is Giesen's magic-multiply
/// conversion: shift the exponent and mantissa into place, rescale by 2^112 (which also normalises subnormals),
/// then restore infinities, NaNs and the sign.
func halfToFloat(_ bytes: [UInt8]) -> [Float] {
    [Float](unsafeUninitializedCapacity: bytes.count / 2) { out, initialized in
        halfToFloat(bytes, into: out)
        initialized = bytes.count / 2
    }
}

func halfToFloat(_ bytes: [UInt8], into out: UnsafeMutableBufferPointer<Float>) {
    let count = bytes.count / 2
    precondition(out.count >= count)
    bytes.withUnsafeBytes { raw in
        let magic = SIMD8<Float>(repeating: 0x1p112), infinityAfterScaling = SIMD8<Float>(repeating: 65536)
        var i = 0
        while i < count {
            var halves = SIMD8<UInt16>(repeating: 0)
            if i + 8 <= count {
                halves = raw.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<UInt16>.self)
            } else {
                for lane in 0..<(count - i) { halves[lane] = raw.loadUnaligned(fromByteOffset: 2 * (i + lane), as: UInt16.self) }
            }
            let h = SIMD8<UInt32>(truncatingIfNeeded: halves)  // the file is little-endian, as is every host Swift runs on here
            var magnitude = unsafeBitCast((h & 0x7FFF) &<< 13, to: SIMD8<Float>.self) * magic
            let special = magnitude .>= infinityAfterScaling
            var bits = unsafeBitCast(magnitude, to: SIMD8<UInt32>.self)
            bits.replace(with: bits | (255 << 23), where: special)
            magnitude = unsafeBitCast(bits | ((h & 0x8000) &<< 16), to: SIMD8<Float>.self)
            if i + 8 <= count {
                UnsafeMutableRawPointer(out.baseAddress! + i).storeBytes(of: magnitude, as: SIMD8<Float>.self)
            } else {
                for lane in 0..<(count - i) { out[i + lane] = magnitude[lane] }
            }
            i += 8
        }
    }
}

func readLittleEndian<T: FixedWidthInteger>(_ bytes: [UInt8], as: T.Type) -> [T] {
    let size = MemoryLayout<T>.size
    return bytes.withUnsafeBytes { raw in
        (0..<(bytes.count / size)).map { T(littleEndian: raw.loadUnaligned(fromByteOffset: $0 * size, as: T.self)) }
    }
}
