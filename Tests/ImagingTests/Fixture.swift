import Glibc
import Imaging

/// Paths into the repository's Fixtures folder, found from this source file's location.
enum Fixture {
    static let root: String = {
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)  // Tests/ImagingTests/Fixture.swift
        return parts.joined(separator: "/") + "/Fixtures"
    }()

    static func image(_ name: String) -> String { "\(root)/images/\(name)" }
    static func broken(_ name: String) -> String { "\(root)/broken/\(name)" }

    static func temporaryDirectory() -> String {
        var template = Array("/tmp/vaecodec-test-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        return String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

func psnr(_ a: [Float], _ b: [Float]) -> Double {
    var squared = 0.0
    for i in a.indices { squared += Double((a[i] - b[i]) * (a[i] - b[i])) }
    let mse = squared / Double(a.count)
    return mse == 0 ? .infinity : 10 * log10(255 * 255 / mse)
}

struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
