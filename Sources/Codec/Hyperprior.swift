import EntropyCoding
import Foundation
import NeuralNet

/// A learned prior over a codec model's latents: side information that predicts each latent's table.
///
/// Ballé et al. (2018), with the mean of Minnen et al. (2018), over a trained model's latents (the networks are
/// trained by Training/torch/hyperprior.py; `calibrate` makes them into this). Each transmitted mean, over its
/// dimension's typical posterior sigma, is y; a rung with step multiplier m codes round(y / m) as now. At a rung that
/// uses the hyperprior the file first codes side symbols s = round(h_a(y) / q), each under its own fitted table, and
/// then each latent symbol under a Gaussian table whose centre and scale h_s(s) predicts.
///
/// The encoder runs h_a in Float: it only chooses the side symbols, which the file then carries. The decoder's h_s
/// and the step from its output to a table are integers throughout (docs/FORMAT.md gives the arithmetic), so every
/// machine decodes the same tables from the same side symbols.
public struct Hyperprior: Equatable, Sendable {
    /// h_a: y (T) -> ReLU(analysis0 y) (W) -> analysis2 (H), Float.
    public let analysis0: DenseWeights<Float>, analysis2: DenseWeights<Float>
    /// h_s in fixed point: weights of 8 fractional bits, biases of 16, so a layer's sums carry 16 fractional bits.
    public let synthesis0: DenseWeights<Int32>, synthesis2: DenseWeights<Int32>
    /// Gaussian tables over -radius...radius (and ESCAPE): `bank[f * bankSize + k]` has deviation
    /// smallestScale * exp(k * scaleRatio) latent steps and mean f / 2^centreBits symbols. A predicted log-scale picks k
    /// in steps of `scaleIndexStep` (16 fractional bits), and the predicted mean's fraction of a symbol picks f.
    public let bank: [SymbolTable]
    public let scaleIndexStep: Int64
    /// The fractional bits of a predicted mean that choose its table (0: whole symbols, as in files written before).
    public let centreBits: Int
    public let rungs: [RungParameters]

    /// What a rung needs of the hyperprior; `enabled` is false where the side symbols cost more than they save.
    public struct RungParameters: Equatable, Sendable {
        public let enabled: Bool
        /// q: the side symbols' step (encoder only).
        public let sideStep: Float
        /// round(q * 2^8): the side symbol's value entering h_s, in 8 fractional bits.
        public let inputScale: Int32
        /// round(2^16 / m): the predicted mean, 16 fractional bits in y's units, to the nearest 2^-centreBits symbol
        /// is (mean * meanMultiplier * 2^centreBits + 2^31) >> 32.
        public let meanMultiplier: Int32
        /// round(2^16 (ln m + ln smallestScale)): the table index is (logScale - scaleOffset + step / 2) / step.
        public let scaleOffset: Int32
        public let sideTables: [SymbolTable]
    }

    /// Weights [outputs x inputs] and biases of one dense layer.
    public struct DenseWeights<Scalar: Equatable & Sendable>: Equatable, Sendable {
        public let outputs: Int, inputs: Int
        public let weight: [Scalar], bias: [Scalar]
        public init(outputs: Int, inputs: Int, weight: [Scalar], bias: [Scalar]) {
            precondition(weight.count == outputs * inputs && bias.count == outputs)
            (self.outputs, self.inputs, self.weight, self.bias) = (outputs, inputs, weight, bias)
        }
    }

    public var sideCount: Int { analysis2.outputs }

    /// The bank's geometry: 64 scales from 0.08 to 64 latent steps, each at 4 means a quarter of a symbol apart.
    /// Rounding the predicted mean to a whole symbol cost faces-grid-b4 5-9% of its bits at every rung (held-out
    /// ideal bits from hyperprior.py); to a quarter, 0.2-0.6% more than not rounding it at all.
    public static let smallestScale = 0.08, largestScale = 64.0, bankSize = 64, fittedCentreBits = 2, maxCentreBits = 4
    /// h_s's fixed point: weights and its inputs carry 8 fractional bits, biases and sums 16 (docs/FORMAT.md).
    static let weightOne: Float = 256, sumOne: Float = 65536

    /// Bounds on the networks' sizes, which keep a hostile file's tables and products small.
    public static let maxWidth = 4096, maxSideCount = 256, maxIntegerOutputs = 1 << 14
    static var scaleRatio: Double { log(largestScale / smallestScale) / Double(bankSize - 1) }

