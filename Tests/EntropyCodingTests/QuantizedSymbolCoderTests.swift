import Testing
@testable import EntropyCoding

@Suite struct QuantizedSymbolCoderTests {
    /// Per-dimension tables as the codec would train them: Laplacian-ish latents of varying width.
    static func trainedTables(dimensions: Int, using generator: inout SeededGenerator) throws -> [SymbolTable] {
        try (0..<dimensions).map { dimension in
            let spread = 1 + dimension % 5
            let samples = (0..<500).map { _ in Int32(Int.random(in: -spread...spread, using: &generator) + Int.random(in: -spread...spread, using: &generator)) }
            return try SymbolTable(minValue: Int32(-2 * spread + 1), maxValue: Int32(2 * spread - 1), samples: samples, scaleBits: 12 + dimension % 5)
        }
    }

    @Test func roundTripsLatentsWithOccasionalEscapes() throws {
        var generator = SeededGenerator(seed: 20)
        let tables = try Self.trainedTables(dimensions: 256, using: &generator)
        for _ in 0..<10 {
            let values = tables.map { table -> Int32 in
                let spread = Int(table.maxValue) / 2 + 1
                return Int32(Int.random(in: -spread...spread, using: &generator) + Int.random(in: -spread...spread, using: &generator))
            }
            let bytes = QuantizedSymbolCoder.encode(values: values, tables: tables)
            #expect(try QuantizedSymbolCoder.decode(bytes: bytes, tables: tables) == values)
            let ideal = QuantizedSymbolCoder.idealCodeLength(values: values, tables: tables)
            #expect(Double(bytes.count * 8) <= ideal * 1.01 + 64, "\(bytes.count * 8) bits vs \(ideal) ideal")
        }
    }

    @Test func escapesAnyInt32() throws {
        let ordinary = try SymbolTable(minValue: -3, maxValue: 3, samples: [-1, 0, 0, 1], scaleBits: 14)
        let atBottom = try SymbolTable(minValue: .min, maxValue: .min + 2, samples: [.min], scaleBits: 14)
        let atTop = try SymbolTable(minValue: .max - 2, maxValue: .max, samples: [.max], scaleBits: 14)
        let extremes: [Int32] = [.min, .min + 1, .min + 2, .min + 3, -65537, -65536, -4, -3, 0, 3, 4, 5,
                                 65535, 65536, 1 << 30, .max - 3, .max - 2, .max - 1, .max]
        for table in [ordinary, atBottom, atTop] {
            let tables = [SymbolTable](repeating: table, count: extremes.count)
            let bytes = QuantizedSymbolCoder.encode(values: extremes, tables: tables)
            #expect(try QuantizedSymbolCoder.decode(bytes: bytes, tables: tables) == extremes)
            // Raw bits cost exactly their count, so the escape path is as tight as the rest.
            let ideal = QuantizedSymbolCoder.idealCodeLength(values: extremes, tables: tables)
            #expect(Double(bytes.count * 8) <= ideal * 1.01 + 64)
        }
        var generator = SeededGenerator(seed: 21)
        let random = (0..<5000).map { _ in Int32.random(in: .min ... .max, using: &generator) >> Int32.random(in: 0...31, using: &generator) }
        let tables = [SymbolTable](repeating: ordinary, count: random.count)
        #expect(try QuantizedSymbolCoder.decode(bytes: QuantizedSymbolCoder.encode(values: random, tables: tables), tables: tables) == random)
    }

    @Test func escapePayloadGrowsWithDistanceFromTheRange() throws {
        let table = try SymbolTable(minValue: -3, maxValue: 3, samples: [0], scaleBits: 14)
        let escapeBits = table.frequencyTable.codeLength(of: table.escapeSymbol)
        #expect(table.codeLength(of: 4) == escapeBits + 2)     // side bit + gamma(1)
        #expect(table.codeLength(of: -4) == escapeBits + 2)
        #expect(table.codeLength(of: 5) == escapeBits + 4)     // gamma(2) = 010
        #expect(table.codeLength(of: .max) == escapeBits + 62) // gamma(2^31 - 4): 30 zeros, a one, 30 bits
    }

