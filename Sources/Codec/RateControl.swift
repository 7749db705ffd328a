import EntropyCoding
import Foundation
import Imaging

/// `--quality 1...100` as a price in decibels per bit: the encoder picks, per image, the model and rung that
/// minimise J = -PSNR + price * bits (PSNR of the 64x64 canvas, bits of the whole file), so a bit is spent
/// only where it buys at least `price` dB. A price in dB rather than in squared error (SSE + lambda * bits) treats
/// every image alike: at a fixed lambda, images the model already codes well (small SSE) are denied bits that
/// would raise their PSNR far more than the same bits raise a hard image's; minimising -PSNR + price * bits
/// image by image maximises the mean PSNR for the mean rate. The price falls geometrically from 0.1 dB per bit
/// at quality 1 (a little above the smallest candidates) to 10^-3.5 at quality 100, where a 64x64 file's
/// last 0.1 bpp must still buy 0.13 dB.
/// Among the candidates, a higher quality never picks a smaller file for the same image and models.
public enum QualityScale {
    public static let defaultQuality = 60

    public static func decibelsPerBit(forQuality quality: Int) -> Double {
        precondition((1...100).contains(quality))
        return pow(10, -1 - 2.5 * Double(quality - 1) / 99)
    }
}

/// What the user asked for: a quality on the 1...100 scale, or a bit budget.
public enum RateTarget: Sendable, Equatable {
    case quality(Int)
    /// Bits per pixel of the whole .vae file over the original width x height.
    case bitsPerPixel(Double)
}

/// One way to code one image: the model, the rung, the resulting file and how good it is.
public struct EncodingChoice {
    public let model: CodecModel
    public let rung: Int
    /// The encoder's mean for this image under this model, and the symbols the file codes.
    public let mean: [Float]
    public let symbols: [Int32]
    public let file: [UInt8]
    public let payloadBytes: Int
    /// PSNR of the decoded canvas (rounded to 8 bits, as a decoder writes it) against the input canvas.
    public let canvasPSNR: Double
    /// Sum of squared errors over the canvas (8-bit units), the distortion the rate control weighs.
    public let canvasSSE: Double
    public let header: ContainerHeader
    public var width: Int { header.width }
    public var height: Int { header.height }
    /// The model's view of the image (pixels 0...255), which the file codes.
    public let canvas: GrayImage
    /// False when no candidate met a --bpp target (the smallest file is used).
    public internal(set) var metTarget: Bool

    public var headerBytes: Int { file.count - payloadBytes }
    public var bitsPerPixel: Double { Double(file.count * 8) / Double(width * height) }
    /// What `--quality` minimises: -PSNR + price * bits, the price in dB per bit (`QualityScale`).
    func cost(quality: Int) -> Double {
        -canvasPSNR + QualityScale.decibelsPerBit(forQuality: quality) * Double(file.count * 8)
    }
    /// The same trade-off near this candidate in squared error: d(-PSNR) = 10 / (ln 10 * SSE) * dSSE, so a price
    /// of p dB per bit is worth p * SSE * ln 10 / 10 of SSE per bit (0 for a lossless candidate, which no search
    /// can improve).
    func lambda(decibelsPerBit price: Double) -> Double { price * canvasSSE * log(10) / 10 }
}

/// Picks the model and rung for one image among every candidate: each model of the set (a family such as
/// `faces`, every shipped model for `--model auto`, or one file) at each rung of its ladder. All candidates are
/// coded and decoded, so the choice rests on the real file size and the real reconstruction:
/// - `--quality q`: the least -PSNR + price(q) * bits (`QualityScale`), the rate-distortion optimum for that slope;
/// - `--bpp X`: the best canvas PSNR among files of at most X bits per pixel; when none fits, the smallest file.
/// A face coded by the digit model is many dB worse, so the same rule sends each image to its domain's models.
/// The chosen candidate's symbols are then refined (`LatentRefiner`) and the refinement kept if it does better.
public enum RateControl {
    public static func encode(_ image: GrayImage, models: [CodecModel], target: RateTarget, crop: Int? = nil,
                              hint: ContainerHeader.FormatHint, refiner: LatentRefiner = LatentRefiner()) -> EncodingChoice {
        encode(EncoderInput(image: image, crop: crop, hint: hint), models: models, target: target, refiner: refiner)
    }

    public static func encode(_ input: EncoderInput, models: [CodecModel], target: RateTarget,
                              refiner: LatentRefiner = LatentRefiner()) -> EncodingChoice {
        let all = candidates(input, models: models)
        return refine(choose(among: all, target: target), among: all, target: target, refiner: refiner)
    }

    /// Every way the models can code the image (each model at each of its rungs).
    public static func candidates(_ image: GrayImage, models: [CodecModel], crop: Int? = nil,
                                  hint: ContainerHeader.FormatHint) -> [EncodingChoice] {
        candidates(EncoderInput(image: image, crop: crop, hint: hint), models: models)
    }

    public static func candidates(_ input: EncoderInput, models: [CodecModel]) -> [EncodingChoice] {
        precondition(!models.isEmpty)
        return models.flatMap { candidates(input, model: $0) }
    }