    /// The side symbols of scaled means y (T values) at a rung.
    public func sideSymbols(_ y: [Float], rung: Int) -> [Int32] { sideSymbols(y, rungs[rung]) }

    /// The latent symbols' tables at a rung, given its side symbols.
    public func latentTables(side: [Int32], rung: Int) -> [SymbolTable] { latentTables(side: side, rungs[rung]) }

    func sideSymbols(_ y: [Float], _ parameters: RungParameters) -> [Int32] { Self.quantize(sideLatents(y), step: parameters.sideStep) }

    /// h_a(y), before a rung's step divides and rounds it.
    func sideLatents(_ y: [Float]) -> [Float] { analysis2.apply(analysis0.apply(y).map { max($0, 0) }) }

    static func quantize(_ w: [Float], step: Float) -> [Int32] {
        w.map { value in
            let q = (value / step).rounded()
            return Int32(q.isNaN ? 0 : max(-1e6, min(1e6, q)))
        }
    }

    /// Integer arithmetic only, wrapping where a hostile file could overflow it: any side symbols give valid tables.
    func latentTables(side: [Int32], _ parameters: RungParameters) -> [SymbolTable] {
        let input = side.map { Int64($0) &* Int64(parameters.inputScale) }
        let hidden = synthesis0.applyFixedPoint(input).map { max($0, 0) >> 8 }
        let output = synthesis2.applyFixedPoint(hidden)
        let count = output.count / 2
        let limit = Int64(1) << (20 + centreBits)
        return (0..<count).map { d in
            // The mean in units of 2^-centreBits symbols: its whole symbols move the table, its fraction picks one.
            let fine = max(-limit, min(limit, (output[d] &* Int64(parameters.meanMultiplier) &* (1 << centreBits) &+ (1 << 31)) >> 32))
            let (centre, fraction) = (fine >> centreBits, Int(fine & ((1 << centreBits) - 1)))
            let shifted = output[count + d] &- Int64(parameters.scaleOffset) &+ scaleIndexStep / 2
            let index = fraction * Self.bankSize + Int(max(0, min(Int64(Self.bankSize - 1), shifted >= 0 ? shifted / scaleIndexStep : 0)))
            // In range: |centre| <= 2^20, a bank table starts within 2^16 of 0 (checked on load) and spans under 2^14 values.
            return try! SymbolTable(minValue: Int32(centre) + bank[index].minValue, frequencyTable: bank[index].frequencyTable)
        }
    }
}

extension Hyperprior.DenseWeights where Scalar == Float {
    func apply(_ x: [Float]) -> [Float] {
        (0..<outputs).map { o in
            var sum = bias[o]
            for i in 0..<inputs { sum += weight[o * inputs + i] * x[i] }
            return sum
        }
    }
}

extension Hyperprior.DenseWeights where Scalar == Int32 {
    /// Sums in Int64, wrapping: the bias (16 fractional bits) plus weights (8) times inputs (8).
    func applyFixedPoint(_ x: [Int64]) -> [Int64] {
        (0..<outputs).map { o in
            var sum = Int64(bias[o])
            for i in 0..<inputs { sum = sum &+ Int64(weight[o * inputs + i]) &* x[i] }
            return sum
        }
    }
}

// MARK: Fitting

extension Hyperprior {
    /// The networks in Float, as Training/torch/hyperprior.py writes them ("hyperprior." tensors), or as recovered
    /// from a codec model's fixed-point form (which they round to again exactly while each bias is within +-256).
    public struct Trained: Sendable {
        public var analysis0: DenseWeights<Float>, analysis2: DenseWeights<Float>
        public var synthesis0: DenseWeights<Float>, synthesis2: DenseWeights<Float>
        /// q at each step multiplier it was trained at; a ladder's rung takes q at its own multiplier, interpolated
        /// in log-log between them (held at the ends).
        public var sideSteps: [(multiplier: Float, step: Float)]
        /// The latent dimensions analysis.0 reads, in order (hyperprior.py's `hyperprior.transmitted`, or the codec's
        /// own for networks recovered from a codec model); nil for networks written before hyperprior.py stored them.
        public var transmitted: [Int]?
        /// The file they came from, for errors.
        public var source: String

