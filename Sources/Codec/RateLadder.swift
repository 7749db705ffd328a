import EntropyCoding
import VAE

/// Uniform scalar quantization of the latent means, one step per transmitted dimension.
/// A dimension the model does not use (its KL on the training data is ~0) is never sent: the decoder
/// puts the prior mean, 0, there.
public struct LatentQuantizer: Equatable, Sendable {
    public let latentSize: Int
    public let transmitted: [Int]
    public let steps: [Float]

    public init(latentSize: Int, transmitted: [Int], steps: [Float]) {
        precondition(transmitted.count == steps.count && transmitted.allSatisfy { (0..<latentSize).contains($0) })
        self.latentSize = latentSize
        self.transmitted = transmitted
        self.steps = steps
    }

    /// Index of the nearest reconstruction level of each transmitted dimension.
    public func quantize(_ mu: ArraySlice<Float>) -> [Int32] {
        let base = mu.startIndex
        return transmitted.indices.map { i in
            let q = (mu[base + transmitted[i]] / steps[i]).rounded()
            return Int32(max(-1e9, min(1e9, q.isNaN ? 0 : q)))
        }
    }

    public func dequantize(_ symbols: [Int32]) -> [Float] {
        var z = [Float](repeating: 0, count: latentSize)
        for i in transmitted.indices { z[transmitted[i]] = Float(symbols[i]) * steps[i] }
        return z
    }
}

/// One rate point: a quantizer and, per transmitted dimension, the integer table that codes its indices.
public struct Rung: Equatable, Sendable {
    public let quantizer: LatentQuantizer
    public let tables: [SymbolTable]
    /// The step as a multiple of each dimension's typical posterior standard deviation.
    public let stepMultiplier: Float
}

/// The model's rate points, coarsest first. Each rung's step is a multiple of the dimension's average posterior
/// standard deviation: the encoder is unsure about a latent to about that precision anyway, so a step near 1x
/// loses little, coarser steps trade quality for bits, finer ones add bits with diminishing return.
public struct RateLadder: Equatable, Sendable {
    /// Steps of 32 and 23 sigma reach the lowest rates: most means then round to 0 and cost almost nothing.
    public static let stepMultipliers: [Float] = [32, 23, 16, 11, 8, 5.6, 4, 2.8, 2, 1.4]
    public let rungs: [Rung]

    public init(rungs: [Rung]) { self.rungs = rungs }

    /// Fits the ladder from training-set posteriors: `mu` and `sigma` are N x latent, row-major.
    public static func fit(mu: [Float], sigma: [Float], klPerDimension: [Double], latentSize: Int,
                           multipliers: [Float] = stepMultipliers) throws -> RateLadder {
        let n = mu.count / latentSize
        precondition(n > 0 && mu.count == sigma.count && klPerDimension.count == latentSize)
        let transmitted = (0..<latentSize).filter { klPerDimension[$0] > Trainer.activeThreshold }
        let typicalSigma = transmitted.map { d in
            Float((0..<n).reduce(0.0) { $0 + Double(sigma[$1 * latentSize + d]) } / Double(n))
        }
        let rungs = try multipliers.map { multiplier in
            let quantizer = LatentQuantizer(latentSize: latentSize, transmitted: transmitted,
                                            steps: typicalSigma.map { max(1e-4, $0 * multiplier) })
            var columns = [[Int32]](repeating: [], count: transmitted.count)
            for row in 0..<n {
                let symbols = quantizer.quantize(mu[(row * latentSize)..<((row + 1) * latentSize)])
                for i in symbols.indices { columns[i].append(symbols[i]) }
            }
            let tables = try columns.map(SymbolTable.fitted(to:))
            return Rung(quantizer: quantizer, tables: tables, stepMultiplier: multiplier)
        }
        return RateLadder(rungs: rungs)
    }
}
