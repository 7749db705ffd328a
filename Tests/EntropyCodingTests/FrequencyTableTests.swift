#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
@testable import EntropyCoding

@Suite struct FrequencyTableTests {
    /// Expected extra bits per symbol from coding `counts` with `table` instead of the counts' own distribution.
    static func klDivergence(of counts: [Int], from table: FrequencyTable) -> Double {
        let total = counts.reduce(0.0) { $0 + Double($1) }
        return zip(counts, table.frequencies).reduce(0.0) { sum, pair in
            guard pair.0 > 0 else { return sum }
            let p = Double(pair.0) / total
            return sum + p * log2(p * Double(table.total) / Double(pair.1))
        }
    }

    static let histograms: [[Int]] = [
        [1],
        [0, 0, 0],
        [0, 5, 0, 0, 7, 0],
        [Int.max / 2, 1, 0, 0, Int.max / 3],
        (0..<100).map { $0 % 3 == 0 ? 0 : Int(1e12 * pow(0.6, Double($0))) },
        (0..<33).map { 1 << ($0 % 31) },
        [Int](repeating: 0, count: 1 << 14) + [1],
    ]

    @Test(arguments: histograms)
    func frequenciesAreValid(counts: [Int]) throws {
        for scaleBits in [14, 16] where counts.count <= 1 << scaleBits {
            let table = try FrequencyTable(counts: counts, scaleBits: scaleBits)
            #expect(table.symbolCount == counts.count)
            #expect(table.frequencies.allSatisfy { $0 >= 1 })
            #expect(table.frequencies.reduce(0, +) == table.total)
            #expect(table.cumulative.first == 0 && table.cumulative.last == table.total)
            // The decoder's lookup must agree with the cumulative table at every slot.
            let wrongSlots = (0..<Int(table.total)).filter { slot in
                let symbol = table.symbol(atSlot: UInt32(slot))
                return !(table.cumulative[symbol] <= slot && slot < table.cumulative[symbol + 1])
            }
            #expect(wrongSlots.isEmpty)
        }
    }

    /// The greedy allocation must equal the best of all possible tables, checked exhaustively on small ones.
    @Test func normalisationIsExactlyOptimal() throws {
        var generator = SeededGenerator(seed: 10)
        for trial in 0..<40 {
            let symbolCount = 2 + trial % 3
            let scaleBits = 4 + trial % 3
            let counts = (0..<symbolCount).map { _ in Int.random(in: 0...1000, using: &generator) }
            guard counts.contains(where: { $0 > 0 }) else { continue }
            let table = try FrequencyTable(counts: counts, scaleBits: scaleBits, pseudoCount: 0)

            // Code length in bits, up to a constant, of the histogram under frequencies f.
            func cost(_ symbol: Int, _ frequency: Int) -> Double { -Double(counts[symbol]) * log2(Double(frequency)) }
            var best = Double.infinity
            func search(symbol: Int, remaining: Int, costSoFar: Double) {
                if symbol == symbolCount - 1 {
                    best = min(best, costSoFar + cost(symbol, remaining))
                    return
                }
                for frequency in 1...(remaining - (symbolCount - 1 - symbol)) {
                    search(symbol: symbol + 1, remaining: remaining - frequency, costSoFar: costSoFar + cost(symbol, frequency))
                }
            }
            search(symbol: 0, remaining: 1 << scaleBits, costSoFar: 0)
            let tableCost = table.frequencies.enumerated().reduce(0.0) { $0 + cost($1.offset, Int($1.element)) }
            #expect(abs(tableCost - best) < 1e-9, "counts \(counts), got \(table.frequencies)")
        }
    }

    /// Larger tables against the textbook greedy: start every symbol at 1 and give each of the
    /// remaining slots to the symbol whose code length it shortens most (a linear scan per slot).
    @Test func normalisationMatchesSlotBySlotGreedy() throws {
        var generator = SeededGenerator(seed: 12)
        for trial in 0..<12 {
            let symbolCount = 3 + trial * 3
            let scaleBits = 8 + trial % 5
            let counts = (0..<symbolCount).map { _ in
                Int.random(in: 0...3, using: &generator) == 0 ? 0 : Int.random(in: 1...1 << Int.random(in: 1...40, using: &generator), using: &generator)
            }
            let pseudoCount = [0.5, 0, 3][trial % 3]
            guard pseudoCount > 0 || counts.contains(where: { $0 > 0 }) else { continue }
            let table = try FrequencyTable(counts: counts, scaleBits: scaleBits, pseudoCount: pseudoCount)

            let weights = counts.map { Double($0) + pseudoCount }
            var reference = [Int](repeating: 1, count: symbolCount)
            for _ in 0..<((1 << scaleBits) - symbolCount) {
                let best = (0..<symbolCount).max { weights[$0] * log1p(1 / Double(reference[$0])) < weights[$1] * log1p(1 / Double(reference[$1])) }!
                reference[best] += 1
            }
            func cost(_ frequencies: [Int]) -> Double { zip(weights, frequencies).reduce(0.0) { $0 - $1.0 * log2(Double($1.1)) } }
            let tableCost = cost(table.frequencies.map(Int.init)), referenceCost = cost(reference)
            #expect(abs(tableCost - referenceCost) <= 1e-9 * abs(referenceCost), "counts \(counts): \(table.frequencies) vs \(reference)")
        }
    }