        func sideStep(at multiplier: Float) -> Float {
            let points = sideSteps.sorted { $0.multiplier < $1.multiplier }
            guard let first = points.first, let last = points.last else { return 1 }
            if multiplier <= first.multiplier { return first.step }
            if multiplier >= last.multiplier { return last.step }
            let upper = points.firstIndex { $0.multiplier >= multiplier }!
            let (a, b) = (points[upper - 1], points[upper])
            let t = (log(multiplier) - log(a.multiplier)) / (log(b.multiplier) - log(a.multiplier))
            return exp(log(a.step) + t * (log(b.step) - log(a.step)))
        }
    }

    /// Makes trained networks into the codec's form for `ladder`: h_s in fixed point, the bank, and per rung the side
    /// tables fitted on the training images' side symbols and whether the hyperprior pays there (fewer ideal bits on
    /// those images, side symbols included, than the rung's own tables, both measured on the symbols a file of the
    /// rung codes).
    /// - means: each training image's encoder mean (all latent dimensions).
    public static func fit(_ trained: Trained, ladder: RateLadder, means: [ArraySlice<Float>]) throws -> Hyperprior {
        let transmitted = ladder.rungs[0].quantizer.transmitted.count
        guard trained.analysis0.inputs == transmitted, trained.synthesis2.outputs == 2 * transmitted else {
            throw SafeTensorsError(file: trained.source, problem: "its hyperprior was trained for \(trained.analysis0.inputs) transmitted "
                                   + "dimensions and the model transmits \(transmitted): train it again (Training/torch/hyperprior.py)")
        }
        // A recalibration can keep the count and change which latents are sent; the networks would read the wrong ones.
        if let dimensions = trained.transmitted, dimensions != ladder.rungs[0].quantizer.transmitted {
            throw SafeTensorsError(file: trained.source, problem: "its hyperprior was trained on other latent dimensions than the "
                                   + "model transmits now: train it again (Training/torch/hyperprior.py)")
        }
        // What the model file can hold (`init?(_:transmitted:rungCount:)` refuses the rest).
        let analysisValues = trained.analysis0.weight + trained.analysis0.bias + trained.analysis2.weight + trained.analysis2.bias
        guard (1...maxWidth).contains(trained.analysis0.outputs), (1...maxSideCount).contains(trained.analysis2.outputs),
              (1...maxIntegerOutputs).contains(trained.synthesis0.outputs), 2 * transmitted <= maxIntegerOutputs,
              analysisValues.allSatisfy({ abs($0) <= Float(Float16.greatestFiniteMagnitude) }) else {
            throw SafeTensorsError(file: trained.source, problem: "its hyperprior has an h_a width above \(maxWidth), an h_s width above "
                                   + "\(maxIntegerOutputs), more than \(maxSideCount) side latents, more than \(maxIntegerOutputs / 2) "
                                   + "dimensions, or h_a values beyond 16-bit floats")
        }
        func fixed(_ layer: DenseWeights<Float>) -> DenseWeights<Int32> {
            // Weights are stored in 16 bits, biases in 32.
            func round(_ x: Float, _ scale: Float, limit: Float) -> Int32 { Int32(max(-limit, min(limit, (x * scale).rounded()))) }
            return DenseWeights(outputs: layer.outputs, inputs: layer.inputs, weight: layer.weight.map { round($0, weightOne, limit: 32767) },
                                bias: layer.bias.map { round($0, sumOne, limit: 2e9) })
        }
        let ratio = scaleRatio, centreBits = fittedCentreBits
        let bank = try (0..<(bankSize << centreBits)).map { i in
            try gaussianTable(scale: smallestScale * exp(Double(i % bankSize) * ratio), mean: Double(i / bankSize) / Double(1 << centreBits))
        }
        // h_a is stored in F16: round it now, so the encoder chooses the same side symbols before and after saving.
        func half(_ layer: DenseWeights<Float>) -> DenseWeights<Float> {
            DenseWeights(outputs: layer.outputs, inputs: layer.inputs, weight: layer.weight.map { Float(Float16($0)) },
                         bias: layer.bias.map { Float(Float16($0)) })
        }
        let base = Hyperprior(analysis0: half(trained.analysis0), analysis2: half(trained.analysis2), synthesis0: fixed(trained.synthesis0),
                              synthesis2: fixed(trained.synthesis2), bank: bank, scaleIndexStep: Int64((Double(sumOne) * ratio).rounded()),
                              centreBits: centreBits, rungs: [])
        let sideLatents = means.map { base.sideLatents(ladder.scaled($0)) }  // the same at every rung; only the step differs
        let rungs = try ladder.rungs.map { rung in
            let q = trained.sideStep(at: rung.stepMultiplier), m = Double(rung.stepMultiplier)
            // inputScale carries q in 8 fractional bits: below 1/16 it would keep under 4 significant bits.
            guard q.isFinite && q >= 1.0 / 16 && q <= 1e6 else {
                throw SafeTensorsError(file: trained.source, problem: "its hyperprior's side step at step multiplier \(rung.stepMultiplier) is \(q)")
            }
            func parameters(enabled: Bool, sideTables: [SymbolTable]) -> RungParameters {
                RungParameters(enabled: enabled, sideStep: q, inputScale: Int32((q * weightOne).rounded()), meanMultiplier: Int32((Double(sumOne) / m).rounded()),
                               scaleOffset: Int32((Double(sumOne) * (log(m) + log(smallestScale))).rounded()), sideTables: sideTables)
            }
            let sides = sideLatents.map { quantize($0, step: q) }
            let sideTables = try (0..<base.sideCount).map { j in try SymbolTable.fitted(to: sides.map { $0[j] }) }
            let fitted = parameters(enabled: true, sideTables: sideTables)
            // Whether it pays, on every 5th training image.
            var plain = 0.0, hyper = 0.0
            for (i, mean) in means.enumerated() where i % 5 == 0 {
                let symbols = rung.quantizer.quantize(mean)
                plain += QuantizedSymbolCoder.idealCodeLength(values: symbols, tables: rung.tables)
                hyper += QuantizedSymbolCoder.idealCodeLength(values: sides[i], tables: sideTables)
                    + QuantizedSymbolCoder.idealCodeLength(values: symbols, tables: base.latentTables(side: sides[i], fitted))
            }
            return parameters(enabled: hyper < plain, sideTables: sideTables)
        }
        return Hyperprior(analysis0: base.analysis0, analysis2: base.analysis2, synthesis0: base.synthesis0, synthesis2: base.synthesis2,
                          bank: bank, scaleIndexStep: base.scaleIndexStep, centreBits: centreBits, rungs: rungs)
    }

