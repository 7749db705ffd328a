import Testing
@testable import EntropyCoding

@Suite struct RANSTests {
    @Test(arguments: TestDistribution.allCases)
    func roundTripsSymbolsDrawnFromTheTable(distribution: TestDistribution) throws {
        let table = try distribution.table()
        var generator = SeededGenerator(seed: 1)
        for count in [0, 1, 10, 1000, 100_000] {
            let symbols = table.randomSymbols(count: count, using: &generator)
            let bytes = encode(symbols, with: table)
            #expect(try decode(bytes, count: count, with: table) == symbols, "\(distribution), \(count) symbols")
        }
    }

    /// Uniform draws hit the rare symbols of skewed tables constantly: the heaviest renormalisation.
    @Test(arguments: TestDistribution.allCases)
    func roundTripsSymbolsDrawnUniformly(distribution: TestDistribution) throws {
        let table = try distribution.table()
        var generator = SeededGenerator(seed: 2)
        for count in [0, 1, 10, 1000, 20_000] {
            let symbols = (0..<count).map { _ in Int.random(in: 0..<table.symbolCount, using: &generator) }
            let bytes = encode(symbols, with: table)
            #expect(try decode(bytes, count: count, with: table) == symbols, "\(distribution), \(count) symbols")
        }
    }

    @Test func emptyStreamIsJustTheInitialState() throws {
        let bytes = RANSEncoder().finish()
        #expect(bytes == [0x00, 0x00, 0x80, 0x00]) // 2^23, little-endian
        let decoder = try RANSDecoder(bytes: bytes)
        try decoder.finish()
        #expect(decoder.remainingByteCount == 0)
    }

    /// A check value rides in the initial state: the stream is no longer, and only the same check accepts it.
    @Test func checkValueCostsNoBytesAndMustMatch() throws {
        let table = try FrequencyTable(counts: [50, 30, 15, 5], scaleBits: 14)
        var generator = SeededGenerator(seed: 4)
        let symbols = (0..<200).map { _ in table.randomSymbol(using: &generator) }
        var encoder = RANSEncoder()
        for symbol in symbols { encoder.encode(symbol, with: table) }
        let plain = encoder.finish(), checked = encoder.finish(check: 0x5A_5A5A)
        #expect(abs(plain.count - checked.count) <= 1)
        for (check, accepted) in [(UInt32(0x5A_5A5A), true), (0xDA_5A5A, true), (0x5A_5A5B, false), (0, false)] {
            var decoder = try RANSDecoder(bytes: checked)
            for symbol in symbols { #expect(try decoder.decode(with: table) == symbol) }
            // Only the low RANS.checkBits bits count: 0xDA5A5A and 0x5A5A5A agree there.
            #expect((try? decoder.finish(check: check)) != nil || !accepted, "check \(check)")
            #expect((try? decoder.finish(check: check)) == nil || accepted, "check \(check)")
        }
    }

    /// Tables of every precision and raw bits of every width can share one stream.
    @Test func mixesPrecisionsAndRawBitsInOneStream() throws {
        let tables = try RANS.scaleBitsRange.map { scaleBits in
            try FrequencyTable(counts: [5, 0, 3, 1], scaleBits: max(scaleBits, 2))
        }
        var generator = SeededGenerator(seed: 3)
        var encoder = RANSEncoder()
        var expected: [(symbol: Int, bits: UInt32, width: Int)] = []
        for index in 0..<5000 {
            let table = tables[index % tables.count]
            let symbol = table.randomSymbol(using: &generator)
            let width = 1 + index % 16
            let bits = UInt32.random(in: 0..<(1 << UInt32(width)), using: &generator)
            encoder.encode(symbol, with: table)
            encoder.encodeBits(bits, count: width)
            expected.append((symbol, bits, width))
        }
        var decoder = try RANSDecoder(bytes: encoder.finish())
        for (index, item) in expected.enumerated() {
            #expect(try decoder.decode(with: tables[index % tables.count]) == item.symbol)
            #expect(try decoder.decodeBits(count: item.width) == item.bits)
        }
        try decoder.finish()
    }

    /// Output size against the information content of the very symbols coded: under 1% plus 8 bytes.
    @Test(arguments: [TestDistribution.uniform, .geometric, .nearDegenerate])
    func codeLengthIsCloseToIdeal(distribution: TestDistribution) throws {
        var generator = SeededGenerator(seed: 4)
        for scaleBits in [14, 16] {
            let table = try distribution.table(scaleBits: scaleBits)
            for count in [200, 1000, 5000, 20000] {
                let symbols = table.randomSymbols(count: count, using: &generator)
                let ideal = table.idealCodeLength(of: symbols)
                let actual = Double(encode(symbols, with: table).count * 8)
                #expect(actual <= ideal * 1.01 + 64, "\(distribution) 2^\(scaleBits), \(count) symbols: \(actual) vs \(ideal) bits")
            }
        }
    }

    @Test func singleSymbolTableCostsNothing() throws {
        let table = try TestDistribution.singleSymbol.table()
        #expect(encode([Int](repeating: 0, count: 10_000), with: table).count == RANS.stateByteCount)
    }

    // MARK: Hostile input

    @Test func rejectsEveryTruncation() throws {
        let table = try TestDistribution.geometric.table()
        var generator = SeededGenerator(seed: 5)
        let symbols = table.randomSymbols(count: 1000, using: &generator)
        let bytes = encode(symbols, with: table)
        #expect(bytes.count > 100)
        for length in 0..<bytes.count {
            #expect(throws: EntropyCodingError.self, "prefix of \(length) bytes") {
                try decode(Array(bytes[..<length]), count: symbols.count, with: table)
            }
        }
    }

