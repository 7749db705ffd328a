import Foundation
import Imaging
import NeuralNet
import VAE

/// How hard `compress` searches for each image's code: the encoder's speed against its rate-distortion curve.
public enum Effort: String, CaseIterable, Sendable {
    /// The domain's members, each at the rung a local search finds (members that fall behind stop searching); no
    /// refinement.
    case fast
    /// The default: as `fast` but every member's rung search runs to its end, then the chosen code is refined
    /// (`LatentRefiner.balanced`), many images per batch.
    case balanced
    /// Every model of the selection at every rung, then the long two-search refinement: the slowest, and the
    /// reference the others are measured against.
    case best

    public static let `default` = Effort.balanced
}

/// What the encoder is asked to do beyond the rate target.
public struct EncoderSettings: Sendable {
    public var effort: Effort
    public var refiner: LatentRefiner
    /// Images coded together in one batch; an image's result does not depend on which others share it.
    public var batchSize = 16
    /// Parallel workers, each with its own copy of the models' layers (the weights are shared) and one BLAS thread.
    public var workers = 2
    /// How far (dB of the quality's cost) a family member may trail the image's best candidate and still have its
    /// rung search continued (`fast` and `balanced`).
    public var searchMargin: Double

    /// - refineSteps: overrides the effort's refinement steps (0 turns refinement off).
    public init(effort: Effort = .default, refineSteps: Int? = nil) {
        self.effort = effort
        var refiner = effort == .best ? LatentRefiner() : LatentRefiner.balanced
        if effort == .fast { refiner.steps = 0 }
        if let refineSteps { refiner.steps = refineSteps }
        self.refiner = refiner
        searchMargin = effort == .fast ? 0 : .infinity
    }
}

/// One image to code: its pixels, the region the file restores (crop), and the original's format.
public struct EncoderInput {
    enum Source {
        case image(GrayImage, crop: Int?)
        case canvases([Int: GrayImage], width: Int, height: Int)
    }

    let source: Source
    public var hint: ContainerHeader.FormatHint

    /// A whole image; `crop` codes only its central square of that side (`Canvas.codedRegion`).
    public init(image: GrayImage, crop: Int? = nil, hint: ContainerHeader.FormatHint) {
        (source, self.hint) = (.image(image, crop: crop), hint)
    }

    /// An image already reduced to the canvases of the models that will code it, one per canvas side, as
    /// `ImageCodec.decodeCanvases` makes them from a file without holding it whole; `width` x `height` is the region's
    /// size, restored on decoding.
    public init(canvases: [GrayImage], width: Int, height: Int, hint: ContainerHeader.FormatHint) {
        (source, self.hint) = (.canvases(Dictionary(canvases.map { ($0.width, $0) }, uniquingKeysWith: { a, _ in a }), width: width, height: height), hint)
    }

    /// The canvas a model of this side codes, and the size of the region it stands for.
    func canvas(side: Int) -> (canvas: GrayImage, width: Int, height: Int) {
        switch source {
        case .image(let image, let crop): return Self.canvas(of: image, crop: crop, side: side)
        case .canvases(let canvases, let width, let height):
            guard let canvas = canvases[side] else { preconditionFailure("no \(side)x\(side) canvas among the input's \(canvases.keys.sorted())") }
            return (canvas, width, height)
        }
    }

    static func canvas(of image: GrayImage, crop: Int?, side: Int) -> (canvas: GrayImage, width: Int, height: Int) {
        let region = Canvas.codedRegion(width: image.width, height: image.height, crop: crop)
        let cropped = crop.map { image.cropped(to: CropBox.centered(width: image.width, height: image.height, crop: $0)) } ?? image
        return (Canvas.resize(cropped, width: side, height: side), region.width, region.height)
    }