    public static func choose(among all: [EncodingChoice], target: RateTarget) -> EncodingChoice {
        switch target {
        case .quality(let quality):
            return all.min { $0.cost(quality: quality) < $1.cost(quality: quality) }!
        case .bitsPerPixel(let budget):
            let fitting = all.filter { $0.bitsPerPixel <= budget }
            guard let best = fitting.max(by: { ($0.canvasPSNR, -$0.file.count) < ($1.canvasPSNR, -$1.file.count) }) else {
                var smallest = all.min { $0.file.count < $1.file.count }!
                smallest.metTarget = false
                return smallest
            }
            return best
        }
    }

    /// The chosen candidate with refined symbols when they code the image better: a lower -PSNR + price * bits for
    /// `--quality` (the search itself weighs SSE + lambda * bits, the price in squared error at this candidate);
    /// for `--bpp`, a better PSNR within the budget, refining at the largest lambda for which this candidate still
    /// beats every cheaper one (what a bit is worth here).
    public static func refine(_ choice: EncodingChoice, among all: [EncodingChoice], target: RateTarget,
                              refiner: LatentRefiner) -> EncodingChoice {
        guard refiner.steps > 0, choice.metTarget, let lambda = refinementLambda(choice, among: all, target: target) else { return choice }
        let symbols = refiner.refine(mean: choice.mean, rung: choice.rung, model: choice.model, canvas: choice.canvas.pixels, lambda: lambda)
        guard symbols != choice.symbols else { return choice }
        let refined = choices(model: choice.model, coded: [(choice.mean, symbols, choice.rung, choice.canvas, choice.header)])[0]
        return isBetter(refined, than: choice, target: target) ? refined : choice
    }

    /// The price of a bit in squared error at which `choice` is refined (nil: nothing to refine toward).
    static func refinementLambda(_ choice: EncodingChoice, among all: [EncodingChoice], target: RateTarget) -> Double? {
        switch target {
        case .quality(let quality):
            return choice.lambda(decibelsPerBit: QualityScale.decibelsPerBit(forQuality: quality))
        case .bitsPerPixel:
            let cheaper = all.filter { $0.file.count < choice.file.count && $0.canvasSSE > choice.canvasSSE }
            return cheaper.map { ($0.canvasSSE - choice.canvasSSE) / Double(8 * (choice.file.count - $0.file.count)) }.min()
        }
    }

    /// Whether a refined candidate replaces the chosen one.
    static func isBetter(_ refined: EncodingChoice, than choice: EncodingChoice, target: RateTarget) -> Bool {
        switch target {
        case .quality(let quality): return refined.cost(quality: quality) < choice.cost(quality: quality)
        case .bitsPerPixel(let budget): return refined.bitsPerPixel <= budget && refined.canvasSSE < choice.canvasSSE
        }
    }

    /// The image coded at every rung of one model: one encoder pass, one batched decoder pass.
    static func candidates(_ input: EncoderInput, model: CodecModel) -> [EncodingChoice] {
        let codec = LatentCodec(model: model)
        let (canvas, width, height) = input.canvas(side: model.canvas)
        let mean = codec.means([canvas])[0]
        return choices(model: model, coded: codec.symbolsAtEveryRung(mean: mean).enumerated().map { rung, symbols in
            (mean, symbols, rung, canvas, codec.header(rung: rung, width: width, height: height, hint: input.hint))
        })
    }

    /// Files for symbol vectors of one model (of one image or many), decoded in one batch and measured against
    /// their canvases.
    static func choices(model: CodecModel, coded: [(mean: [Float], symbols: [Int32], rung: Int, canvas: GrayImage, header: ContainerHeader)])
        -> [EncodingChoice] {
        guard !coded.isEmpty else { return [] }
        let codec = LatentCodec(model: model)
        let decoded = codec.reconstructions(coded.map { ($0.symbols, $0.rung) })
        return zip(coded, decoded).map { coded, decoded in
            let reference = coded.canvas.bytes().map(Float.init)
            let file = codec.file(symbols: coded.symbols, header: coded.header)
            let sse = Distortion.sumOfSquares(reference, decoded.bytes().map(Float.init))
            return EncodingChoice(model: model, rung: coded.rung, mean: coded.mean, symbols: coded.symbols, file: file,
                                  payloadBytes: file.count - coded.header.byteCount,
                                  canvasPSNR: Distortion.psnr(sse: sse, count: reference.count), canvasSSE: sse,
                                  header: coded.header, canvas: coded.canvas, metTarget: true)
        }
    }
}

public enum Distortion {
    /// Peak signal-to-noise ratio for 8-bit values, in dB (capped at 99 for identical inputs).
    public static func psnr(_ a: [Float], _ b: [Float]) -> Double { psnr(sse: sumOfSquares(a, b), count: a.count) }

    public static func psnr(sse: Double, count: Int) -> Double {
        let mse = sse / Double(count)
        return mse == 0 ? 99 : 10 * log10(255 * 255 / mse)
    }

    public static func sumOfSquares(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count && !a.isEmpty)
        var sum = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            sum += d * d
        }
        return sum
    }
}

#if canImport(Glibc)
import Glibc
#endif