    /// A Gaussian of deviation `scale` and mean `mean` (in latent steps, 0 <= mean < 1) over -radius...radius,
    /// radius = ceil(6 scale), with ESCAPE holding the tails.
    static func gaussianTable(scale: Double, mean: Double = 0) throws -> SymbolTable {
        let radius = max(1, Int((6 * scale).rounded(.up)))
        func cdf(_ x: Double) -> Double { 0.5 * erfc(-(x - mean) / (scale * 2.0.squareRoot())) }
        let counts = (-radius...radius).map { v in Int((Double(1 << 24) * (cdf(Double(v) + 0.5) - cdf(Double(v) - 0.5))).rounded()) }
        // Each tail from erfc directly: 1 - cdf would cancel.
        let tails = Int((Double(1 << 24) * 0.5 * (erfc((Double(radius) + 0.5 + mean) / (scale * 2.0.squareRoot()))
                                                   + erfc((Double(radius) + 0.5 - mean) / (scale * 2.0.squareRoot())))).rounded())
        return try SymbolTable(minValue: Int32(-radius), counts: counts, escapeCount: tails)
    }
}

// MARK: Model file

extension Hyperprior {
    /// The "codec.hyper." tensors (docs/FORMAT.md): h_a in F16, h_s's weights in I16 and biases in I32, per rung
    /// [enabled, inputScale, meanMultiplier, scaleOffset] and q, and the tables (the bank's, then each rung's side
    /// tables).
    func tensors() -> [(String, SafeTensors.Entry)] {
        func float(_ name: String, _ layer: DenseWeights<Float>) -> [(String, SafeTensors.Entry)] {
            [("codec.hyper.\(name).weight", .init(layer.weight, shape: [layer.outputs, layer.inputs], halfPrecision: true)),
             ("codec.hyper.\(name).bias", .init(layer.bias, shape: [layer.outputs], halfPrecision: true))]
        }
        func integer(_ name: String, _ layer: DenseWeights<Int32>) -> [(String, SafeTensors.Entry)] {
            [("codec.hyper.\(name).weight", .init(layer.weight.map { Int16($0) }, shape: [layer.outputs, layer.inputs])),
             ("codec.hyper.\(name).bias", .init(layer.bias, shape: [layer.outputs]))]
        }
        let perRung: [Int32] = rungs.flatMap { [$0.enabled ? 1 : 0, $0.inputScale, $0.meanMultiplier, $0.scaleOffset] }
        let tables: [UInt16] = (bank + rungs.flatMap(\.sideTables)).flatMap { $0.serialized() }
        let layers = float("analysis.0", analysis0) + float("analysis.2", analysis2) + integer("synthesis.0", synthesis0) + integer("synthesis.2", synthesis2)
        let rest: [(String, SafeTensors.Entry)] = [
            ("codec.hyper.rungs", .init(perRung, shape: [rungs.count, 4])),
            ("codec.hyper.side_steps", .init(rungs.map(\.sideStep), shape: [rungs.count])),
            ("codec.hyper.scale_index_step", .init([Int32(scaleIndexStep)], shape: [1])),
        ] + (centreBits == 0 ? [] : [("codec.hyper.centre_bits", .init([Int32(centreBits)], shape: [1]))]) + [
            ("codec.hyper.tables", .init(tables, shape: [tables.count])),
        ]
        return layers + rest
    }

