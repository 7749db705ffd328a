import VAECodecKit
import Foundation

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
    /// The encoder as `compress` runs it (its default effort unless set).
    public var settings = EncoderSettings()
    /// Another encoder measured on the same images, for BD-PSNR against the first.
    public var comparison: Comparison?

    /// vaecodec with other models or another effort, measured as codec "vaecodec-" + `label`.
    public struct Comparison {
        public var label: String
        public var models: [CodecModel]
        public var settings: EncoderSettings
        /// What is compared with what, for the report's heading ("`--effort balanced` against `--effort best`").
        public var description: String

        public init(label: String, models: [CodecModel], settings: EncoderSettings, description: String) {
            (self.label, self.models, self.settings, self.description) = (label, models, settings, description)
        }
    }

    public init(models: [CodecModel], pca: PCABaseline?, images: [GrayImage]) {
        (self.models, self.pca, self.images) = (models, pca, images)
    }

    /// The --quality values swept, evenly spaced in log price: every 3rd from 31 to 70, where the curves cross
    /// 0.05-0.4 bpp and the report reads them, every 6th elsewhere (and 100).
    public static let qualities = Array(stride(from: 1, to: 31, by: 6)) + Array(stride(from: 31, through: 70, by: 3))
        + Array(stride(from: 76, through: 100, by: 6))

    public struct Timing: Sendable {
        public var vaecodecRoundTripSeconds = 0.0  // compress (in one batch) + decompress, per image, at the default quality
        public var jpegRoundTripSeconds = 0.0      // encode + decode at quality 50, per image
        public var images = 0
    }

    /// `progress` receives the units done: each effort's qualities, then the images of the baselines.
    public func run(progress: (Int) -> Void) throws -> (rows: [BenchRow], timing: Timing) {
        var rows: [BenchRow] = []
        var done = 0
        let encoders = [(BenchCodec.vaecodec, models, settings)] + (comparison.map { [(BenchCodec.vaecodec + "-" + $0.label, $0.models, $0.settings)] } ?? [])
        for (name, models, settings) in encoders {
            rows += try vaecodecRows(codec: name, models: models, settings: settings) { done += 1; progress(done) }
        }
        var timing = Timing()
        for (index, canvas) in images.enumerated() {
            func add(_ codec: String, _ setting: String, bytes: Int, decoded: GrayImage) {
                rows.append(row(index, codec, setting, bytes: bytes, decoded: decoded))
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
            let start = MonotonicClock.seconds()
            _ = try JPEGBaseline.code(canvas, quality: 50)
            timing.jpegRoundTripSeconds += MonotonicClock.seconds() - start
            done += 1
            progress(done)
        }
        // Wall time of what a user runs: compress the images in one command, then decompress each file to PNG.
        let start = MonotonicClock.seconds()
        let choices = BatchEncoder.encode(inputs, models: models, target: .quality(QualityScale.defaultQuality), settings: settings)
        for choice in choices {
            _ = try ImageCodec.encodePNG(try LatentCodec(model: choice.model).decompress(Container.parse(choice.file, name: "bench"), name: "bench").image())
        }
        timing.vaecodecRoundTripSeconds = (MonotonicClock.seconds() - start) / Double(max(1, images.count))
        timing.jpegRoundTripSeconds /= Double(max(1, images.count))
        timing.images = images.count
        return (rows, timing)
    }

    /// Units of progress `run` reports.
    public var progressUnits: Int { Self.qualities.count * (comparison == nil ? 1 : 2) + images.count }

    var inputs: [EncoderInput] { images.map { EncoderInput(image: $0, hint: .png) } }

    func row(_ index: Int, _ codec: String, _ setting: String, bytes: Int, decoded: GrayImage) -> BenchRow {
        let canvas = images[index]
        return BenchRow(image: index, codec: codec, setting: setting, bytes: bytes, bpp: Double(bytes * 8) / Double(canvas.width * canvas.height),
                        psnr: Metrics.psnr(canvas, decoded), ssim: Metrics.ssim(canvas, decoded))
    }

    /// Every image at every quality, coded as `compress` codes it with these settings and decoded from the file.
    func vaecodecRows(codec: String, models: [CodecModel], settings: EncoderSettings, qualityDone: () -> Void) throws -> [BenchRow] {
        var rows: [BenchRow] = []
        func add(_ index: Int, _ quality: Int, _ choice: EncodingChoice) throws {
            let decoded = try LatentCodec(model: choice.model).decompress(Container.parse(choice.file, name: "bench"), name: "bench")
            rows.append(row(index, codec, "q\(quality)", bytes: choice.file.count,
                            decoded: GrayImage(width: decoded.width, height: decoded.height, pixels: decoded.bytes().map(Float.init))))
        }
        if settings.effort == .best {
            // Every candidate is the same at every quality: code them once per image.
            let candidates = images.map { RateControl.candidates($0, models: models, hint: .png) }
            for quality in Self.qualities {
                let target = RateTarget.quality(quality)
                for (index, all) in candidates.enumerated() {
                    try add(index, quality, RateControl.refine(RateControl.choose(among: all, target: target), among: all, target: target, refiner: settings.refiner))
                }
                qualityDone()
            }
        } else {
            for quality in Self.qualities {
                for (index, choice) in BatchEncoder.encode(inputs, models: models, target: .quality(quality), settings: settings).enumerated() {
                    try add(index, quality, choice)
                }
                qualityDone()
            }
        }
        return rows
    }

    /// Rows of a codec measured elsewhere on these very images (Benchmarks/reference/compressai_reference.py): `path`
    /// is a CSV with the header `image,codec,setting,bytes`, one line per image and setting; beside it, each codec and
    /// setting's decoded canvases are `CODEC_SETTING.u8` (the images in order, `side` x `side` bytes each). PSNR and
    /// SSIM are measured here, by the metrics every other codec gets.
    /// - Throws: `ImageError` naming the file, when a line is malformed, an image index is out of range or repeated, a
    ///   setting misses an image, or a decoded file is missing or of the wrong size.
    public func referenceRows(from path: String) throws -> [BenchRow] {
        let side = images.first?.width ?? 0, canvasBytes = side * side
        let lines = String(decoding: try Files.read(path, limit: 64 << 20), as: UTF8.self).split(whereSeparator: \.isNewline)
        guard lines.first == "image,codec,setting,bytes" else {
            throw ImageError(file: path, problem: "not a reference points file (its first line must be image,codec,setting,bytes)")
        }
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")
        var sizes: [String: [String: [Int: Int]]] = [:]  // codec -> setting -> image -> bytes
        for (number, line) in lines.enumerated().dropFirst() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4, let image = Int(fields[0]), let bytes = Int(fields[3]), bytes > 0,
                  !fields[1].isEmpty, !fields[2].isEmpty, fields[1].allSatisfy(allowed.contains), fields[2].allSatisfy(allowed.contains) else {
                throw ImageError(file: path, problem: "line \(number + 1) is not image,codec,setting,bytes (codec and setting in letters, digits, '.' and '-')")
            }
            guard images.indices.contains(image) else {
                throw ImageError(file: path, problem: "line \(number + 1): image \(image), but this bench measures \(images.count) images")
            }
            guard sizes[fields[1], default: [:]][fields[2], default: [:]].updateValue(bytes, forKey: image) == nil else {
                throw ImageError(file: path, problem: "line \(number + 1): image \(image) of \(fields[1]) \(fields[2]) appears twice")
            }
        }
        guard !sizes.isEmpty else { throw ImageError(file: path, problem: "no points") }
        let folder = (path as NSString).deletingLastPathComponent
        var rows: [BenchRow] = []
        for (codec, settings) in sizes.sorted(by: { $0.key < $1.key }) {
            for (setting, bytes) in settings.sorted(by: { $0.key < $1.key }) {
                guard bytes.count == images.count else {
                    throw ImageError(file: path, problem: "\(codec) \(setting) has \(bytes.count) of the bench's \(images.count) images")
                }
                let decodedPath = (folder.isEmpty ? "" : folder + "/") + "\(codec)_\(setting).u8"
                let decoded = try Files.read(decodedPath, limit: images.count * canvasBytes)
                guard decoded.count == images.count * canvasBytes else {
                    throw ImageError(file: decodedPath, problem: "\(decoded.count) bytes, not \(images.count) canvases of \(side)x\(side)")
                }
                for index in images.indices {
                    let pixels = decoded[(index * canvasBytes)..<((index + 1) * canvasBytes)].map(Float.init)
                    rows.append(row(index, codec, setting, bytes: bytes[index]!, decoded: GrayImage(width: side, height: side, pixels: pixels)))
                }
            }
        }
        return rows
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
