import Codec
import Foundation
import ImageIO
import VAE

/// One image coded one way.
public struct BenchRow: Sendable {
    public var image: Int
    public var codec: String
    public var setting: String
    public var bytes: Int
    public var bpp: Double
    public var psnr: Double
    public var ssim: Double
}

/// The codecs compared, by the names used in results.csv and the report.
public enum BenchCodec {
    public static let vaecodec = "vaecodec", jpeg = "jpeg", jpegPayload = "jpeg-payload", pca = "pca", png = "png"
}

/// Runs vaecodec's quality ladder and the baselines (JPEG file and payload, PCA, PNG) over held-out canvases.
public struct RateDistortionBench {
    public var models: [CodecModel]
    public var pca: PCABaseline?
    public var images: [GrayImage]
    public var refiner = LatentRefiner()

    public init(models: [CodecModel], pca: PCABaseline?, images: [GrayImage]) {
        (self.models, self.pca, self.images) = (models, pca, images)
    }

    /// The --quality values swept, evenly spaced in log price: every 3rd from 31 to 70, where the curves cross
    /// 0.05-0.4 bpp and the report reads them, every 6th elsewhere (and 100). Each point refines its symbols, so
    /// every 3rd throughout would cost 1.4 times the time; every 6th left 0.07 to 0.12 bpp between two faces points.
    public static let qualities = Array(stride(from: 1, to: 31, by: 6)) + Array(stride(from: 31, through: 70, by: 3))
        + Array(stride(from: 76, through: 100, by: 6))

    public struct Timing: Sendable {
        public var vaecodecRoundTripSeconds = 0.0  // compress + decompress, per image, at the default quality
        public var jpegRoundTripSeconds = 0.0      // encode + decode at quality 50, per image
        public var images = 0
    }

    public func run(progress: (Int) -> Void) throws -> (rows: [BenchRow], timing: Timing) {
        var rows: [BenchRow] = []
        var timing = Timing()
        for (index, canvas) in images.enumerated() {
            let pixels = Double(canvas.width * canvas.height)
            func add(_ codec: String, _ setting: String, bytes: Int, decoded: GrayImage) {
                rows.append(BenchRow(image: index, codec: codec, setting: setting, bytes: bytes, bpp: Double(bytes * 8) / pixels,
                                     psnr: Metrics.psnr(canvas, decoded), ssim: Metrics.ssim(canvas, decoded)))
            }
            let candidates = RateControl.candidates(canvas, models: models, hint: .png)
            for quality in Self.qualities {
                let target = RateTarget.quality(quality)
                let choice = RateControl.refine(RateControl.choose(among: candidates, target: target), among: candidates, target: target, refiner: refiner)
                let container = try Container.parse(choice.file, name: "bench")
                let decoded = try LatentCodec(model: choice.model).decompress(container, name: "bench")
                add(BenchCodec.vaecodec, "q\(quality)", bytes: choice.file.count, decoded: GrayImage(width: decoded.width, height: decoded.height, pixels: decoded.bytes().map(Float.init)))
            }
            for quality in JPEGBaseline.qualities {
                let (file, payload) = try JPEGBaseline.code(canvas, quality: quality)
                add(BenchCodec.jpeg, "q\(quality)", bytes: file.bytes, decoded: file.decoded)
                add(BenchCodec.jpegPayload, "q\(quality)", bytes: payload, decoded: file.decoded)
            }
            if let pca {
                for k in PCABaseline.componentCounts where k <= pca.components.count {
                    for step in PCABaseline.steps {
                        let coded = try pca.code(canvas, components: k, step: step)
                        add(BenchCodec.pca, "k\(k) step\(step)", bytes: coded.bytes, decoded: coded.decoded)
                    }
                }
            }
            add(BenchCodec.png, "lossless", bytes: try PNGBaseline.bytes(canvas), decoded: canvas)

            // Wall time of what a user runs, one image at a time.
            let start = MonotonicClock.seconds()
            let choice = RateControl.encode(canvas, models: models, target: .quality(QualityScale.defaultQuality), hint: .png, refiner: refiner)
            let container = try Container.parse(choice.file, name: "bench")
            _ = try ImageCodec.encodePNG(try LatentCodec(model: choice.model).decompress(container, name: "bench").image())
            let middle = MonotonicClock.seconds()
            _ = try JPEGBaseline.code(canvas, quality: 50)
            timing.vaecodecRoundTripSeconds += middle - start
            timing.jpegRoundTripSeconds += MonotonicClock.seconds() - middle
            timing.images += 1
            progress(index + 1)
        }
        timing.vaecodecRoundTripSeconds /= Double(max(1, timing.images))
        timing.jpegRoundTripSeconds /= Double(max(1, timing.images))
        return (rows, timing)
    }

    /// Each codec's settings averaged over images (mean bpp, mean PSNR, mean SSIM).
    public static func averages(_ rows: [BenchRow]) -> [String: [RDPoint]] {
        var groups: [String: [String: [BenchRow]]] = [:]
        for row in rows { groups[row.codec, default: [:]][row.setting, default: []].append(row) }
        return groups.mapValues { settings in
            settings.map { setting, rows in
                let n = Double(rows.count)
                return RDPoint(bpp: rows.reduce(0) { $0 + $1.bpp } / n, psnr: rows.reduce(0) { $0 + $1.psnr } / n,
                               ssim: rows.reduce(0) { $0 + $1.ssim } / n, setting: setting)
            }.sorted { $0.bpp < $1.bpp }
        }
    }
}
