#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import EntropyCoding

/// SplitMix64: a seeded generator, so every failure reproduces.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Named test distributions over a few alphabet sizes and shapes.
enum TestDistribution: CaseIterable, Sendable {
    case uniform, geometric, nearDegenerate, singleSymbol

    func table(scaleBits: Int = 14) throws -> FrequencyTable {
        switch self {
        case .uniform:
            return try FrequencyTable(counts: [Int](repeating: 1, count: 256), scaleBits: scaleBits)
        case .geometric:
            return try FrequencyTable(counts: (0..<64).map { Int(1_000_000 * pow(0.7, Double($0))) }, scaleBits: scaleBits)
        case .nearDegenerate:
            // One symbol takes all but one slot per other symbol: the rare ones cost scaleBits each.
            let total = 1 << scaleBits
            return try FrequencyTable(frequencies: [UInt32(total - 7)] + [UInt32](repeating: 1, count: 7), scaleBits: scaleBits)
        case .singleSymbol:
            return try FrequencyTable(frequencies: [1 << UInt32(scaleBits)], scaleBits: scaleBits)
        }
    }
}

extension FrequencyTable {
    /// A symbol drawn with probability frequency / total, found by searching `cumulative`
    /// (not the decoder's slot table, which is under test).
    func randomSymbol(using generator: inout SeededGenerator) -> Int {
        let slot = UInt32.random(in: 0..<total, using: &generator)
        var low = 0, high = symbolCount - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if cumulative[middle] <= slot { low = middle } else { high = middle - 1 }
        }
        return low
    }

    func randomSymbols(count: Int, using generator: inout SeededGenerator) -> [Int] {
        (0..<count).map { _ in randomSymbol(using: &generator) }
    }

    /// Bits an ideal coder spends on exactly these symbols.
    func idealCodeLength(of symbols: [Int]) -> Double {
        symbols.reduce(0) { $0 + codeLength(of: $1) }
    }
}

func encode(_ symbols: [Int], with table: FrequencyTable) -> [UInt8] {
    var encoder = RANSEncoder()
    for symbol in symbols { encoder.encode(symbol, with: table) }
    return encoder.finish()
}

func decode(_ bytes: [UInt8], count: Int, with table: FrequencyTable) throws -> [Int] {
    var decoder = try RANSDecoder(bytes: bytes)
    var symbols: [Int] = []
    symbols.reserveCapacity(count)
    for _ in 0..<count { symbols.append(try decoder.decode(with: table)) }
    try decoder.finish()
    return symbols
}
