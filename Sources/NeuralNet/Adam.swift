import SIMDSupport

/// Adam (Kingma & Ba 2015) with bias correction, optionally after clipping the global
/// gradient norm. `stepCount`, `m` and `v` are public so a checkpoint can resume exactly.
public final class Adam {
    public let parameters: [Parameter]
    public var learningRate: Float
    public var beta1: Float
    public var beta2: Float
    public var epsilon: Float
    /// When set, gradients are scaled so their global L2 norm is at most this before the update.
    public var maxGradientNorm: Float?
    public var stepCount: Int = 0
    public var m: [[Float]]
    public var v: [[Float]]

    public init(parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, maxGradientNorm: Float? = nil) {
        self.parameters = parameters
        (self.learningRate, self.beta1, self.beta2, self.epsilon, self.maxGradientNorm) =
            (learningRate, beta1, beta2, epsilon, maxGradientNorm)
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
        let t = Float(stepCount)
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        // PyTorch's arrangement: fold 1/(1−β1ᵗ) into the step size and divide √v by √(1−β2ᵗ).
        let stepSize = learningRate / (1 - powf(b1, t))
        let inverseSqrtCorrection2 = 1 / (1 - powf(b2, t)).squareRoot()
        for (index, p) in parameters.enumerated() {
            p.grad.data.withUnsafeBufferPointer { g in
                p.value.data.withUnsafeMutableBufferPointer { w in
                    m[index].withUnsafeMutableBufferPointer { mp in
                        v[index].withUnsafeMutableBufferPointer { vp in
                            let n = w.count
                            var i = 0
                            while i < n {
                                let full = i + 8 <= n
                                let gi = (full ? load8(g.baseAddress!, i) : loadPartial(g.baseAddress!, i, n)) * gradientScale
                                let mRaw = b1 * (full ? load8(mp.baseAddress!, i) : loadPartial(mp.baseAddress!, i, n)) + (1 - b1) * gi
                                let vRaw = b2 * (full ? load8(vp.baseAddress!, i) : loadPartial(vp.baseAddress!, i, n)) + (1 - b2) * gi * gi
                                // Moments of weights that never see a gradient (MNIST's blank border pixels) decay
                                // geometrically into denormals, which cost ~100x per operation: flush them to zero.
                                let mi = mRaw.replacing(with: 0, where: (mRaw .< 1e-30) .& (mRaw .> -1e-30))
                                let vi = vRaw.replacing(with: 0, where: vRaw .< 1e-30)
                                let wi = (full ? load8(w.baseAddress!, i) : loadPartial(w.baseAddress!, i, n))
                                    - stepSize * mi / (squareRoot(vi) * inverseSqrtCorrection2 + eps)
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

/// Adam on a handful of free values (latent vectors that the codec's refinement and the denoiser fit to one image),
/// with the paper's defaults (beta1 0.9, beta2 0.999, epsilon 1e-8) and its arrangement, m-hat / (sqrt(v-hat) + eps).
/// The `Adam` class above updates a network's parameters; this is the same rule for one value at a time.
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
    public func apply(_ x: inout Float, gradient g: Float, m: inout Float, v: inout Float) {
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        x -= learningRate * (m / c1) / ((v / c2).squareRoot() + 1e-8)
    }
}
