// Explicit 8-wide SIMD for the elementwise loops that matter. SwiftPM builds for baseline
// x86-64 (SSE2), where LLVM will not vectorise loops calling expf/log1pf/sqrtf, and scalar
// libm calls cost more than the GEMMs of a small MLP. SIMD8 lowers to pairs of SSE ops.

@usableFromInline package typealias Float8 = SIMD8<Float>

@inlinable @inline(__always)
package func load8(_ p: UnsafePointer<Float>, _ i: Int) -> Float8 {
    UnsafeRawPointer(p + i).loadUnaligned(as: Float8.self)
}

@inlinable @inline(__always)
package func store8(_ v: Float8, _ p: UnsafeMutablePointer<Float>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: Float8.self)
}

/// Lanes past `count` read as `fill`, so a loop tail goes through the same vector code.
@inlinable @inline(__always)
package func loadPartial(_ p: UnsafePointer<Float>, _ i: Int, _ count: Int, fill: Float = 0) -> Float8 {
    var v = Float8(repeating: fill)
    for lane in 0..<min(8, count - i) { v[lane] = p[i + lane] }
    return v
}

@inlinable @inline(__always)
package func storePartial(_ v: Float8, _ p: UnsafeMutablePointer<Float>, _ i: Int, _ count: Int) {
    for lane in 0..<min(8, count - i) { p[i + lane] = v[lane] }
}

/// √x for x ≥ 0. SIMD8.squareRoot() is scalarised lane by lane (with an errno check) on this
/// target, so: a bit-trick 1/√x estimate, three Newton steps (rel. error ~2e-7), times x.
@inlinable @inline(__always)
package func squareRoot(_ x: Float8) -> Float8 {
    var y = unsafeBitCast(0x5F37_5A86 &- (unsafeBitCast(x, to: SIMD8<Int32>.self) &>> 1), to: Float8.self)
    let half = 0.5 * x
    y = y * (1.5 - half * y * y)
    y = y * (1.5 - half * y * y)
    y = y * (1.5 - half * y * y)
    return x * y  // x = 0 gives 0: y stays finite
}

/// Lanes `count…7` zeroed, for sums over a loop tail.
@inlinable @inline(__always)
package func maskTail(_ v: Float8, _ i: Int, _ count: Int) -> Float8 {
    var v = v
    for lane in max(0, count - i)..<8 { v[lane] = 0 }
    return v
}

/// e^x for x ≤ 0 (Cephes expf): x = n·ln2 + r, |r| ≤ ½ln2, degree-6 polynomial, 2ⁿ through the
/// exponent bits. Relative error ~1e-7; inputs below −87 return ~0 instead of denormals.
@inlinable @inline(__always)
package func expNonPositive(_ x: Float8) -> Float8 {
    let x = x.replacing(with: -87, where: x .< -87)
    // Adding 1.5·2²³ rounds to an integer (SSE2 has no vector round) and leaves that integer
    // in the low mantissa bits, so 2ⁿ needs no float→int conversion either.
    let magic = Float8(repeating: 12_582_912)
    let shifted = x * 1.442_695_04 + magic
    let n = shifted - magic
    let r = x - n * 0.693_359_375 - n * -2.121_944_4e-4
    var p = Float8(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 0.166_666_65
    p = p * r + 0.5
    p = p * r * r + r + 1
    let integerN = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let twoToN = unsafeBitCast((integerN &+ 127) &<< 23, to: Float8.self)
    return p * twoToN
}

/// log(1 + e) for e in [0, 1] (Cephes logf core). Writing 1 + e = 2ᵏ(1 + f) with f taken
/// straight from e (not from the rounded sum 1 + e) keeps full relative accuracy for tiny e.
@inlinable @inline(__always)
package func log1pUnitInterval(_ e: Float8) -> Float8 {
    let large = e .> 0.414_213_56  // 1 + e > √2: halve it
    let f = e.replacing(with: (e - 1) * 0.5, where: large)
    let z = f * f
    var p = Float8(repeating: 7.037_683_6e-2)
    p = p * f - 1.151_461_03e-1
    p = p * f + 1.167_699_87e-1
    p = p * f - 1.242_014_08e-1
    p = p * f + 1.424_932_28e-1
    p = p * f - 1.666_805_77e-1
    p = p * f + 2.000_071_48e-1
    p = p * f - 2.499_999_4e-1
    p = p * f + 3.333_333_1e-1
    let logOnePlusF = f + (p * f * z - 0.5 * z)
    return logOnePlusF + Float8(repeating: 0).replacing(with: 0.693_147_18, where: large)
}

/// 1 / (1 + e^−x) without overflow for any x: with e = e^−|x|, σ = 1/(1+e) or e/(1+e).
@inlinable @inline(__always)
package func sigmoid(_ x: Float8) -> Float8 {
    let e = expNonPositive(-abs(x))
    let r = 1 / (1 + e)
    return (e * r).replacing(with: r, where: x .>= 0)
}

@inline(__always)
@inlinable package func abs(_ x: Float8) -> Float8 { x.replacing(with: -x, where: x .< 0) }

package enum ElementwiseLoss {
    /// Σ −log Bernoulli(x; sigmoid(o)) = Σ max(o,0) − x·o + log1p(e^−|o|), stable for any logit.
    /// When `dLogits` is given it receives (sigmoid(o) − x)·gradientScale.
    package static func bernoulliWithLogits(logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, count: Int,
                                           gradientScale: Float, dLogits: UnsafeMutablePointer<Float>?) -> Double {
        var total = 0.0
        var runSum = Float8()
        var i = 0
        while i < count {
            let full = i + 8 <= count
            let o = full ? load8(logits, i) : loadPartial(logits, i, count)
            let x = full ? load8(targets, i) : loadPartial(targets, i, count)
            let e = expNonPositive(-abs(o))
            var loss = o.replacing(with: 0, where: o .< 0) - x * o + log1pUnitInterval(e)
            if !full { loss = maskTail(loss, i, count) }
            runSum += loss
            if let d = dLogits {
                let r = 1 / (1 + e)
                let s = (e * r).replacing(with: r, where: o .>= 0)
                let g = (s - x) * gradientScale
                if full { store8(g, d, i) } else { storePartial(g, d, i, count) }
            }
            i += 8
            // Flush the Float lanes into Double every 1024 elements so long sums stay exact.
            if i & 1023 == 0 || i >= count {
                total += Double(runSum.sum())
                runSum = Float8()
            }
        }
        return total
    }
}

/// out[i] = f(a[i]), eight at a time.
@inlinable @inline(__always)
package func mapElements(_ count: Int, _ a: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, _ f: (Float8) -> Float8) {
    var i = 0
    while i + 8 <= count { store8(f(load8(a, i)), out, i); i += 8 }
    if i < count { storePartial(f(loadPartial(a, i, count)), out, i, count) }
}

/// out[i] = f(a[i], b[i]), eight at a time.
@inlinable @inline(__always)
package func mapElements(_ count: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                 _ f: (Float8, Float8) -> Float8) {
    var i = 0
    while i + 8 <= count { store8(f(load8(a, i), load8(b, i)), out, i); i += 8 }
    if i < count { storePartial(f(loadPartial(a, i, count), loadPartial(b, i, count)), out, i, count) }
}

/// Elementwise sigmoid over a buffer, in place or not; for callers outside the module (decoders).
package func applySigmoid(_ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, count: Int) {
    mapElements(count, input, into: output) { sigmoid($0) }
}