    /// Samples held, for bounding how many inputs are in memory at once.
    public var sampleCount: Int {
        switch source {
        case .image(let image, _): image.pixels.count
        case .canvases(let canvases, _, _): canvases.values.reduce(0) { $0 + $1.pixels.count }
        }
    }
}

/// Codes many images at once. With `Effort.best` each image goes through `RateControl.encode` (every model, every
/// rung). Otherwise:
/// 1. the domain is chosen once per image, when the models span several families (`--model auto`): each family's
///    smallest member codes the image at its middle rung, and the family whose code costs least wins;
/// 2. each member of that family encodes the image, and its rung is found by a local search on the quality's
///    cost from the middle rung (for `--bpp`, the finest rung whose file fits: sizes need no decoding);
/// 3. the best candidate is refined, all images of a model in one batch.
/// Every decoder and encoder pass runs over the whole batch, and batches run on `workers` threads.
public enum BatchEncoder {
    /// Codes `inputs` with the models `selection` names in `registry` (`auto`, a family, a member, or a model file
    /// added to the registry), loading only what the images need: with `auto`, each family's smallest member to
    /// choose the domains, then the members of the domains chosen.
    public static func encode(_ inputs: [EncoderInput], registry: ModelRegistry, selection: String, target: RateTarget,
                              settings: EncoderSettings) throws -> [EncodingChoice] {
        guard !inputs.isEmpty else { return [] }
        let names = registry.names(selection)
        guard !names.isEmpty else { return try encode(inputs, models: registry.load(selection), target: target, settings: settings) }
        let families = inFamilies(names) { $0 }
        if settings.effort == .best || families.count == 1 {
            return encode(inputs, models: try names.map(registry.model(named:)), target: target, settings: settings)
        }
        let probes = try families.map { family in try registry.model(named: family.min { try registry.parameterCount(named: $0) < registry.parameterCount(named: $1) }!) }
        let domains = chooseDomains(inputs, probes: probes, target: target, settings: settings)
        let loaded = try families.indices.map { f in domains.contains(f) ? try families[f].map(registry.model(named:)) : [] }
        return encode(inputs, families: loaded, domains: domains, target: target, settings: settings)
    }

    /// Codes `inputs` with already loaded models; several families are told apart per image as above.
    public static func encode(_ inputs: [EncoderInput], models: [CodecModel], target: RateTarget,
                              settings: EncoderSettings) -> [EncodingChoice] {
        precondition(!models.isEmpty)
        if settings.effort == .best {
            return ModelWorkers.inBatches(inputs.count, models: models, batchSize: settings.batchSize, workers: settings.workers) { range, models in
                inputs[range].map { RateControl.encode($0, models: models, target: target, refiner: settings.refiner) }
            }
        }
        let families = inFamilies(models, \.name)
        let probes = families.map { family in family.min { $0.vae.config.parameterCount < $1.vae.config.parameterCount }! }
        let domains = families.count > 1 ? chooseDomains(inputs, probes: probes, target: target, settings: settings) : inputs.map { _ in 0 }
        return encode(inputs, families: families, domains: domains, target: target, settings: settings)
    }

    /// `items` grouped by the family of their names, families in name order.
    static func inFamilies<T>(_ items: [T], _ name: (T) -> String) -> [[T]] {
        Dictionary(grouping: items) { ModelRegistry.family(of: name($0)) }.sorted { $0.key < $1.key }.map(\.value)
    }

    /// Each image's family: the one whose probe (its smallest member) codes the image at its middle rung for the
    /// least cost (under a bit budget, at the best PSNR). A face through the digit models is many dB worse, and a digit through the face models too.
    static func chooseDomains(_ inputs: [EncoderInput], probes: [CodecModel], target: RateTarget, settings: EncoderSettings) -> [Int] {
        ModelWorkers.inBatches(inputs.count, models: probes, batchSize: settings.batchSize, workers: settings.workers) { range, probes in
            let images = Array(range)
            let costs = probes.map { probe in
                evaluate(probe, images: images, inputs: inputs, rungs: images.map { _ in [probe.ladder.rungs.count / 2] }).map { found in
                    // Under a budget the middle rung may fit nowhere: how well the family draws the image decides.
                    if case .quality(let quality) = target { return found[0].cost(quality: quality) }
                    return -found[0].canvasPSNR
                }
            }
            return images.indices.map { i in probes.indices.min { costs[$0][i] < costs[$1][i] }! }
        }
    }

