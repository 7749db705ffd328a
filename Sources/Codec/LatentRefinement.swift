import Foundation
import NeuralNet

/// Encoder-side search for symbols that code one image better than rounding the encoder's mean.
///
/// The encoder is amortised: one network guesses the latent of every image, and rounding its guess to the
/// rung's steps ignores both what the decoder makes of the result and what the bits cost. Starting from the
/// mean, in units of each dimension's step, Adam steps on a continuous y lower
///     J(y) = SSE(D(s * round(y))) + lambda * bits(round(y)),
/// with the distortion's gradient passed straight through the rounding and each dimension's code length
/// interpolated between the two integers around y. Every step decodes the rounded y anyway, so the symbols with
/// the least J seen are kept at no extra cost, the plain rounding among them: the result is never worse than
/// it (in these terms; `RateControl` checks the real file). The decoder does not change, so neither does the
/// format. Small steps work best: Adam moves each coordinate by about the learning rate a step, so what the
/// search mostly decides is which way the coordinates near a rounding boundary should go.
///
/// Measured on 100 held-out faces (`--quality` on the scale of the time, SSE + lambda * bits), faces-grid-b4 at
/// lambda 351 (`--quality` 55): at rung 6, 30 steps at 0.005 took the canvas from 29.05 to 29.56 dB for 3.4 % more
/// bits; at rung 7 from 30.22 to 30.73 dB for 1.2 % more.
/// Learning rates of 0.1 and 0.3 gained 0.12 and 0.02 dB at rung 7; 100 steps gained no more than 50. The global
/// faces model (128 latents) at lambda 1500, rung 4, gained 0.52 dB at 0.005 but 0.86 dB at 0.02, hence two searches.
/// Once the global models take part, longer searches still gain: with the faces family at the old `--quality` 43
/// (100 held-out faces, half of them coded by the global `faces`), 60 steps gave 27.095 dB at 0.1046 bpp against
/// 30 steps' 27.054 dB at 0.1050, for 1.5 times the encoding time; a third search at 0.06 gained 0.007 dB.
public struct LatentRefiner: Sendable {
    public static let defaultSteps = 60

    /// The default effort's search: one search whose learning rate falls from 0.03 to 0.01 to 0.003, each time 4
    /// steps pass without a gain, and which stops after the last (at most 60 steps); many images in one batch.
    /// Large steps find the direction, small ones settle the coordinates near a rounding boundary. On 100 validation
    /// faces and 100 MNIST digits (held-out images past the bench's 300) at `--quality` 60, in the quality's cost
    /// (-PSNR + price * bits, dB) and decoder passes per image, against the two searches at 0.01 and 0.03 that
    /// stopped after 6 steps without a gain: faces -28.396 against -28.333 in 25.1 passes against 30.4, digits
    /// -36.305 against -36.033 in 29.4 against 41.0. Faces do best at small rates (0.01 alone: -28.332 in 19.7) and
    /// digits at large ones (0.03 alone, stopping after 14 steps: -36.512 in 42.7); falling rates serve both.
    public static let balanced = LatentRefiner(steps: 60, searches: [[0.03, 0.01, 0.003]], patience: 4)

    public var steps: Int
    /// The searches, run side by side as one decoder batch; the best symbols of any of them win. Each is the
    /// learning rates it takes in turn (see `patience`).
    public var searches: [[Float]]

    /// A search moves on to its next learning rate once this many steps have passed without improving its own best,
    /// and stops after its last, so the batch shrinks as searches settle (nil: each search keeps its first rate for
    /// all `steps`).
    public var patience: Int?

    public init(steps: Int = defaultSteps, searches: [[Float]] = [[0.005], [0.02]], patience: Int? = nil) {
        precondition(!searches.isEmpty && searches.allSatisfy { !$0.isEmpty })
        self.steps = steps
        self.searches = searches
        self.patience = patience
    }

    /// The best symbols found for the image whose pixels (0...255) are `canvas` and whose encoder mean is `mean`.
    public func refine(mean: [Float], rung: Int, model: CodecModel, canvas: [Float], lambda: Double) -> [Int32] {
        refine([Job(mean: mean, rung: rung, canvas: canvas, lambda: lambda)], model: model)[0]
    }

    /// One image to refine: its encoder mean, the rung it is coded at, its canvas (0...255) and the price of a bit
    /// in squared error.
    public struct Job {
        public var mean: [Float], rung: Int, canvas: [Float], lambda: Double
        public init(mean: [Float], rung: Int, canvas: [Float], lambda: Double) {
            (self.mean, self.rung, self.canvas, self.lambda) = (mean, rung, canvas, lambda)
        }
    }