    /// Reads the "codec.hyper." tensors of a codec model with `transmitted` dimensions and `rungCount` rungs; nil
    /// when the file has none.
    init?(_ file: SafeTensorsFile, transmitted: Int, rungCount: Int) throws {
        guard file.names.contains(where: { $0.hasPrefix("codec.hyper.") }) else { return nil }
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: file.name, problem: "hyperprior tables are malformed (\(problem))") }
        func entry(_ name: String) throws -> SafeTensors.Entry {
            guard let entry = try file.entry("codec.hyper." + name) else { throw fail("no \(name)") }
            return entry
        }
        func float(_ name: String, inputs: Int?) throws -> DenseWeights<Float> {
            let weight = try entry(name + ".weight"), bias = try entry(name + ".bias")
            guard weight.shape.count == 2, weight.shape[1] == inputs ?? weight.shape[1], (1...Self.maxWidth).contains(weight.shape[0]),
                  bias.shape == [weight.shape[0]], let w = weight.floats, let b = bias.floats, (w + b).allSatisfy(\.isFinite) else {
                throw fail(name)
            }
            return DenseWeights(outputs: weight.shape[0], inputs: weight.shape[1], weight: w, bias: b)
        }
        func integer(_ name: String, inputs: Int, outputs: Int?) throws -> DenseWeights<Int32> {
            let weight = try entry(name + ".weight"), bias = try entry(name + ".bias")
            guard weight.shape.count == 2, weight.shape[1] == inputs, weight.shape[0] == outputs ?? weight.shape[0],
                  (1...Self.maxIntegerOutputs).contains(weight.shape[0]),
                  bias.shape == [weight.shape[0]], weight.dtype == .i16, bias.dtype == .i32, let w = weight.int32s, let b = bias.int32s else {
                throw fail(name)
            }
            return DenseWeights(outputs: weight.shape[0], inputs: weight.shape[1], weight: w, bias: b)
        }
        analysis0 = try float("analysis.0", inputs: transmitted)
        analysis2 = try float("analysis.2", inputs: analysis0.outputs)
        guard analysis2.outputs <= Self.maxSideCount else { throw fail("more than \(Self.maxSideCount) side latents") }
        synthesis0 = try integer("synthesis.0", inputs: analysis2.outputs, outputs: nil)
        synthesis2 = try integer("synthesis.2", inputs: synthesis0.outputs, outputs: 2 * transmitted)
        let perRung = try entry("rungs"), sideSteps = try entry("side_steps"), indexStep = try entry("scale_index_step")
        guard perRung.shape == [rungCount, 4], let values = perRung.int32s, values.enumerated().allSatisfy({ $0.offset % 4 != 0 || $0.element == 0 || $0.element == 1 }),
              sideSteps.shape == [rungCount], let steps = sideSteps.floats, steps.allSatisfy({ $0.isFinite && $0 > 0 }),
              indexStep.shape == [1], let step = indexStep.int32s?.first, step > 0 else {
            throw fail("rung parameters")
        }
        scaleIndexStep = Int64(step)
        if file.names.contains("codec.hyper.centre_bits") {
            let bits = try entry("centre_bits")
            guard bits.shape == [1], let value = bits.int32s?.first, (0...Int32(Self.maxCentreBits)).contains(value) else {
                throw fail("centre_bits must be 0...\(Self.maxCentreBits)")
            }
            centreBits = Int(value)
        } else {
            centreBits = 0
        }
        guard let words = try entry("tables").uint16s else { throw fail("tables") }
        var offset = 0
        func table() throws -> SymbolTable {
            guard offset < words.count - 2, words[offset + 2] == 14 else { throw fail("a table's scale must be 14 bits") }
            do { return try SymbolTable(reading: words, at: &offset) } catch { throw fail("\(error)") }
        }
        bank = try (0..<(Self.bankSize << centreBits)).map { _ in try table() }
        // `latentTables` moves a bank table by up to 2^20: its own range must leave room in Int32.
        guard bank.allSatisfy({ abs(Int64($0.minValue)) <= 1 << 16 }) else { throw fail("a bank table lies too far from 0") }
        let sideCount = analysis2.outputs
        rungs = try (0..<rungCount).map { r in
            RungParameters(enabled: values[4 * r] == 1, sideStep: steps[r], inputScale: values[4 * r + 1], meanMultiplier: values[4 * r + 2],
                           scaleOffset: values[4 * r + 3], sideTables: try (0..<sideCount).map { _ in try table() })
        }
        guard offset == words.count else { throw fail("\(words.count - offset) words left over") }
    }

    /// The trained networks a model file carries: Training/torch/hyperprior.py's "hyperprior." tensors (F32), else
    /// the "codec.hyper." form of an earlier `calibrate` (whose fixed point they round to again exactly); nil when
    /// it has neither.
    public static func trained(in tensors: [String: SafeTensors.Entry], file: String) throws -> Trained? {
        func fail(_ problem: String) -> SafeTensorsError { SafeTensorsError(file: file, problem: "hyperprior networks are malformed (\(problem))") }
        func layer(_ prefix: String, _ name: String, scale: (weight: Float, bias: Float)) throws -> DenseWeights<Float> {
            guard let weight = tensors[prefix + name + ".weight"], let bias = tensors[prefix + name + ".bias"], weight.shape.count == 2,
                  bias.shape == [weight.shape[0]] else { throw fail("no \(prefix + name)") }
            let w = weight.floats ?? weight.int32s?.map { Float($0) / scale.weight }
            let b = bias.floats ?? bias.int32s?.map { Float($0) / scale.bias }
            guard let w, let b, (w + b).allSatisfy(\.isFinite) else { throw fail(prefix + name) }
            return DenseWeights(outputs: weight.shape[0], inputs: weight.shape[1], weight: w, bias: b)
        }
        let prefix: String, steps: [Float]?, multipliers: [Float]?, dimensions: SafeTensors.Entry?
        if tensors["hyperprior.log_side_step"] != nil {
            prefix = "hyperprior."
            steps = tensors["hyperprior.log_side_step"]?.floats?.map { expf($0) }
            multipliers = tensors["hyperprior.multipliers"]?.floats
            dimensions = tensors["hyperprior.transmitted"]
        } else if tensors["codec.hyper.side_steps"] != nil {
            prefix = "codec.hyper."
            steps = tensors["codec.hyper.side_steps"]?.floats
            multipliers = tensors["codec.multipliers"]?.floats
            dimensions = tensors["codec.transmitted"]
        } else {
            return nil
        }
        guard let steps, let multipliers, steps.count == multipliers.count, !steps.isEmpty, Set(multipliers).count == multipliers.count,
              (steps + multipliers).allSatisfy({ $0.isFinite && $0 > 0 }) else { throw fail("side steps") }
        let sideSteps = Array(zip(multipliers, steps)).map { (multiplier: $0.0, step: $0.1) }
        var transmitted: [Int]?
        if let dimensions {
            guard dimensions.shape.count == 1, let values = dimensions.int32s else { throw fail("\(prefix)transmitted") }
            transmitted = values.map(Int.init)
        }
        let trained = Trained(analysis0: try layer(prefix, "analysis.0", scale: (1, 1)), analysis2: try layer(prefix, "analysis.2", scale: (1, 1)),
                       synthesis0: try layer(prefix, "synthesis.0", scale: (weightOne, sumOne)),
                       synthesis2: try layer(prefix, "synthesis.2", scale: (weightOne, sumOne)), sideSteps: sideSteps,
                       transmitted: transmitted, source: file)
        guard trained.analysis2.inputs == trained.analysis0.outputs, trained.synthesis0.inputs == trained.analysis2.outputs,
              trained.synthesis2.inputs == trained.synthesis0.outputs, trained.synthesis2.outputs == 2 * trained.analysis0.inputs else {
            throw fail("the layers' shapes do not chain")
        }
        return trained
    }
}
