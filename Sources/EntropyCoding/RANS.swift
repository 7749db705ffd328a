// rANS with a 32-bit state and byte-wise renormalisation, after Fabian Giesen's ryg_rans (rans_byte.h).
//
// A symbol with frequency f and cumulative start s (out of M = 2^scaleBits) maps state x to
//     C(x) = (x / f) * M + (x % f) + s,
// which grows x by about log2(M / f) bits, i.e. exactly the symbol's information content.
// Between symbols the state is kept in [L, 256 L) by moving whole bytes out (encoder) or in (decoder).
// The decoder inverts C using only the low scaleBits of x, so it is a stack: the encoder must
// see the symbols last-to-first. RANSEncoder therefore buffers symbols and emits on finish().

/// Constants shared by encoder and decoder; changing any of them changes the bitstream.
public enum RANS {
    /// Lower bound of the normalised state interval [L, 256 L) (RANS_BYTE_L in ryg_rans).
    /// With L = 2^23 the state never reaches 2^31, so nothing overflows a UInt32.
    public static let stateLowerBound: UInt32 = 1 << 23

    /// Precision of a frequency table. The renormalisation needs L >> scaleBits >= 1, and the
    /// coding loss grows as M approaches L; 16 also lets decoded symbols fit a UInt16.
    public static let scaleBitsRange: ClosedRange<Int> = 1...16

    /// Bytes the encoder's final state occupies at the front of the stream.
    public static let stateByteCount = 4

    /// How many bits of a caller's check value the initial state can carry. The encoder must start at some
    /// state of at least L, and the stream pays for its log2 (about 23 bits) whatever it is; ryg_rans starts
    /// at L itself. Starting at L + check instead turns those bits into an integrity check at no cost: the
    /// decoder must end in exactly that state.
    public static let checkBits = 23

    /// The initial state that carries the low `checkBits` bits of `check`.
    public static func initialState(check: UInt32) -> UInt32 { stateLowerBound | (check & (stateLowerBound - 1)) }
}

public enum EntropyCodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The decoder needed a byte the stream does not have (a truncated or corrupt stream).
    case unexpectedEndOfStream
    /// The stream's first four bytes are not a state the encoder can produce.
    case invalidInitialState(UInt32)
    /// After the last symbol the state is not the encoder's initial one: the stream is corrupt, was
    /// decoded with different tables or a different symbol count, or its check value does not match.
    case finalStateMismatch(UInt32)
    /// The symbols were decoded but bytes remain: the stream was not produced for this input.
    case trailingBytes(Int)
    /// An escaped value decodes to something no Int32 encoder could have written.
    case invalidEscape
    /// A frequency or symbol table failed validation.
    case invalidTable(String)

    public var description: String {
        switch self {
        case .unexpectedEndOfStream: "the coded data ends early"
        case .invalidInitialState: "the coded data does not start with a valid coder state"
        case .finalStateMismatch: "the coded data fails its integrity check"
        case .trailingBytes(let count): "\(count) bytes follow the coded data"
        case .invalidEscape: "an escaped value is out of range"
        case .invalidTable(let problem): "invalid entropy table: \(problem)"
        }
    }
}

/// Collects symbols in order; `finish()` codes them (in reverse, as rANS requires) into bytes
/// that `RANSDecoder` reads forwards and yields in the original order.
public struct RANSEncoder: Sendable {
    /// A symbol's interval [start, start + frequency) out of 2^scaleBits.
    struct PendingSymbol: Sendable {
        var start: UInt32
        var frequency: UInt32
        var scaleBits: UInt32
    }

    private var pending: [PendingSymbol] = []

    public init() {}

    /// Number of symbols buffered so far.
    public var symbolCount: Int { pending.count }

    /// The primitive: any interval of any precision in `RANS.scaleBitsRange`; the decoder must use the same.
    public mutating func encode(start: UInt32, frequency: UInt32, scaleBits: Int) {
        precondition(RANS.scaleBitsRange.contains(scaleBits), "scaleBits \(scaleBits) out of range")
        precondition(frequency >= 1 && UInt64(start) + UInt64(frequency) <= UInt64(1) << scaleBits,
                     "interval [\(start), \(start)+\(frequency)) does not fit 2^\(scaleBits)")
        pending.append(PendingSymbol(start: start, frequency: frequency, scaleBits: UInt32(scaleBits)))
    }

    public mutating func encode(_ symbol: Int, with table: FrequencyTable) {
        precondition(symbol >= 0 && symbol < table.symbolCount, "symbol \(symbol) not in table")
        encode(start: table.cumulative[symbol], frequency: table.frequencies[symbol], scaleBits: table.scaleBits)
    }

