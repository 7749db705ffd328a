import Foundation
import Testing
@testable import NeuralNet

@Suite struct SafeTensorsTests {
    func sample() -> SafeTensors {
        var file = SafeTensors(metadata: ["format": "test", "note": "ünïcode"])
        file.add("a.weight", .init([1, -2.5, 3e-8, .greatestFiniteMagnitude], shape: [2, 2]))
        file.add("b", .init([0.5, 1000], shape: [2], halfPrecision: true))
        file.add("codes", .init([Int32.min, -1, 7], shape: [3]))
        file.add("table", .init([UInt16](arrayLiteral: 1, 65535), shape: [2]))
        file.add("empty", .init([Float](), shape: [0, 4]))
        return file
    }

    @Test func roundTripIsBitExact() throws {
        let bytes = sample().serialized()
        let back = try SafeTensors(parsing: bytes, name: "t.safetensors")
        #expect(back.names == ["a.weight", "b", "codes", "table", "empty"])
        #expect(back["a.weight"]?.floats == [1, -2.5, 3e-8, .greatestFiniteMagnitude])
        #expect(back["b"]?.floats == [0.5, 1000])
        #expect(back["codes"]?.int32s == [Int32.min, -1, 7])
        #expect(back["table"]?.uint16s == [1, 65535])
        #expect(back["empty"]?.shape == [0, 4])
        #expect(back.metadata["note"] == "ünïcode")
        #expect(back.serialized() == bytes)
    }

    /// The layout PyTorch and NumPy readers expect: u64 LE header size, JSON, data aligned to 8.
    @Test func layoutFollowsTheSpec() throws {
        let bytes = sample().serialized()
        let headerLength = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        #expect(headerLength % 8 == 0)
        let json = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as! [String: Any]
        let a = json["a.weight"] as! [String: Any]
        #expect(a["dtype"] as? String == "F32" && a["shape"] as? [Int] == [2, 2] && a["data_offsets"] as? [Int] == [0, 16])
        #expect(Array(bytes[(8 + headerLength)..<(12 + headerLength)]) == [0, 0, 0x80, 0x3F])  // 1.0f little-endian
    }

    @Test func everyTruncationIsRejected() {
        let bytes = sample().serialized()
        for length in 0..<bytes.count {
            #expect(throws: SafeTensorsError.self) { try SafeTensors(parsing: Array(bytes[0..<length]), name: "cut") }
        }
    }

    func withHeader(_ json: String, data: Int) -> [UInt8] {
        var header = Array(json.utf8)
        while header.count % 8 != 0 { header.append(0x20) }
        var out = (0..<8).map { UInt8((UInt64(header.count) >> (8 * UInt64($0))) & 0xFF) }
        out += header
        out += [UInt8](repeating: 0, count: data)
        return out
    }

    @Test(arguments: [
        ("[1,2]", 0, "not a JSON object"),
        ("{\"x\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "unsupported dtype F64"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, "needs 12"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "outside the file"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "overlaps"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "bytes after the last tensor"),
        ("{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "invalid shape"),
        ("{\"x\":{\"dtype\":\"F32\"}}", 0, "lacks dtype, shape or data_offsets"),
        ("{\"__metadata__\":{\"a\":1}}", 0, "map strings to strings"),
    ])
    func malformedHeadersAreRejected(json: String, data: Int, message: String) {
        do {
            _ = try SafeTensors(parsing: withHeader(json, data: data), name: "bad.safetensors")
            Issue.record("accepted a malformed file")
        } catch let error as SafeTensorsError {
            #expect(error.description.hasPrefix("bad.safetensors: "))
            #expect(error.description.contains(message), "\(error)")
        } catch { Issue.record("unexpected \(error)") }
    }

    @Test func absurdHeaderLengthIsRejectedBeforeReading() {
        let bytes: [UInt8] = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F] + Array("{}".utf8)
        #expect(throws: SafeTensorsError.self) { try SafeTensors(parsing: bytes, name: "huge") }
    }

    /// The vectorised widening agrees with Swift's Float16 on every half bit pattern (NaNs stay NaN with their sign).
    @Test func halfWideningMatchesFloat16ForEveryPattern() {
        let patterns = (0...UInt16.max).map { $0 }
        let widened = halfToFloat(patterns.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        for (h, f) in zip(patterns, widened) {
            let expected = Float(Float16(bitPattern: h))
            if expected.isNaN {
                #expect(f.isNaN && f.sign == expected.sign, "\(h)")
            } else {
                #expect(f.bitPattern == expected.bitPattern, "\(h)")
            }
        }
    }

    /// A tensor read from a file, a slice at a time, is the tensor that was written, in either precision.
    @Test func floatsAreReadFromAFileInSlices() throws {
        var file = SafeTensors()
        let values = (0..<200_000).map { Float($0 % 977) * 0.25 - 60 }
        file.add("f32", .init(values, shape: [200_000]))
        file.add("f16", .init(values, shape: [200_000], halfPrecision: true))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("slices-\(UUID().uuidString).safetensors").path
        try Data(file.serialized()).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let opened = try SafeTensorsFile(path: path)
        for name in ["f32", "f16"] {
            var out = [Float](repeating: .nan, count: values.count)
            #expect(try out.withUnsafeMutableBufferPointer { try opened.readFloats(name, into: $0) })
            #expect(out == values, "\(name)")
        }
    }
}
