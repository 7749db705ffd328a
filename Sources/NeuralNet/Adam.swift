import SIMDSupport

/// Adam (Kingma & Ba 2015) over a network's parameters, optionally after clipping the global gradient norm: each
/// element follows `AdamStep`, the one update rule vaecodec has (the codec's refinement and the denoiser use it on
/// latent values). `stepCount`, `m` and `v` are public so a checkpoint can resume exactly.
public final class Adam {
    public let parameters: [Parameter]
    public var learningRate: Float
    /// When set, gradients are scaled so their global L2 norm is at most this before the update.
    public var maxGradientNorm: Float?
    public var stepCount: Int = 0
    public var m: [[Float]]
    public var v: [[Float]]

    public init(parameters: [Parameter], learningRate: Float = 1e-3, maxGradientNorm: Float? = nil) {
        self.parameters = parameters
        (self.learningRate, self.maxGradientNorm) = (learningRate, maxGradientNorm)
        m = parameters.map { [Float](repeating: 0, count: $0.value.count) }
        v = m
    }

    public func zeroGradients() {
        for p in parameters { p.zeroGradient() }
    }

    public func gradientNorm() -> Double {
        var sumOfSquares = 0.0
        for p in parameters {
            p.grad.data.withUnsafeBufferPointer { g in
                var partial: Float = 0
                for i in 0..<g.count { partial += g[i] * g[i] }
                sumOfSquares += Double(partial)
            }
        }
        return sumOfSquares.squareRoot()
    }

    /// One update from the accumulated gradients; returns the gradient norm before clipping
    /// (or nil when clipping is off, to avoid an extra pass over the gradients).
    @discardableResult
    public func step() -> Double? {
        var norm: Double?
        var gradientScale: Float = 1
        if let maxNorm = maxGradientNorm {
            let n = gradientNorm()
            norm = n
            if n > Double(maxNorm) { gradientScale = Float(Double(maxNorm) / (n + 1e-12)) }
        }
        stepCount += 1
        let rule = AdamStep(step: stepCount, learningRate: learningRate)
        for (index, p) in parameters.enumerated() {
            p.grad.data.withUnsafeBufferPointer { g in
                p.value.data.withUnsafeMutableBufferPointer { w in
                    m[index].withUnsafeMutableBufferPointer { mp in
                        v[index].withUnsafeMutableBufferPointer { vp in
                            let n = w.count
                            var i = 0
                            while i < n {
                                let full = i + 8 <= n
                                func load(_ p: UnsafeMutablePointer<Float>) -> Float8 { full ? load8(p, i) : loadPartial(p, i, n) }
                                let gi = (full ? load8(g.baseAddress!, i) : loadPartial(g.baseAddress!, i, n)) * gradientScale
                                var (wi, mi, vi) = (load(w.baseAddress!), load(mp.baseAddress!), load(vp.baseAddress!))
                                rule.apply(&wi, gradient: gi, m: &mi, v: &vi)
                                // Moments of weights that never see a gradient (MNIST's blank border pixels) decay
                                // geometrically into denormals, which cost ~100x per operation: flush them to zero.
                                mi.replace(with: 0, where: (mi .< 1e-30) .& (mi .> -1e-30))
                                vi.replace(with: 0, where: vi .< 1e-30)
                                if full {
                                    store8(mi, mp.baseAddress!, i); store8(vi, vp.baseAddress!, i); store8(wi, w.baseAddress!, i)
                                } else {
                                    storePartial(mi, mp.baseAddress!, i, n); storePartial(vi, vp.baseAddress!, i, n)
                                    storePartial(wi, w.baseAddress!, i, n)
                                }
                                i += 8
                            }
                        }
                    }
                }
            }
        }
        return norm
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Adam's update (Kingma & Ba 2015), with the paper's constants (beta1 0.9, beta2 0.999, epsilon 1e-8) and its
/// arrangement, m-hat / (sqrt(v-hat) + eps): the one optimiser rule in vaecodec. `Adam` applies it to a network's
/// parameters eight at a time; the codec's refinement and the denoiser apply it to latent values one at a time.
public struct AdamStep {
    let c1: Float, c2: Float
    public let learningRate: Float

    /// The bias corrections of step `step` (1 for the first).
    public init(step: Int, learningRate: Float) {
        let t = Float(step)
        (c1, c2, self.learningRate) = (1 - powf(0.9, t), 1 - powf(0.999, t), learningRate)
    }

    /// Updates `x` and its moments `m`, `v` by the gradient `g`.
    @inline(__always)
    public func apply(_ x: inout Float, gradient g: Float, m: inout Float, v: inout Float) { update(&x, g, &m, &v) }

    /// The same, eight values at a time (the square root is `SIMDSupport`'s, within 2e-7 of the exact one).
    @inline(__always)
    func apply(_ x: inout Float8, gradient g: Float8, m: inout Float8, v: inout Float8) { update(&x, g, &m, &v) }

    @inline(__always)
    private func update<Value: AdamValue>(_ x: inout Value, _ g: Value, _ m: inout Value, _ v: inout Value) {
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x = x - learningRate * (m / c1) / ((v / c2).adamSquareRoot + 1e-8)
    }
}

/// What Adam's rule needs of a value: a Float, or eight of them.
protocol AdamValue {
    static func + (a: Self, b: Self) -> Self
    static func - (a: Self, b: Self) -> Self
    static func * (a: Self, b: Self) -> Self
    static func * (a: Float, b: Self) -> Self
    static func / (a: Self, b: Self) -> Self
    static func / (a: Self, b: Float) -> Self
    static func + (a: Self, b: Float) -> Self
    var adamSquareRoot: Self { get }
}

extension Float: AdamValue {
    var adamSquareRoot: Float { squareRoot() }
}

extension SIMD8: AdamValue where Scalar == Float {
    var adamSquareRoot: SIMD8<Float> { SIMDSupport.squareRoot(self) }
}
