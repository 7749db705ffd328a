#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The model for one latent dimension: a frequency table over the values minValue...maxValue
/// plus one ESCAPE symbol (the last) for everything outside, so every Int32 remains codable.
public struct SymbolTable: Sendable, Equatable {
    public let minValue: Int32
    /// Symbols 0..<escapeSymbol stand for minValue + symbol; symbol escapeSymbol for "out of range".
    public let frequencyTable: FrequencyTable

    public var escapeSymbol: Int { frequencyTable.symbolCount - 1 }
    public var maxValue: Int32 { Int32(Int64(minValue) + Int64(escapeSymbol) - 1) }

    public init(minValue: Int32, frequencyTable: FrequencyTable) throws {
        guard frequencyTable.symbolCount >= 2 else {
            throw EntropyCodingError.invalidTable("a symbol table needs at least one value besides ESCAPE")
        }
        guard Int64(minValue) + Int64(frequencyTable.symbolCount) - 2 <= Int64(Int32.max) else {
            throw EntropyCodingError.invalidTable("value range starting at \(minValue) overflows Int32")
        }
        self.minValue = minValue
        self.frequencyTable = frequencyTable
    }

    /// `counts[i]` is how often minValue + i occurred; `escapeCount` how often a value fell outside.
    public init(minValue: Int32, counts: [Int], escapeCount: Int, scaleBits: Int = 14, pseudoCount: Double = 0.5) throws {
        try self.init(minValue: minValue,
                      frequencyTable: FrequencyTable(counts: counts + [escapeCount], scaleBits: scaleBits, pseudoCount: pseudoCount))
    }

    /// The table a codec fits to training symbols: it covers their central 99.9% (the rare rest goes through ESCAPE),
    /// and at most 4,001 values around the median, so a table stays small whatever the data.
    public static func fitted(to samples: [Int32]) throws -> SymbolTable {
        precondition(!samples.isEmpty, "a table needs training symbols")
        let sorted = samples.sorted()
        let cut = sorted.count / 2000
        var low = sorted[cut], high = sorted[sorted.count - 1 - cut]
        if high - low > 4000 {
            let median = sorted[sorted.count / 2]
            low = max(low, median - 2000)
            high = min(high, median + 2000)
        }
        return try SymbolTable(minValue: low, maxValue: high, samples: samples)
    }

    /// Histograms training values into minValue...maxValue and ESCAPE and builds the table.
    public init(minValue: Int32, maxValue: Int32, samples: some Sequence<Int32>,
                scaleBits: Int = 14, pseudoCount: Double = 0.5) throws {
        guard minValue <= maxValue else { throw EntropyCodingError.invalidTable("empty value range") }
        let valueCount = Int(Int64(maxValue) - Int64(minValue) + 1)
        guard valueCount < 1 << scaleBits else {
            throw EntropyCodingError.invalidTable("\(valueCount) values and ESCAPE cannot share 2^\(scaleBits) slots")
        }
        var counts = [Int](repeating: 0, count: valueCount)
        var escapeCount = 0
        for value in samples {
            if value >= minValue && value <= maxValue { counts[Int(Int64(value) - Int64(minValue))] += 1 } else { escapeCount += 1 }
        }
        try self.init(minValue: minValue, counts: counts, escapeCount: escapeCount, scaleBits: scaleBits, pseudoCount: pseudoCount)
    }

    func contains(_ value: Int32) -> Bool { value >= minValue && value <= maxValue }

    /// Ideal bits for `value` under this table, escape payload included.
    public func codeLength(of value: Int32) -> Double {
        if contains(value) { return frequencyTable.codeLength(of: Int(Int64(value) - Int64(minValue))) }
        return frequencyTable.codeLength(of: escapeSymbol) + Double(EscapeCode.bitCount(of: value, outside: self))
    }

    // MARK: Serialisation

    /// [minValue low half, minValue high half] followed by the frequency table's words.
    public func serialized() -> [UInt16] {
        let bits = UInt32(bitPattern: minValue)
        return [UInt16(truncatingIfNeeded: bits), UInt16(truncatingIfNeeded: bits >> 16)] + frequencyTable.serialized()
    }

    public init(serialized words: [UInt16]) throws {
        var offset = 0
        try self.init(reading: words, at: &offset)
        guard offset == words.count else {
            throw EntropyCodingError.invalidTable("\(words.count - offset) words after the table")
        }
    }

    /// Reads one table starting at `offset` and advances `offset` past it, so tables can be concatenated.
    public init(reading words: [UInt16], at offset: inout Int) throws {
        guard offset >= 0 && words.count - offset >= 2 else {
            throw EntropyCodingError.invalidTable("symbol table header truncated")
        }
        let minValue = Int32(bitPattern: UInt32(words[offset]) | UInt32(words[offset + 1]) << 16)
        var tableOffset = offset + 2
        let frequencyTable = try FrequencyTable(reading: words, at: &tableOffset)
        try self.init(minValue: minValue, frequencyTable: frequencyTable)
        offset = tableOffset
    }
}

/// Codes signed quantized values, values[i] with tables[i], into one rANS stream.
public enum QuantizedSymbolCoder {
    /// `check` rides in the coder's initial state (`RANS.checkBits` of it), so it costs no bytes.
    public static func encode(values: [Int32], tables: [SymbolTable], check: UInt32 = 0) -> [UInt8] {
        var encoder = RANSEncoder()
        encode(values: values, tables: tables, into: &encoder)
        return encoder.finish(check: check)
    }

