import EntropyCoding
import Foundation
import NeuralNet
import Testing
@testable import Codec

/// The hyperprior of tiny-faces-32-hyper (Fixtures/README.md), which its rungs 8 and 9 use.
@Suite struct HyperpriorTests {
    let model = CodecFixture.facesWithHyperprior
    var ladder: RateLadder { model.ladder }

    /// Encoder means of every kind: zeros, the prior's spread and far outside it.
    static func means(count: Int, latent: Int, seed: UInt64 = 3) -> [[Float]] {
        var rng = Xoshiro256StarStar(seed: seed)
        return (0..<count).map { i in rng.normalTensor(shape: [latent], standardDeviation: [0, 1, 3, 40][i % 4]).data }
    }

    @Test func onlyTheRungsWhereItPaysCodeSideSymbols() {
        #expect(ladder.hyperprior?.rungs.map(\.enabled) == [false, false, false, false, false, false, false, false, true, true])
        for mean in Self.means(count: 8, latent: model.vae.config.latent) {
            for rung in 0..<8 { #expect(ladder.symbols(mean: mean[...], rung: rung) == ladder.rungs[rung].quantizer.quantize(mean[...])) }
            for rung in 8..<10 {
                let symbols = ladder.symbols(mean: mean[...], rung: rung)
                #expect(symbols.count == 2 + 8 && Array(symbols.dropFirst(2)) == ladder.rungs[rung].quantizer.quantize(mean[...]))
                #expect(ladder.dequantize(symbols, rung: rung) == ladder.rungs[rung].quantizer.dequantize(Array(symbols.dropFirst(2))))
            }
        }
    }

    /// The encoder's shortcut (h_a once for all rungs) gives each rung's symbols exactly.
    @Test func symbolsAtEveryRungAreEachRungsSymbols() {
        for mean in Self.means(count: 8, latent: model.vae.config.latent) {
            #expect(ladder.symbolsAtEveryRung(mean: mean[...]) == ladder.rungs.indices.map { ladder.symbols(mean: mean[...], rung: $0) })
        }
    }

    @Test func everyRungRoundTripsThroughAFile() throws {
        let codec = LatentCodec(model: model)
        for (i, mean) in Self.means(count: 40, latent: model.vae.config.latent).enumerated() {
            let rung = i % codec.rungCount
            let symbols = codec.symbols(mean: mean, rung: rung)
            let header = codec.header(rung: rung, width: 64, height: 64, hint: .png)
            let container = try Container.parse(codec.file(symbols: symbols, header: header), name: "t.vae")
            #expect(try codec.decodeSymbols(container, name: "t.vae") == symbols)
        }
    }

    /// A hostile file can carry any side symbols: the integer network still gives one valid table per latent.
    @Test func anySideSymbolsGiveValidTables() {
        let hyperprior = ladder.hyperprior!
        for side: [Int32] in [[0, 0], [.max, .min], [.min, .max], [1_000_000, -1_000_000], [-7, 12]] {
            for rung in 8..<10 {
                let tables = hyperprior.latentTables(side: side, rung: rung)
                #expect(tables.count == 8)
                #expect(tables.allSatisfy { $0.frequencyTable.frequencies.reduce(0, +) == 1 << 14 })
            }
        }
    }

    /// The tables in the file are the hyperprior: written and read back, the ladder is the same.
    @Test func theModelFileKeepsTheHyperpriorExactly() throws {
        let reloaded = try CodecModel.load(model.serialized(weights: .float16), name: "m", path: "m")
        #expect(reloaded.ladder == ladder)
        #expect(reloaded.fingerprint == model.fingerprint)
    }

    /// `calibrate` on a calibrated model recovers the networks from their fixed point and rounds them to it again.
    @Test func recalibratingKeepsTheFixedPointNetworks() throws {
        let file = try SafeTensorsFile(bytes: model.serialized(weights: .float16), name: "m")
        var tensors: [String: SafeTensors.Entry] = [:]
        for name in file.names { tensors[name] = try file.entry(name) }
        let trained = try #require(try Hyperprior.trained(in: tensors, file: "m"))
        let means = Self.means(count: 50, latent: model.vae.config.latent).map { $0[...] }
        let refitted = try Hyperprior.fit(trained, ladder: RateLadder(rungs: ladder.rungs), means: means)
        let original = ladder.hyperprior!
        #expect(refitted.synthesis0 == original.synthesis0 && refitted.synthesis2 == original.synthesis2)
        #expect(refitted.analysis0 == original.analysis0 && refitted.analysis2 == original.analysis2)
        #expect(refitted.scaleIndexStep == original.scaleIndexStep)
        #expect(zip(refitted.rungs, original.rungs).allSatisfy { $0.inputScale == $1.inputScale && $0.meanMultiplier == $1.meanMultiplier })
        // The fixture predates tables at fractions of a symbol; a new fit has 4 per scale, and its file keeps them.
        #expect(original.centreBits == 0 && original.bank.count == Hyperprior.bankSize)
        #expect(refitted.centreBits == 2 && refitted.bank.count == 4 * Hyperprior.bankSize)
        let model = CodecModel(name: "m", vae: model.vae, ladder: ladder.with(refitted), training: nil)
        #expect(try CodecModel.load(model.serialized(weights: .float16), name: "m", path: "m").ladder == model.ladder)
    }

    /// A bank table at a fraction f of a symbol is the Gaussian at that mean: symbols nearer f cost fewer bits.
    @Test func bankTablesSitAtTheirFractionOfASymbol() throws {
        for scale in [0.2, 0.5, 2.0] {
            let quarter = try Hyperprior.gaussianTable(scale: scale, mean: 0.25), threeQuarters = try Hyperprior.gaussianTable(scale: scale, mean: 0.75)
            #expect(quarter.codeLength(of: 0) < quarter.codeLength(of: 1) && threeQuarters.codeLength(of: 1) < threeQuarters.codeLength(of: 0))
            #expect(abs(quarter.codeLength(of: 0) - threeQuarters.codeLength(of: 1)) < 0.01)
            #expect(abs(quarter.codeLength(of: -1) - threeQuarters.codeLength(of: 2)) < 0.01)
        }
    }

    /// A predicted mean picks the table of its fraction: the file's integers, (o m 2^b + 2^31) >> 32 in 2^-b symbols.
    @Test func theMeansFractionPicksTheTable() throws {
        let file = try SafeTensorsFile(bytes: model.serialized(weights: .float16), name: "m")
        var tensors: [String: SafeTensors.Entry] = [:]
        for name in file.names { tensors[name] = try file.entry(name) }
        let trained = try #require(try Hyperprior.trained(in: tensors, file: "m"))
        let refitted = try Hyperprior.fit(trained, ladder: RateLadder(rungs: ladder.rungs), means: Self.means(count: 50, latent: model.vae.config.latent).map { $0[...] })
        var seen = Set<Int>()
        for side: [Int32] in [[0, 0], [3, -2], [-5, 7], [1, 1], [9, -9], [-2, 4]] {
            for rung in 0..<refitted.rungs.count {
                for table in refitted.latentTables(side: side, rung: rung) {
                    // Which bank table (by its words) and where it was moved to.
                    let k = try #require(refitted.bank.firstIndex { $0.frequencyTable == table.frequencyTable })
                    seen.insert(k / Hyperprior.bankSize)
                    #expect(table.minValue - refitted.bank[k].minValue >= -(1 << 20))
                }
            }
        }
        #expect(seen.count > 1, "every predicted mean fell on one fraction: \(seen)")
    }

    @Test func networksForAnotherModelAreRefusedByName() throws {
        let file = try SafeTensorsFile(bytes: model.serialized(weights: .float16), name: "m")
        var tensors: [String: SafeTensors.Entry] = [:]
        for name in file.names { tensors[name] = try file.entry(name) }
        let trained = try #require(try Hyperprior.trained(in: tensors, file: "h.safetensors"))
        let wider = try RateLadder.fit(mu: [Float](repeating: 1, count: 40), sigma: [Float](repeating: 1, count: 40),
                                       klPerDimension: [Double](repeating: 1, count: 10), latentSize: 10)
        let error = #expect(throws: SafeTensorsError.self) { try Hyperprior.fit(trained, ladder: wider, means: [[Float](repeating: 0, count: 10)[...]]) }
        #expect(error?.file == "h.safetensors" && error?.problem.contains("trained for 8 transmitted dimensions and the model transmits 10") == true,
                "\(String(describing: error))")
        // As many dimensions, but other ones (a recalibration that changed which latents are sent).
        let sent = ladder.rungs[0].quantizer.transmitted, latent = model.vae.config.latent + 1
        let moved = try RateLadder.fit(mu: [Float](repeating: 1, count: 4 * latent), sigma: [Float](repeating: 1, count: 4 * latent),
                                       klPerDimension: (0..<latent).map { sent.contains($0 - 1) ? 1 : 0 }, latentSize: latent)
        #expect(moved.rungs[0].quantizer.transmitted == sent.map { $0 + 1 })
        let other = #expect(throws: SafeTensorsError.self) {
            try Hyperprior.fit(trained, ladder: moved, means: [[Float](repeating: 0, count: latent)[...]])
        }
        #expect(other?.problem.contains("trained on other latent dimensions than the model transmits now") == true, "\(String(describing: other))")
    }

    @Test(arguments: [
        ("codec.hyper.rungs", "rung parameters"), ("codec.hyper.tables", "invalid entropy table: table of 15 symbols truncated"), ("codec.hyper.synthesis.2.weight", "synthesis.2"),
    ])
    func malformedTablesAreAnError(_ damaged: (tensor: String, problem: String)) throws {
        let file = try SafeTensorsFile(bytes: model.serialized(weights: .float16), name: "m")
        var rewritten = SafeTensors(metadata: file.metadata)
        for name in file.names {
            var entry = try file.entry(name)!
            if name == damaged.tensor {
                // A rung flag of 2, a table cut short, a layer one row short.
                switch name {
                case "codec.hyper.rungs": entry = SafeTensors.Entry(entry.int32s!.map { _ in Int32(2) }, shape: entry.shape)
                case "codec.hyper.tables": entry = SafeTensors.Entry([UInt16](entry.uint16s!.dropLast()), shape: [entry.count - 1])
                default: entry = SafeTensors.Entry(Array(entry.int32s!.dropLast(entry.shape[1]).map { Int16($0) }), shape: [entry.shape[0] - 1, entry.shape[1]])
                }
            }
            rewritten.add(name, entry)
        }
        let error = #expect(throws: SafeTensorsError.self) { try CodecModel.load(rewritten.serialized(), name: "m", path: "m.safetensors") }
        #expect(error?.problem.hasPrefix("hyperprior tables are malformed (\(damaged.problem)") == true, "\(String(describing: error))")
    }

    /// centre_bits out of 0...4, or one that does not match the bank's table count, is refused by name.
    @Test(arguments: [(Int32(5), "centre_bits must be 0...4"), (Int32(1), "words left over"), (Int32(3), "a table's scale must be 14 bits")])
    func malformedCentreBitsAreAnError(_ damaged: (bits: Int32, problem: String)) throws {
        let file = try SafeTensorsFile(bytes: CodecFixture.facesWithQuarterHyperprior.serialized(weights: .float16), name: "m")
        var rewritten = SafeTensors(metadata: file.metadata)
        for name in file.names {
            rewritten.add(name, name == "codec.hyper.centre_bits" ? SafeTensors.Entry([damaged.bits], shape: [1]) : try file.entry(name)!)
        }
        let error = #expect(throws: SafeTensorsError.self) { try CodecModel.load(rewritten.serialized(), name: "m", path: "m.safetensors") }
        #expect(error?.file == "m.safetensors" && error?.problem.contains(damaged.problem) == true, "\(String(describing: error))")
    }
}
