import SIMDSupport
import Foundation
import NeuralNet

/// The terms of the evidence lower bound, each returning a sum over all elements (in Double)
/// and optionally writing its gradient times `gradientScale` (the caller's 1/(batch·samples)).
public enum ELBO {
    static let logTwoPi = Float(log(2.0 * Double.pi))

    /// Σ −log Bernoulli(x; sigmoid(o)) = Σ softplus(o) − x·o, computed as
    /// max(o,0) − x·o + log1p(e^−|o|) so no exponent can overflow. d/do = sigmoid(o) − x.
    static func bernoulli(logits: UnsafePointer<Float>, targets: UnsafePointer<Float>, count: Int,
                          gradientScale: Float, dLogits: UnsafeMutablePointer<Float>?) -> Double {
        ElementwiseLoss.bernoulliWithLogits(logits: logits, targets: targets, count: count,
                                            gradientScale: gradientScale, dLogits: dLogits)
    }

    /// Σ −log N(x; m, σ²) with m = sigmoid(o): ½(log 2π + log σ² + (x − m)²/σ²).
    /// `logVariance` holds one value (fixed/global, `perPixel` false) or one per pixel, indexed
    /// by element mod `pixels`. Its gradient is *added* into `dLogVariance` (a parameter gradient).
    static func gaussian(outputs: UnsafePointer<Float>, targets: UnsafePointer<Float>, count: Int, pixels: Int,
                         logVariance: UnsafePointer<Float>, perPixel: Bool, clampLogVariance: Bool,
                         gradientScale: Float, dOutputs: UnsafeMutablePointer<Float>?,
                         dLogVariance: UnsafeMutablePointer<Float>?) -> Double {
        let range = VAEConfig.logVarianceRange
        var total = 0.0
        for imageStart in stride(from: 0, to: count, by: pixels) {
            var partial: Float = 0
            for p in 0..<pixels {
                let i = imageStart + p
                let raw = logVariance[perPixel ? p : 0]
                let lv = clampLogVariance ? min(max(raw, range.lowerBound), range.upperBound) : raw
                let inverseVariance = expf(-lv)
                let mean = 1 / (1 + expf(-outputs[i]))
                let residual = targets[i] - mean
                let scaledSquare = residual * residual * inverseVariance
                partial += 0.5 * (logTwoPi + lv + scaledSquare)
                if let d = dOutputs {
                    d[i] = -residual * inverseVariance * mean * (1 - mean) * gradientScale
                }
                if let dlv = dLogVariance, !clampLogVariance || range.contains(raw) {
                    dlv[perPixel ? p : 0] += 0.5 * (1 - scaledSquare) * gradientScale
                }
            }
            total += Double(partial)
        }
        return total
    }

    /// KL(N(μ, σ²) ‖ N(0, 1)) = ½(μ² + σ² − 1 − log σ²) in nats, for one latent dimension: the closed form every KL
    /// in vaecodec is a sum of.
    @inline(__always)
    public static func gaussianKL(mu: Float, logVariance: Float) -> Float {
        0.5 * (mu * mu + expf(logVariance) - 1 - logVariance)
    }

    /// Σ KL(N(μᵢ, σᵢ²) ‖ N(0, 1)) over `count` dimensions.
    static func kl(mu: UnsafePointer<Float>, logVariance: UnsafePointer<Float>, count: Int) -> Double {
        var total = 0.0
        for i in 0..<count { total += Double(gaussianKL(mu: mu[i], logVariance: logVariance[i])) }
        return total
    }
}