    /// Appends to an encoder, for streams that carry more than these values.
    public static func encode(values: [Int32], tables: [SymbolTable], into encoder: inout RANSEncoder) {
        precondition(values.count == tables.count, "\(values.count) values but \(tables.count) tables")
        for (value, table) in zip(values, tables) {
            if table.contains(value) {
                encoder.encode(Int(Int64(value) - Int64(table.minValue)), with: table.frequencyTable)
            } else {
                encoder.encode(table.escapeSymbol, with: table.frequencyTable)
                EscapeCode.encode(value, outside: table, into: &encoder)
            }
        }
    }

    /// Decodes tables.count values and requires the stream to end exactly there, in the state that carries
    /// `check(values)`: a check computed from what was decoded, such as a CRC of the values.
    public static func decode(bytes: [UInt8], tables: [SymbolTable], check: ([Int32]) -> UInt32 = { _ in 0 }) throws -> [Int32] {
        var decoder = try RANSDecoder(bytes: bytes)
        let values = try decode(from: &decoder, tables: tables)
        try decoder.finish(check: check(values))
        return values
    }

    /// Decodes `tables.count` values, then as many more as `then` gives tables for, given those first values (a
    /// stream whose side information chooses the tables of the rest), with the same ending and check as above.
    public static func decode(bytes: [UInt8], tables: [SymbolTable], then: ([Int32]) -> [SymbolTable],
                              check: ([Int32]) -> UInt32 = { _ in 0 }) throws -> [Int32] {
        var decoder = try RANSDecoder(bytes: bytes)
        let first = try decode(from: &decoder, tables: tables)
        let values = try first + decode(from: &decoder, tables: then(first))
        try decoder.finish(check: check(values))
        return values
    }

    /// Reads tables.count values from a decoder; the caller calls `finish()` when the stream is done.
    public static func decode(from decoder: inout RANSDecoder, tables: [SymbolTable]) throws -> [Int32] {
        var values: [Int32] = []
        values.reserveCapacity(tables.count)
        for table in tables {
            let symbol = try decoder.decode(with: table.frequencyTable)
            if symbol == table.escapeSymbol {
                values.append(try EscapeCode.decode(outside: table, from: &decoder))
            } else {
                values.append(Int32(Int64(table.minValue) + Int64(symbol)))
            }
        }
        return values
    }

    /// Bits an ideal entropy coder would spend; `encode` stays within a fraction of a percent plus 4 bytes.
    public static func idealCodeLength(values: [Int32], tables: [SymbolTable]) -> Double {
        precondition(values.count == tables.count, "\(values.count) values but \(tables.count) tables")
        return zip(values, tables).reduce(0) { $0 + $1.1.codeLength(of: $1.0) }
    }
}

/// The payload after ESCAPE, in uniform rANS bits: one bit for the side of the range, then the
/// distance beyond it, d = 0, 1, 2, ..., Elias-gamma coded as n = d + 1: k zero bits, a one bit,
/// then the k bits of n below its leading one, k = floor(log2 n). Values just outside the range
/// stay cheap (d = 0 costs 2 bits) while the farthest Int32 still fits (d < 2^32 - 1, k <= 31).
enum EscapeCode {
    /// Distance beyond the range, and whether the value lies above it.
    private static func distance(of value: Int32, outside table: SymbolTable) -> (above: Bool, distance: UInt32) {
        if value > table.maxValue { return (true, UInt32(Int64(value) - Int64(table.maxValue) - 1)) }
        return (false, UInt32(Int64(table.minValue) - Int64(value) - 1))
    }

    static func bitCount(of value: Int32, outside table: SymbolTable) -> Int {
        let n = distance(of: value, outside: table).distance + 1
        let k = UInt32.bitWidth - 1 - n.leadingZeroBitCount
        return 1 + 2 * k + 1
    }

    static func encode(_ value: Int32, outside table: SymbolTable, into encoder: inout RANSEncoder) {
        let (above, distance) = distance(of: value, outside: table)
        let n = distance + 1
        let k = UInt32.bitWidth - 1 - n.leadingZeroBitCount
        encoder.encodeBits(above ? 1 : 0, count: 1)
        for _ in 0..<k { encoder.encodeBits(0, count: 1) }
        encoder.encodeBits(1, count: 1)
        // The k bits below the leading one, high part first, in symbols of at most 16 bits.
        let mantissa = n & ((UInt32(1) << k) &- 1)
        if k > 16 { encoder.encodeBits(mantissa >> 16, count: k - 16) }
        if k > 0 { encoder.encodeBits(mantissa & 0xFFFF, count: min(k, 16)) }
    }

    static func decode(outside table: SymbolTable, from decoder: inout RANSDecoder) throws -> Int32 {
        let above = try decoder.decodeBits(count: 1) == 1
        var k = 0
        while try decoder.decodeBits(count: 1) == 0 {
            k += 1
            // No encoder writes more than 31 zeros; stop hostile streams from spinning here.
            guard k <= 31 else { throw EntropyCodingError.invalidEscape }
        }
        var mantissa: UInt32 = 0
        if k > 16 { mantissa = try decoder.decodeBits(count: k - 16) << 16 }
        if k > 0 { mantissa |= try decoder.decodeBits(count: min(k, 16)) }
        let distance = Int64((UInt32(1) << UInt32(k)) | mantissa) - 1
        let value = above ? Int64(table.maxValue) + 1 + distance : Int64(table.minValue) - 1 - distance
        guard let exact = Int32(exactly: value) else { throw EntropyCodingError.invalidEscape }
        return exact
    }
}