    /// Codes each image with the members of its family (`domains[i]` indexes `families`).
    static func encode(_ inputs: [EncoderInput], families: [[CodecModel]], domains: [Int], target: RateTarget,
                       settings: EncoderSettings) -> [EncodingChoice] {
        let models = families.flatMap { $0 }
        let sizes = families.map(\.count)
        return ModelWorkers.inBatches(inputs.count, models: models, batchSize: settings.batchSize, workers: settings.workers) { range, models in
            // The replicas in the same order as `families`, flattened.
            var start = 0
            let local = sizes.map { size in defer { start += size }; return Array(models[start..<(start + size)]) }
            return encodeBatch(Array(inputs[range]), families: local, domains: Array(domains[range]), target: target, settings: settings)
        }
    }

    static func encodeBatch(_ inputs: [EncoderInput], families: [[CodecModel]], domains: [Int], target: RateTarget,
                            settings: EncoderSettings) -> [EncodingChoice] {
        var candidates = [[EncodingChoice]](repeating: [], count: inputs.count)
        for (f, family) in families.enumerated() {
            let images = inputs.indices.filter { domains[$0] == f }
            if images.isEmpty { continue }
            for (image, found) in zip(images, search(family, images: images, inputs: inputs, target: target, margin: settings.searchMargin)) {
                candidates[image] = found
            }
        }
        var chosen = candidates.map { RateControl.choose(among: $0, target: target) }
        guard settings.refiner.steps > 0 else { return chosen }
        for model in families.flatMap({ $0 }) {
            let indices = chosen.indices.filter { chosen[$0].model === model && chosen[$0].metTarget }
            let jobs = indices.compactMap { i in RateControl.refinementLambda(chosen[i], among: candidates[i], target: target).map { (i, $0) } }
            let symbols = settings.refiner.refine(jobs.map { i, lambda in
                LatentRefiner.Job(mean: chosen[i].mean, rung: chosen[i].rung, canvas: chosen[i].canvas.pixels, lambda: lambda)
            }, model: model)
            let changed = zip(jobs, symbols).filter { chosen[$0.0.0].symbols != $0.1 }
            let refined = RateControl.choices(model: model, coded: changed.map { job, symbols in
                let c = chosen[job.0]
                return (mean: c.mean, symbols: symbols, rung: c.rung, canvas: c.canvas, header: c.header)
            })
            for ((job, _), candidate) in zip(changed, refined) where RateControl.isBetter(candidate, than: chosen[job.0], target: target) {
                chosen[job.0] = candidate
            }
        }
        return chosen
    }

