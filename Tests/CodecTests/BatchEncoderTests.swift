import Testing
@testable import Codec
import Imaging

/// The batched encoder that `compress` runs: its bytes must not depend on threads or on which images share a batch.
@Suite struct BatchEncoderTests {
    static let names = ["face-gray-64.png", "face-lfw-64.png", "digit-7.png", "face-gray-90.jpg", "face-odd-177x151.jpg", "camera-gray-97x83.png"]
    static var inputs: [EncoderInput] { names.map { EncoderInput(image: CodecFixture.image($0), hint: .png) } }
    static var models: [CodecModel] { [CodecFixture.faces, CodecFixture.digits] }

    static func settings(_ effort: Effort, batch: Int, workers: Int) -> EncoderSettings {
        var settings = EncoderSettings(effort: effort)
        (settings.batchSize, settings.workers) = (batch, workers)
        return settings
    }

    @Test(arguments: [Effort.fast, .balanced])
    func bytesDoNotDependOnWorkersOrBatches(_ effort: Effort) {
        let target = RateTarget.quality(60)
        let reference = BatchEncoder.encode(Self.inputs, models: Self.models, target: target, settings: Self.settings(effort, batch: 32, workers: 1)).map(\.file)
        for (batch, workers) in [(2, 2), (1, 2), (4, 1)] {
            let files = BatchEncoder.encode(Self.inputs, models: Self.models, target: target, settings: Self.settings(effort, batch: batch, workers: workers)).map(\.file)
            #expect(files == reference, "batch \(batch), workers \(workers)")
        }
        for (i, input) in Self.inputs.enumerated() {
            let alone = BatchEncoder.encode([input], models: Self.models, target: target, settings: Self.settings(effort, batch: 32, workers: 2))
            #expect(alone[0].file == reference[i], "\(Self.names[i]) alone")
        }
    }

    /// `best` is the exhaustive search, image by image.
    @Test func bestIsTheExhaustiveSearch() {
        let settings = Self.settings(.best, batch: 4, workers: 2)
        let batched = BatchEncoder.encode(Self.inputs, models: Self.models, target: .quality(40), settings: settings)
        for (input, choice) in zip(Self.inputs, batched) {
            let single = RateControl.encode(input, models: Self.models, target: .quality(40), refiner: settings.refiner)
            #expect(single.file == choice.file)
        }
    }

    /// Refinement is kept only where it lowers the cost, so `balanced` never costs more than `fast`, image by image.
    @Test func refinementNeverRaisesTheCost() {
        for quality in [20, 60, 90] {
            let fast = BatchEncoder.encode(Self.inputs, models: Self.models, target: .quality(quality), settings: EncoderSettings(effort: .fast))
            let balanced = BatchEncoder.encode(Self.inputs, models: Self.models, target: .quality(quality), settings: EncoderSettings(effort: .balanced))
            for (f, b) in zip(fast, balanced) { #expect(b.cost(quality: quality) <= f.cost(quality: quality) + 1e-9) }
        }
    }

    /// Faces go to the face models and digits to the digit ones, and a budget no file meets keeps the image's domain.
    @Test func domainsAreChosenOnceAndKeptUnderATinyBudget() {
        for target in [RateTarget.quality(60), .bitsPerPixel(0.001), .bitsPerPixel(0.5)] {
            let choices = BatchEncoder.encode(Self.inputs, models: Self.models, target: target, settings: EncoderSettings())
            for (name, choice) in zip(Self.names, choices) where name.hasPrefix("face") || name.hasPrefix("digit") {
                #expect(choice.model.name == (name.hasPrefix("face") ? "tiny-faces" : "tiny-digits"), "\(name) \(target)")
            }
            if case .bitsPerPixel(let budget) = target {
                for choice in choices { #expect(choice.metTarget == (choice.bitsPerPixel <= budget)) }
            }
        }
    }

    /// The same with the shipped faces family, whose grid decoders run the widest products: the refinement's batch
    /// shrinks as its searches stop, and a lone batch runs on two BLAS threads.
    @Test func shippedModelsGiveTheSameBytesAloneAndInBatches() throws {
        let models = try ModelRegistry.shipped().load("faces")
        let inputs = ["face-gray-64.png", "face-lfw-64.png", "face-odd-177x151.jpg"].map { EncoderInput(image: CodecFixture.image($0), hint: .png) }
        var settings = EncoderSettings(effort: .balanced, refineSteps: 8)
        (settings.batchSize, settings.workers) = (3, 2)
        let together = BatchEncoder.encode(inputs, models: models, target: .quality(60), settings: settings).map(\.file)
        settings.batchSize = 1
        let apart = BatchEncoder.encode(inputs, models: models, target: .quality(60), settings: settings).map(\.file)
        #expect(together == apart)
    }
}
