import EntropyCoding
import ImageIO

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
    public let file: [UInt8]
    public let payloadBytes: Int
    /// PSNR of the decoded canvas (rounded to 8 bits, as a decoder writes it) against the input canvas.
    public let canvasPSNR: Double
    public let width: Int
    public let height: Int
    /// False when a --bpp target could not be met even at the coarsest rung (the coarsest is used).
    public let metTarget: Bool

    public var headerBytes: Int { file.count - payloadBytes }
    public var bitsPerPixel: Double { Double(file.count * 8) / Double(width * height) }
}

/// Picks the rung (and, with several candidate models, the model) for one image.
public enum RateControl {
    /// With one model: the rung the target names. With several (`--model auto`), each model codes the image at
    /// its own rung for the target and the best canvas PSNR wins; within 0.1 dB the smaller file wins.
    /// That is the rate-distortion choice: a face coded by the digit model is many dB worse, and vice versa.
    public static func encode(_ image: GrayImage, models: [CodecModel], target: RateTarget, crop: Int? = nil,
                              hint: ContainerHeader.FormatHint) -> EncodingChoice {
        precondition(!models.isEmpty)
        let all = models.map { encode(image, model: $0, target: target, crop: crop, hint: hint) }
        let withinBudget = all.filter(\.metTarget)
        let choices = withinBudget.isEmpty ? all : withinBudget
        return choices.dropFirst().reduce(choices[0]) { best, next in
            if next.canvasPSNR > best.canvasPSNR + 0.1 { return next }
            if next.canvasPSNR >= best.canvasPSNR - 0.1 && next.file.count < best.file.count { return next }
            return best
        }
    }

    static func encode(_ image: GrayImage, model: CodecModel, target: RateTarget, crop: Int?,
                       hint: ContainerHeader.FormatHint) -> EncodingChoice {
        let codec = LatentCodec(model: model)
        let (canvas, width, height) = codec.canvas(of: image, crop: crop)
        let mean = codec.means([canvas])[0]
        let reference = canvas.bytes().map(Float.init)

        func choice(rung: Int, metTarget: Bool = true) -> EncodingChoice {
            let symbols = codec.symbols(mean: mean, rung: rung)
            let payload = codec.payload(symbols: symbols, rung: rung)
            let header = ContainerHeader(formatHint: hint, rung: UInt8(rung), modelID: model.modelID, width: width, height: height)
            let file = Container(header: header, payload: payload).serialized(modelFingerprint: model.fingerprint)
            let decoded = codec.reconstructions([symbols], rung: rung)[0].bytes().map(Float.init)
            return EncodingChoice(model: model, rung: rung, file: file, payloadBytes: payload.count,
                                  canvasPSNR: Distortion.psnr(reference, decoded), width: width, height: height, metTarget: metTarget)
        }

        switch target {
        case .quality(let quality):
            return choice(rung: QualityScale.rung(forQuality: quality, rungs: codec.rungCount))
        case .bitsPerPixel(let budget):
            // The finest rung (the last, as rungs go coarse to fine) whose file fits the budget.
            var best: EncodingChoice?
            for rung in 0..<codec.rungCount {
                let candidate = choice(rung: rung)
                if candidate.bitsPerPixel <= budget { best = candidate }
            }
            return best ?? choice(rung: 0, metTarget: false)
        }
    }
}

public enum Distortion {
    /// Peak signal-to-noise ratio for 8-bit values, in dB (capped at 99 for identical inputs).
    public static func psnr(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count && !a.isEmpty)
        var sum = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            sum += d * d
        }
        let mse = sum / Double(a.count)
        return mse == 0 ? 99 : 10 * log10(255 * 255 / mse)
    }
}

#if canImport(Glibc)
import Glibc
#endif