    /// The best symbols for each job, all of one model: every search of every image is one row of one decoder
    /// batch, so the products are as wide as the batch. Each row's arithmetic is its own, so an image's result does
    /// not depend on the others in the batch.
    public func refine(_ jobs: [Job], model: CodecModel) -> [[Int32]] {
        guard !jobs.isEmpty else { return [] }
        let k = model.vae.config.latent, pixels = model.canvas * model.canvas, searchCount = searches.count
        precondition(jobs.allSatisfy { $0.canvas.count == pixels && $0.mean.count == k })
        // Row r = job * searchCount + search; `active` lists the rows still searching, in order.
        let rows = jobs.count * searchCount
        let rungs = jobs.map { model.ladder.rungs[$0.rung] }
        let count = rungs[0].quantizer.transmitted.count
        let transmitted = rungs[0].quantizer.transmitted
        let targets = jobs.map { $0.canvas.map { min(max($0, 0), 255) / 255 } }
        // The side symbols stay those of the encoder's mean; the latent symbols are searched under the tables they give.
        let sides = jobs.map { model.ladder.sideSymbols(mean: $0.mean[...], rung: $0.rung) }
        let jobTables = jobs.indices.map { model.ladder.latentTables(rung: jobs[$0].rung, side: sides[$0]) }
        var y = [Float]()
        y.reserveCapacity(rows * count)
        for (j, job) in jobs.enumerated() {
            let steps = rungs[j].quantizer.steps
            let start = transmitted.indices.map { job.mean[transmitted[$0]] / steps[$0] }
            for _ in 0..<searchCount { y += start }
        }
        var m = [Float](repeating: 0, count: y.count), v = m
        var best = [[Int32]](repeating: [], count: jobs.count), bestCost = [Double](repeating: .infinity, count: jobs.count)
        var rowBest = [Double](repeating: .infinity, count: rows), rowImproved = [Int](repeating: 0, count: rows)
        var stage = [Int](repeating: 0, count: rows)  // which of its search's learning rates each row is at
        var rounded = [Int32](repeating: 0, count: y.count)
        var active = Array(0..<rows)
        for step in 0...steps {
            for r in active {
                for i in 0..<count { rounded[r * count + i] = Int32(max(-1e9, min(1e9, y[r * count + i].rounded()))) }
            }
            var z = [Float](repeating: 0, count: active.count * k)
            for (a, r) in active.enumerated() {
                let steps = rungs[r / searchCount].quantizer.steps
                for i in 0..<count { z[a * k + transmitted[i]] = Float(rounded[r * count + i]) * steps[i] }
            }
            var sse = [Double](repeating: 0, count: active.count)
            let (_, dz) = model.vae.decoderGradient(z: Tensor(shape: [active.count, k], data: z)) { mean in
                var gradient = mean
                for (a, r) in active.enumerated() {
                    let target = targets[r / searchCount]
                    var sum = 0.0
                    for i in 0..<pixels {
                        let residual = mean.data[a * pixels + i] - target[i]
                        sum += Double(residual * residual)
                        gradient.data[a * pixels + i] = 2 * 255 * 255 * residual  // d SSE / d mean, SSE in 8-bit units
                    }
                    sse[a] = sum
                }
                return gradient
            }
            for (a, r) in active.enumerated() {
                let j = r / searchCount, tables = jobTables[j]
                let symbols = Array(rounded[(r * count)..<((r + 1) * count)])
                let cost = sse[a] * 255 * 255 + jobs[j].lambda * zip(symbols, tables).reduce(0) { $0 + $1.1.codeLength(of: $1.0) }
                if cost < bestCost[j] { (best[j], bestCost[j]) = (symbols, cost) }
                if cost < rowBest[r] { (rowBest[r], rowImproved[r]) = (cost, step) }
            }
            if step == steps { break }

            for (a, r) in active.enumerated() {
                let j = r / searchCount, tables = jobTables[j], stepSizes = rungs[j].quantizer.steps
                let adam = AdamStep(step: step + 1, learningRate: searches[r % searchCount][stage[r]]), lambda = jobs[j].lambda
                for i in 0..<count {
                    let at = r * count + i
                    let below = Int32(max(-1e9, min(1e9, y[at].rounded(.down))))
                    let bitsSlope = tables[i].codeLength(of: below + 1) - tables[i].codeLength(of: below)
                    let g = dz.data[a * k + transmitted[i]] * stepSizes[i] + Float(lambda * bitsSlope)
                    adam.apply(&y[at], gradient: g, m: &m[at], v: &v[at])
                }
            }
            if let patience {
                for r in active where step + 1 - rowImproved[r] > patience && stage[r] + 1 < searches[r % searchCount].count {
                    (stage[r], rowImproved[r]) = (stage[r] + 1, step + 1)
                }
                active.removeAll { step + 1 - rowImproved[$0] > patience }
            }
            if active.isEmpty { break }
        }
        return jobs.indices.map { sides[$0] + best[$0] }
    }
}
