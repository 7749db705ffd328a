#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Integer frequencies for symbols 0..<symbolCount, each >= 1, summing to exactly 2^scaleBits.
/// These integers are the model: encoder and decoder see only them, never the floating-point
/// statistics they were built from, which is what makes decoding bit-exact across machines.
public struct FrequencyTable: Sendable, Equatable {
    public let scaleBits: Int
    public let frequencies: [UInt32]
    /// cumulative[s] = sum of frequencies[0..<s]; symbolCount + 1 entries, the last one `total`.
    public let cumulative: [UInt32]

    public var symbolCount: Int { frequencies.count }

    /// The decoder's inverse of `cumulative`: the symbol whose interval holds `slot` (0 ..< 2^scaleBits), by binary
    /// search. A slot-to-symbol array would answer in one read but costs 2^(scaleBits+1) bytes per table, and a
    /// spatial model holds thousands of tables while a file decodes only about a thousand symbols.
    public func symbol(atSlot slot: UInt32) -> Int {
        var (low, high) = (0, frequencies.count - 1)  // invariant: cumulative[low] <= slot < cumulative[high + 1]
        while low < high {
            let middle = (low + high + 1) / 2
            if cumulative[middle] <= slot { low = middle } else { high = middle - 1 }
        }
        return low
    }
    public var total: UInt32 { 1 << UInt32(scaleBits) }

    /// Validates and adopts exact frequencies (e.g. ones read from a model file).
    public init(frequencies: [UInt32], scaleBits: Int) throws {
        guard RANS.scaleBitsRange.contains(scaleBits) else {
            throw EntropyCodingError.invalidTable("scaleBits \(scaleBits) outside \(RANS.scaleBitsRange)")
        }
        let total = 1 << scaleBits
        guard !frequencies.isEmpty && frequencies.count <= total else {
            throw EntropyCodingError.invalidTable("\(frequencies.count) symbols cannot share \(total) slots")
        }
        guard frequencies.allSatisfy({ $0 >= 1 }) else {
            throw EntropyCodingError.invalidTable("a symbol has frequency 0 and could never be coded")
        }
        // Each frequency is checked below 2^32 by its type, and there are at most 2^16 of them: no overflow in UInt64.
        let sum = frequencies.reduce(UInt64(0)) { $0 + UInt64($1) }
        guard sum == UInt64(total) else {
            throw EntropyCodingError.invalidTable("frequencies sum to \(sum), not 2^\(scaleBits)")
        }

        var cumulative = [UInt32](repeating: 0, count: frequencies.count + 1)
        for (symbol, frequency) in frequencies.enumerated() { cumulative[symbol + 1] = cumulative[symbol] + frequency }
        self.scaleBits = scaleBits
        self.frequencies = frequencies
        self.cumulative = cumulative
    }

