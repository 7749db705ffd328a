/// SplitMix64 (Steele, Lea, Flood 2014): the seeded generator behind data splits and shuffles.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// xoshiro256** (Blackman & Vigna), seeded through SplitMix64. The whole state is four
/// words, readable and writable, so a checkpoint can resume the exact random stream.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable {
    public var state: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var splitMix = SplitMix64(seed: seed)
        state = (splitMix.next(), splitMix.next(), splitMix.next(), splitMix.next())
    }

    public var stateWords: [UInt64] {
        get { [state.0, state.1, state.2, state.3] }
        set {
            precondition(newValue.count == 4 && newValue.contains { $0 != 0 }, "xoshiro256** needs 4 words, not all zero")
            state = (newValue[0], newValue[1], newValue[2], newValue[3])
        }
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotateLeft(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotateLeft(state.3, 45)
        return result
    }

    @inline(__always)
    private func rotateLeft(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 random bits.
    @inline(__always)
    public mutating func nextFloat() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Uniform in (0, 1] with 53 random bits: never 0, so log() is finite.
    @inline(__always)
    mutating func nextOpenDouble() -> Double { Double((next() >> 11) + 1) * 0x1p-53 }

    /// Standard normals by Box–Muller, two per pair of uniforms. No spare is cached between
    /// calls (an odd tail discards one), so the four state words are the entire state.
    public mutating func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, mean: Float = 0, standardDeviation: Float = 1) {
        var i = 0
        while i < buffer.count {
            let radius = (-2.0 * _log(nextOpenDouble())).squareRoot()
            let angle = 2.0 * Double.pi * nextOpenDouble()
            buffer[i] = mean + standardDeviation * Float(radius * _cos(angle))
            if i + 1 < buffer.count { buffer[i + 1] = mean + standardDeviation * Float(radius * _sin(angle)) }
            i += 2
        }
    }

    public mutating func normalTensor(shape: [Int], mean: Float = 0, standardDeviation: Float = 1) -> Tensor {
        Tensor(shape: shape) { fillNormal($0, mean: mean, standardDeviation: standardDeviation) }
    }
}

// Foundation-free libm access keeps NeuralNet's RNG usable from any module.
#if canImport(Glibc)
import Glibc
@inline(__always) func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Glibc.cos(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Glibc.sin(x) }
#else
import Darwin
@inline(__always) func _log(_ x: Double) -> Double { Darwin.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Darwin.cos(x) }
@inline(__always) func _sin(_ x: Double) -> Double { Darwin.sin(x) }
#endif