    @Test func rejectsTrailingBytes() throws {
        let table = try TestDistribution.geometric.table()
        var generator = SeededGenerator(seed: 6)
        let symbols = table.randomSymbols(count: 1000, using: &generator)
        let bytes = encode(symbols, with: table)
        #expect(throws: EntropyCodingError.trailingBytes(1)) { try decode(bytes + [0], count: symbols.count, with: table) }
        #expect(throws: EntropyCodingError.trailingBytes(3)) { try decode(bytes + [1, 2, 3], count: symbols.count, with: table) }
    }

    /// Decoding fewer or more symbols than were coded ends in the wrong place and is caught.
    @Test func rejectsWrongSymbolCount() throws {
        let table = try TestDistribution.uniform.table()
        var generator = SeededGenerator(seed: 7)
        let symbols = table.randomSymbols(count: 100, using: &generator)
        let bytes = encode(symbols, with: table)
        #expect(throws: EntropyCodingError.self) { try decode(bytes, count: 99, with: table) }
        #expect(throws: EntropyCodingError.self) { try decode(bytes, count: 101, with: table) }
    }

    @Test func rejectsStatesTheEncoderCannotProduce() {
        #expect(throws: EntropyCodingError.unexpectedEndOfStream) { try RANSDecoder(bytes: [0x00, 0x00, 0x80]) }
        #expect(throws: EntropyCodingError.invalidInitialState(0)) { try RANSDecoder(bytes: [0, 0, 0, 0]) }
        #expect(throws: EntropyCodingError.invalidInitialState(0x8000_0000)) { try RANSDecoder(bytes: [0, 0, 0, 0x80]) }
    }

    /// Random bytes must never crash the decoder, and essentially never pass the end-of-stream checks.
    @Test func survivesRandomGarbage() throws {
        let tables = try TestDistribution.allCases.map { try $0.table() }
        var generator = SeededGenerator(seed: 8)
        var accepted = 0
        for trial in 0..<4000 {
            let garbage = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let table = tables[trial % tables.count]
            if (try? decode(garbage, count: Int.random(in: 0...40, using: &generator), with: table)) != nil { accepted += 1 }
        }
        #expect(accepted == 0)
    }

    /// A flipped bit leaves a stream of the right length; the final-state check must still catch it.
    @Test func rejectsAlmostAllSingleBitFlips() throws {
        let table = try TestDistribution.geometric.table()
        var generator = SeededGenerator(seed: 9)
        let symbols = table.randomSymbols(count: 300, using: &generator)
        let bytes = encode(symbols, with: table)
        var accepted = 0, flips = 0
        for bit in 0..<(bytes.count * 8) {
            var corrupt = bytes
            corrupt[bit / 8] ^= 1 << UInt8(bit % 8)
            flips += 1
            if (try? decode(corrupt, count: symbols.count, with: table)) != nil { accepted += 1 }
        }
        #expect(accepted == 0, "\(accepted) of \(flips) flips accepted")
    }
}