    /// Builds the table that codes data distributed like `counts` as compactly as possible.
    ///
    /// Each symbol's weight is its count plus `pseudoCount` (additive smoothing, so symbols never
    /// seen in training remain codable and get a share that grows with the prior). The frequencies
    /// then maximise sum_s weight_s * log2(f_s) subject to sum f_s = 2^scaleBits, f_s >= 1 -- that
    /// is, they minimise the expected code length. The objective is separable and concave, so
    /// handing out slots one at a time to the symbol whose code length shrinks most is exactly
    /// optimal (no rounding heuristics, no symbol starved by rounding to zero), and it stays
    /// optimal when started from any allocation known to lie below the optimum.
    public init(counts: [Int], scaleBits: Int, pseudoCount: Double = 0.5) throws {
        guard RANS.scaleBitsRange.contains(scaleBits) else {
            throw EntropyCodingError.invalidTable("scaleBits \(scaleBits) outside \(RANS.scaleBitsRange)")
        }
        let total = 1 << scaleBits
        guard !counts.isEmpty && counts.count <= total else {
            throw EntropyCodingError.invalidTable("\(counts.count) symbols cannot share \(total) slots")
        }
        guard counts.allSatisfy({ $0 >= 0 }), pseudoCount >= 0, pseudoCount.isFinite else {
            throw EntropyCodingError.invalidTable("counts and pseudoCount must be non-negative")
        }
        let weights = counts.map { Double($0) + pseudoCount }
        guard weights.contains(where: { $0 > 0 }) else {
            throw EntropyCodingError.invalidTable("empty histogram and no pseudoCount: nothing to model")
        }

        // Starting point: at the optimum some lambda bounds every symbol's gain from one more slot
        // from above and its loss from one fewer from below. With w/(f+1) <= gain(f) and
        // loss(f) <= w/(f-1) this gives f_s <= w_s/lambda + 1 (so, summing, 1/lambda >= (M-n)/W) and
        // f_s >= w_s/lambda - 1 >= w_s (M-n)/W - 1. One more slot of slack absorbs floating-point
        // error, so the greedy loop below places only the last ~2n slots instead of all M.
        let totalWeight = weights.reduce(0, +)
        let share = Double(total - counts.count) / totalWeight
        var frequencies = weights.map { UInt32(max(1, (($0 * share).rounded(.down)) - 1)) }
        let assigned = frequencies.reduce(0) { $0 + Int($1) }
        // Gain of giving symbol s one more slot: weight_s * ln((f+1)/f), in weighted nats.
        func gain(_ symbol: Int) -> Double {
            weights[symbol] * log1p(1 / Double(frequencies[symbol]))
        }
        var heap = MaxHeap(elements: (0..<counts.count).map { HeapEntry(gain: gain($0), symbol: $0) })
        for _ in 0..<(total - assigned) {
            let best = heap.top.symbol
            frequencies[best] += 1
            heap.replaceTop(with: HeapEntry(gain: gain(best), symbol: best))
        }
        try self.init(frequencies: frequencies, scaleBits: scaleBits)
    }

    /// Bits this table spends on `symbol`, ignoring the coder's (tiny) overhead.
    public func codeLength(of symbol: Int) -> Double {
        Double(scaleBits) - log2(Double(frequencies[symbol]))
    }

    // MARK: Serialisation

    /// [scaleBits, symbolCount - 1, frequency - 1 for each symbol]. Frequencies reach 2^16 and
    /// symbol counts 2^16, neither can be 0, so storing them minus one fits every value in a UInt16.
    public func serialized() -> [UInt16] {
        [UInt16(scaleBits), UInt16(symbolCount - 1)] + frequencies.map { UInt16($0 - 1) }
    }

    /// Reads a table written by `serialized()`, which must span exactly `words`.
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
            throw EntropyCodingError.invalidTable("table header truncated")
        }
        let scaleBits = Int(words[offset])
        let symbolCount = Int(words[offset + 1]) + 1
        guard words.count - offset - 2 >= symbolCount else {
            throw EntropyCodingError.invalidTable("table of \(symbolCount) symbols truncated")
        }
        let frequencies = words[(offset + 2)..<(offset + 2 + symbolCount)].map { UInt32($0) + 1 }
        try self.init(frequencies: frequencies, scaleBits: scaleBits)
        offset += 2 + symbolCount
    }

    public static func == (lhs: FrequencyTable, rhs: FrequencyTable) -> Bool {
        lhs.scaleBits == rhs.scaleBits && lhs.frequencies == rhs.frequencies
    }
}

/// A symbol's claim on the next slot; ties go to the lower symbol so tables are reproducible.
private struct HeapEntry {
    var gain: Double
    var symbol: Int

    func outranks(_ other: HeapEntry) -> Bool {
        gain > other.gain || (gain == other.gain && symbol < other.symbol)
    }
}

/// Just enough binary heap for the normaliser: read the best entry, replace it, restore order.
private struct MaxHeap {
    private var entries: [HeapEntry]

    init(elements: [HeapEntry]) {
        entries = elements
        for index in stride(from: entries.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
    }

    var top: HeapEntry { entries[0] }

    mutating func replaceTop(with entry: HeapEntry) {
        entries[0] = entry
        siftDown(0)
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1, right = left + 1
            var best = parent
            if left < entries.count && entries[left].outranks(entries[best]) { best = left }
            if right < entries.count && entries[right].outranks(entries[best]) { best = right }
            if best == parent { return }
            entries.swapAt(parent, best)
            parent = best
        }
    }
}