    /// Skewed histograms with zeros and huge counts lose almost nothing to quantisation.
    @Test func skewedHistogramsCostLittle() throws {
        let latentLike = (-40...40).map { Int(5e9 * exp(-abs(Double($0)) / 2.5)) } // Laplacian, tails round to 0
        let geometric = (0..<64).map { Int(1e15 * pow(0.5, Double($0))) }         // huge head, 1-count tail
        let spiky = [Int](repeating: 0, count: 200) + [1 << 60] + [Int](repeating: 3, count: 55)
        for counts in [latentLike, geometric, spiky] {
            for scaleBits in [14, 16] {
                let table = try FrequencyTable(counts: counts, scaleBits: scaleBits)
                // Every symbol needs a slot even if it never occurs, so the floor is about
                // (symbols with tiny probability) / total bits; allow twice that plus 0.001.
                let bound = 2 * Double(counts.count) / Double(table.total) + 0.001
                let divergence = Self.klDivergence(of: counts, from: table)
                #expect(divergence < bound, "2^\(scaleBits): \(divergence) bits/symbol")
            }
        }
    }

    @Test func pseudoCountGivesUnseenSymbolsMoreThanTheMinimum() throws {
        let counts = [100, 0, 100, 0]
        let floorOnly = try FrequencyTable(counts: counts, scaleBits: 10, pseudoCount: 0)
        let smoothed = try FrequencyTable(counts: counts, scaleBits: 10, pseudoCount: 5)
        #expect(floorOnly.frequencies == [511, 1, 511, 1])
        #expect(smoothed.frequencies[1] > 1 && smoothed.frequencies[1] == smoothed.frequencies[3])
    }

    @Test func serialisationRoundTrips() throws {
        for counts in Self.histograms {
            let table = try FrequencyTable(counts: counts, scaleBits: 16)
            let words = table.serialized()
            #expect(words.count == 2 + counts.count)
            #expect(try FrequencyTable(serialized: words) == table)
        }
        // A full-weight single symbol (2^16) and 2^16 one-slot symbols both fit the format.
        let single = try FrequencyTable(frequencies: [1 << 16], scaleBits: 16)
        let flat = try FrequencyTable(frequencies: [UInt32](repeating: 1, count: 1 << 16), scaleBits: 16)
        #expect(try FrequencyTable(serialized: single.serialized()) == single)
        #expect(try FrequencyTable(serialized: flat.serialized()) == flat)
    }

    @Test func concatenatedTablesReadBack() throws {
        let tables = try [[3, 1], [0, 0, 9], [1, 2, 3, 4]].map { try FrequencyTable(counts: $0, scaleBits: 12) }
        let words = tables.flatMap { $0.serialized() }
        var offset = 0
        let read = try tables.map { _ in try FrequencyTable(reading: words, at: &offset) }
        #expect(read == tables && offset == words.count)
    }

    @Test func rejectsInvalidTables() {
        let invalid: [(frequencies: [UInt32], scaleBits: Int)] = [
            ([1 << 4], 0), ([1 << 17], 17), ([], 4),
            ([8, 7], 4), ([8, 9], 4), ([16, 0], 4), ([UInt32.max, 17], 4),
        ]
        for (frequencies, scaleBits) in invalid {
            #expect(throws: EntropyCodingError.self, "\(frequencies) at 2^\(scaleBits)") {
                try FrequencyTable(frequencies: frequencies, scaleBits: scaleBits)
            }
        }
        #expect(throws: EntropyCodingError.self) { try FrequencyTable(counts: [1, 2, 3], scaleBits: 1) }
        #expect(throws: EntropyCodingError.self) { try FrequencyTable(counts: [1, -2], scaleBits: 4) }
        #expect(throws: EntropyCodingError.self) { try FrequencyTable(counts: [0, 0], scaleBits: 4, pseudoCount: 0) }
        #expect(throws: EntropyCodingError.self) { try FrequencyTable(counts: [], scaleBits: 4) }
    }

    @Test func rejectsInvalidSerialisedTables() throws {
        let valid = try FrequencyTable(counts: [5, 1, 2], scaleBits: 8).serialized()
        #expect(try FrequencyTable(serialized: valid).symbolCount == 3)
        for length in 0..<valid.count {
            #expect(throws: EntropyCodingError.self) { try FrequencyTable(serialized: Array(valid[..<length])) }
        }
        #expect(throws: EntropyCodingError.self) { try FrequencyTable(serialized: valid + [0]) }
        var wrongSum = valid
        wrongSum[2] += 1
        #expect(throws: EntropyCodingError.self) { try FrequencyTable(serialized: wrongSum) }
        var wrongScale = valid
        wrongScale[0] = 17
        #expect(throws: EntropyCodingError.self) { try FrequencyTable(serialized: wrongScale) }
        // Random words: never a crash, and a table only if it really is one.
        var generator = SeededGenerator(seed: 11)
        for _ in 0..<2000 {
            let words = (0..<Int.random(in: 0...6, using: &generator)).map { _ in UInt16.random(in: 0...20, using: &generator) }
            if let table = try? FrequencyTable(serialized: words) {
                #expect(table.frequencies.reduce(0, +) == table.total && table.serialized() == words)
            }
        }
    }
}