    /// Each image's candidates under a family's members, searched side by side. For a quality, every member's
    /// middle rung and its neighbours are decoded, then each member walks to the neighbour of its best rung so far
    /// until that rung is a local minimum of the cost; a member whose best is more than `margin` dB behind the
    /// image's best candidate stops early. For a budget, each member's finest rung whose file fits (or its coarsest,
    /// when none does): sizes need no decoding.
    static func search(_ models: [CodecModel], images: [Int], inputs: [EncoderInput], target: RateTarget,
                       margin: Double) -> [[EncodingChoice]] {
        var budget: Double?
        if case .bitsPerPixel(let bpp) = target { budget = bpp }
        let prepared = models.map { prepare($0, images: images, inputs: inputs, sizes: budget != nil) }
        var found = models.map { _ in [[Int: EncodingChoice]](repeating: [:], count: images.count) }
        var wanted: [[[Int]]] = models.indices.map { m in
            let rungCount = models[m].ladder.rungs.count
            if let budget {
                return prepared[m].map { p in [(0..<rungCount).last { Double(p.fileSizes[$0] * 8) / Double(p.width * p.height) <= budget } ?? 0] }
            }
            let middle = rungCount / 2
            return images.map { _ in [middle - 1, middle, middle + 1].filter { (0..<rungCount).contains($0) } }
        }
        while wanted.contains(where: { $0.contains { !$0.isEmpty } }) {
            for m in models.indices where wanted[m].contains(where: { !$0.isEmpty }) {
                let decoded = evaluate(models[m], prepared: prepared[m], rungs: wanted[m])
                for i in images.indices {
                    for (rung, choice) in zip(wanted[m][i], decoded[i]) { found[m][i][rung] = choice }
                }
            }
            guard case .quality(let quality) = target else { break }
            for i in images.indices {
                let bests = models.indices.map { m in found[m][i].min { $0.value.cost(quality: quality) < $1.value.cost(quality: quality) } }
                let leader = bests.compactMap { $0?.value.cost(quality: quality) }.min() ?? 0
                for m in models.indices {
                    guard let best = bests[m], best.value.cost(quality: quality) <= leader + margin else {
                        wanted[m][i] = []
                        continue
                    }
                    wanted[m][i] = [best.key - 1, best.key + 1].filter { (0..<models[m].ladder.rungs.count).contains($0) && found[m][i][$0] == nil }
                }
            }
        }
        return images.indices.map { i in models.indices.flatMap { m in found[m][i].sorted { $0.key < $1.key }.map(\.value) } }
    }

    /// An image under one model, before any decoding: its canvas, encoder mean, every rung's symbols and header,
    /// and (when a bit budget needs them) every rung's file size.
    struct Prepared {
        var canvas: GrayImage, width: Int, height: Int, mean: [Float], symbols: [[Int32]], headers: [ContainerHeader], fileSizes: [Int]
    }

    static func prepare(_ model: CodecModel, images: [Int], inputs: [EncoderInput], sizes: Bool = false) -> [Prepared] {
        let codec = LatentCodec(model: model)
        let canvases = images.map { inputs[$0].canvas(side: model.canvas) }
        let means = codec.means(canvases.map(\.canvas))
        return zip(zip(images, canvases), means).map { pair, mean in
            let (image, canvas) = pair
            let headers = (0..<codec.rungCount).map { codec.header(rung: $0, width: canvas.width, height: canvas.height, hint: inputs[image].hint) }
            let symbols = codec.symbolsAtEveryRung(mean: mean)
            return Prepared(canvas: canvas.canvas, width: canvas.width, height: canvas.height, mean: mean, symbols: symbols, headers: headers,
                            fileSizes: sizes ? zip(symbols, headers).map { codec.file(symbols: $0, header: $1).count } : [])
        }
    }

    /// The candidates at the given rungs of each image, decoded in one batch.
    static func evaluate(_ model: CodecModel, images: [Int], inputs: [EncoderInput], rungs: [[Int]]) -> [[EncodingChoice]] {
        evaluate(model, prepared: prepare(model, images: images, inputs: inputs), rungs: rungs)
    }

    static func evaluate(_ model: CodecModel, prepared: [Prepared], rungs: [[Int]]) -> [[EncodingChoice]] {
        let requests = prepared.indices.flatMap { i in rungs[i].map { (i, $0) } }
        let choices = RateControl.choices(model: model, coded: requests.map { i, rung in
            let p = prepared[i]
            return (mean: p.mean, symbols: p.symbols[rung], rung: rung, canvas: p.canvas, header: p.headers[rung])
        })
        var out = [[EncodingChoice]](repeating: [], count: prepared.count)
        for ((i, _), choice) in zip(requests, choices) { out[i].append(choice) }
        return out
    }
}