    /// `count` raw bits (1...16) as one uniform symbol: frequency 1 out of 2^count costs exactly `count` bits.
    public mutating func encodeBits(_ value: UInt32, count: Int) {
        precondition(RANS.scaleBitsRange.contains(count) && value < UInt32(1) << count, "\(value) is not a \(count)-bit value")
        encode(start: value, frequency: 1, scaleBits: count)
    }

    /// The coded stream: the final state (4 bytes, little-endian) followed by the renormalisation bytes.
    /// `check` rides in the initial state (`RANS.initialState(check:)`); the decoder must be given it again.
    public func finish(check: UInt32 = 0) -> [UInt8] {
        let lowerBound = RANS.stateLowerBound
        // Bytes come out last-first; collect them backwards and reverse once at the end.
        var reversedBytes: [UInt8] = []
        reversedBytes.reserveCapacity(pending.count + RANS.stateByteCount)
        var state = RANS.initialState(check: check)
        for symbol in pending.reversed() {
            // Shift bytes out until C(state) is guaranteed to stay below 256 L. The bound is exact:
            // state < xMax  <=>  (state / f) * M < 256 L. xMax <= 2^31, so no overflow.
            let xMax = ((lowerBound >> symbol.scaleBits) << 8) * symbol.frequency
            while state >= xMax {
                reversedBytes.append(UInt8(truncatingIfNeeded: state))
                state >>= 8
            }
            state = ((state / symbol.frequency) << symbol.scaleBits) + state % symbol.frequency + symbol.start
        }
        for shift: UInt32 in [24, 16, 8, 0] {
            reversedBytes.append(UInt8(truncatingIfNeeded: state >> shift))
        }
        reversedBytes.reverse()
        return reversedBytes
    }
}

/// Reads a stream written by `RANSEncoder`. Every read is bounds-checked and the stream is
/// accepted only by `finish()`, so hostile input produces a thrown error, never a crash.
/// Decoding is integer-only and therefore bit-exact everywhere.
public struct RANSDecoder: Sendable {
    private let bytes: [UInt8]
    private var position: Int
    private var state: UInt32

    public init(bytes: [UInt8]) throws {
        guard bytes.count >= RANS.stateByteCount else { throw EntropyCodingError.unexpectedEndOfStream }
        let state = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        // The encoder always stops inside [L, 256 L); anything else is not one of its streams.
        guard state >= RANS.stateLowerBound && state < RANS.stateLowerBound << 8 else {
            throw EntropyCodingError.invalidInitialState(state)
        }
        self.bytes = bytes
        self.position = RANS.stateByteCount
        self.state = state
    }

    /// Bytes not yet consumed.
    public var remainingByteCount: Int { bytes.count - position }

    public mutating func decode(with table: FrequencyTable) throws -> Int {
        // The low scaleBits of the state fall inside exactly one symbol's interval.
        let symbol = table.symbol(atSlot: state & (table.total - 1))
        try advance(start: table.cumulative[symbol], frequency: table.frequencies[symbol], scaleBits: table.scaleBits)
        return symbol
    }

    public mutating func decodeBits(count: Int) throws -> UInt32 {
        precondition(RANS.scaleBitsRange.contains(count), "bit count \(count) out of range")
        let value = state & ((1 << UInt32(count)) - 1)
        try advance(start: value, frequency: 1, scaleBits: count)
        return value
    }

    /// The inverse of an encoder step for the symbol whose interval holds the state's low bits.
    public mutating func advance(start: UInt32, frequency: UInt32, scaleBits: Int) throws {
        let mask = (UInt32(1) << UInt32(scaleBits)) - 1
        precondition(frequency >= 1 && (state & mask) &- start < frequency, "state is not in this symbol's interval")
        // D(x) = f * (x / M) + (x % M) - s; with x < 2^31 the result stays below 2^31.
        state = frequency * (state >> UInt32(scaleBits)) + (state & mask) - start
        while state < RANS.stateLowerBound {
            guard position < bytes.count else { throw EntropyCodingError.unexpectedEndOfStream }
            state = state << 8 | UInt32(bytes[position])
            position += 1
        }
    }

    /// Accepts the stream only if decoding ended exactly where encoding began: the initial state that
    /// carries `check` (the value given to the encoder's `finish`), and no unread bytes. Call after the last symbol.
    public func finish(check: UInt32 = 0) throws {
        guard state == RANS.initialState(check: check) else { throw EntropyCodingError.finalStateMismatch(state) }
        guard position == bytes.count else { throw EntropyCodingError.trailingBytes(bytes.count - position) }
    }
}
