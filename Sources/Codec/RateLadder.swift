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
    /// The learned prior of the rungs whose `RungParameters.enabled` is set; nil for a model without one.
    public let hyperprior: Hyperprior?

    public init(rungs: [Rung], hyperprior: Hyperprior? = nil) {
        precondition(hyperprior.map { $0.rungs.count == rungs.count } ?? true)
        (self.rungs, self.hyperprior) = (rungs, hyperprior)
    }

    /// The ladder with a hyperprior fitted to it (`Hyperprior.fit`).
    public func with(_ hyperprior: Hyperprior?) -> RateLadder { RateLadder(rungs: rungs, hyperprior: hyperprior) }

    // A file's symbols: at a rung that uses the hyperprior, its side symbols and then the latent symbols; elsewhere
    // the latent symbols alone.

    /// The symbols a file of `rung` codes for an encoder mean (all latent dimensions).
    public func symbols(mean: ArraySlice<Float>, rung: Int) -> [Int32] {
        sideSymbols(mean: mean, rung: rung) + rungs[rung].quantizer.quantize(mean)
    }

    /// `symbols(mean:rung:)` at every rung, with h_a run once: only the side step differs between rungs.
    public func symbolsAtEveryRung(mean: ArraySlice<Float>) -> [[Int32]] {
        let sideLatents = hyperprior.map { $0.sideLatents(scaled(mean)) }
        return rungs.indices.map { rung in
            let side = usesHyperprior(rung: rung) ? Hyperprior.quantize(sideLatents!, step: hyperprior!.rungs[rung].sideStep) : []
            return side + rungs[rung].quantizer.quantize(mean)
        }
    }

    /// The side symbols a file of `rung` codes first for an encoder mean (none where the rung does not use the hyperprior).
    public func sideSymbols(mean: ArraySlice<Float>, rung: Int) -> [Int32] {
        guard let hyperprior, usesHyperprior(rung: rung) else { return [] }
        return hyperprior.sideSymbols(scaled(mean), rung: rung)
    }

    /// How many of a file's symbols at `rung` are side symbols.
    public func sideCount(rung: Int) -> Int { usesHyperprior(rung: rung) ? hyperprior!.sideCount : 0 }

    /// The side symbols' tables at `rung` (none where it does not use the hyperprior).
    public func sideTables(rung: Int) -> [SymbolTable] { usesHyperprior(rung: rung) ? hyperprior!.rungs[rung].sideTables : [] }

    /// The latent symbols' tables at `rung`, given the side symbols.
    public func latentTables(rung: Int, side: [Int32]) -> [SymbolTable] {
        usesHyperprior(rung: rung) ? hyperprior!.latentTables(side: side, rung: rung) : rungs[rung].tables
    }

    /// The tables that code a file's symbols.
    public func tables(for symbols: [Int32], rung: Int) -> [SymbolTable] {
        guard usesHyperprior(rung: rung) else { return rungs[rung].tables }
        return sideTables(rung: rung) + latentTables(rung: rung, side: Array(symbols.prefix(sideCount(rung: rung))))
    }

    /// The latent vector a file's symbols stand for.
    public func dequantize(_ symbols: [Int32], rung: Int) -> [Float] {
        rungs[rung].quantizer.dequantize(Array(symbols.dropFirst(sideCount(rung: rung))))
    }

    /// The transmitted means over their dimensions' typical posterior sigma: the hyperprior's input.
    public func scaled(_ mean: ArraySlice<Float>) -> [Float] {
        let quantizer = rungs[0].quantizer, multiplier = rungs[0].stepMultiplier
        return quantizer.transmitted.indices.map { i in mean[mean.startIndex + quantizer.transmitted[i]] * multiplier / quantizer.steps[i] }
    }

    func usesHyperprior(rung: Int) -> Bool { hyperprior?.rungs[rung].enabled ?? false }

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