    @Test func buildsTablesFromSamples() throws {
        let table = try SymbolTable(minValue: -1, maxValue: 1, samples: [-1, 0, 0, 0, 1, 7, -9], scaleBits: 10, pseudoCount: 0)
        #expect(table.escapeSymbol == 3 && table.maxValue == 1)
        #expect(table.frequencyTable == (try FrequencyTable(counts: [1, 3, 1, 2], scaleBits: 10, pseudoCount: 0)))
        #expect(throws: EntropyCodingError.self) { try SymbolTable(minValue: 1, maxValue: 0, samples: [], scaleBits: 10) }
        #expect(throws: EntropyCodingError.self) { try SymbolTable(minValue: 0, maxValue: 1023, samples: [], scaleBits: 10) }
        let onlyEscape = try FrequencyTable(frequencies: [1024], scaleBits: 10)
        #expect(throws: EntropyCodingError.self) { try SymbolTable(minValue: 0, frequencyTable: onlyEscape) }
        let twoValues = try FrequencyTable(frequencies: [512, 256, 256], scaleBits: 10)
        #expect(throws: EntropyCodingError.self) { try SymbolTable(minValue: .max, frequencyTable: twoValues) }
    }

    @Test func serialisedTablesReadBack() throws {
        var generator = SeededGenerator(seed: 22)
        let tables = try Self.trainedTables(dimensions: 12, using: &generator)
            + [try SymbolTable(minValue: .min, maxValue: .min, samples: [], scaleBits: 14)]
        for table in tables { #expect(try SymbolTable(serialized: table.serialized()) == table) }
        let words = tables.flatMap { $0.serialized() }
        var offset = 0
        #expect(try tables.map { _ in try SymbolTable(reading: words, at: &offset) } == tables)
        #expect(offset == words.count)
        let single = tables[0].serialized()
        for length in 0..<single.count {
            #expect(throws: EntropyCodingError.self) { try SymbolTable(serialized: Array(single[..<length])) }
        }
    }

    // MARK: Hostile input

    @Test func rejectsEveryTruncation() throws {
        var generator = SeededGenerator(seed: 23)
        let tables = try Self.trainedTables(dimensions: 300, using: &generator)
        let values = tables.map { Int32.random(in: $0.minValue - 2 ... $0.maxValue + 2, using: &generator) }
        let bytes = QuantizedSymbolCoder.encode(values: values, tables: tables)
        for length in 0..<bytes.count {
            #expect(throws: EntropyCodingError.self) { try QuantizedSymbolCoder.decode(bytes: Array(bytes[..<length]), tables: tables) }
        }
        #expect(throws: EntropyCodingError.trailingBytes(1)) { try QuantizedSymbolCoder.decode(bytes: bytes + [0x55], tables: tables) }
    }

    @Test func survivesRandomGarbage() throws {
        var generator = SeededGenerator(seed: 24)
        let tables = try Self.trainedTables(dimensions: 16, using: &generator)
        var accepted = 0
        for _ in 0..<3000 {
            let garbage = (0..<Int.random(in: 0...48, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if (try? QuantizedSymbolCoder.decode(bytes: garbage, tables: tables)) != nil { accepted += 1 }
        }
        #expect(accepted == 0)
    }

    /// Streams no encoder writes: an endless unary prefix, and a distance past Int32.
    @Test func rejectsImpossibleEscapes() throws {
        let table = try SymbolTable(minValue: .max - 3, maxValue: .max - 1, samples: [], scaleBits: 10)

        var endlessPrefix = RANSEncoder()
        endlessPrefix.encode(table.escapeSymbol, with: table.frequencyTable)
        endlessPrefix.encodeBits(0, count: 1)
        for _ in 0..<40 { endlessPrefix.encodeBits(0, count: 1) }
        #expect(throws: EntropyCodingError.invalidEscape) { try QuantizedSymbolCoder.decode(bytes: endlessPrefix.finish(), tables: [table]) }

        // Above the range, distance 1 is already Int32.max + 1.
        var pastInt32 = RANSEncoder()
        pastInt32.encode(table.escapeSymbol, with: table.frequencyTable)
        pastInt32.encodeBits(1, count: 1)               // above
        pastInt32.encodeBits(0, count: 1)               // gamma(2) = 0 1 0
        pastInt32.encodeBits(1, count: 1)
        pastInt32.encodeBits(0, count: 1)
        #expect(throws: EntropyCodingError.invalidEscape) { try QuantizedSymbolCoder.decode(bytes: pastInt32.finish(), tables: [table]) }
    }
}
