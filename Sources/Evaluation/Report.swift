import VAECodecKit
import Foundation

/// Writes a rate-distortion study: results.csv, report.md, rd-psnr.svg, rd-ssim.svg, grid.png.
public struct RateDistortionReport {
    public var title: String
    public var command: String
    public var description: [String]
    public var rows: [BenchRow]
    public var timing: RateDistortionBench.Timing
    public var images: [GrayImage]
    public var bench: RateDistortionBench

    public init(title: String, command: String, description: [String], rows: [BenchRow],
                timing: RateDistortionBench.Timing, images: [GrayImage], bench: RateDistortionBench) {
        (self.title, self.command, self.description, self.rows, self.timing, self.images, self.bench) =
            (title, command, description, rows, timing, images, bench)
    }

    static let ownCodecs = [BenchCodec.vaecodec, BenchCodec.pca, BenchCodec.jpegPayload, BenchCodec.jpeg]
    static let targets = [0.05, 0.1, 0.2, 0.3]
    static let colors = [BenchCodec.vaecodec: "#d62728", BenchCodec.pca: "#1f77b4", BenchCodec.jpegPayload: "#2ca02c", BenchCodec.jpeg: "#7f7f7f"]
    static let referenceColors = ["#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22"]

    /// Codecs measured elsewhere and read with `RateDistortionBench.referenceRows(from:)` (CompressAI's models).
    var referenceCodecs: [String] {
        let own: Set = [BenchCodec.vaecodec, BenchCodec.jpeg, BenchCodec.jpegPayload, BenchCodec.pca, BenchCodec.png]
        return Set(rows.map(\.codec)).filter { !own.contains($0) && !$0.hasPrefix(BenchCodec.vaecodec + "-") }.sorted()
    }

    /// The codecs drawn and tabulated: vaecodec, the classical baselines, then the references.
    var curveCodecs: [String] { Self.ownCodecs + referenceCodecs }

    func color(_ codec: String) -> String {
        Self.colors[codec] ?? referenceCodecs.firstIndex(of: codec).map { Self.referenceColors[$0 % Self.referenceColors.count] } ?? "black"
    }

    public func write(to directory: String, overwrite: Bool) throws {
        try Files.writeAtomically(Array(csv().utf8), to: directory + "/results.csv", overwrite: overwrite)
        try Files.writeAtomically(Array(markdown().utf8), to: directory + "/report.md", overwrite: overwrite)
        try Files.writeAtomically(Array(svg(metric: \.psnr, label: "PSNR (dB)").utf8), to: directory + "/rd-psnr.svg", overwrite: overwrite)
        try Files.writeAtomically(Array(svg(metric: \.ssim, label: "SSIM").utf8), to: directory + "/rd-ssim.svg", overwrite: overwrite)
        try Files.writeAtomically(try grid().png(), to: directory + "/grid.png", overwrite: overwrite)
    }

    func csv() -> String {
        var out = "image,codec,setting,bytes,bpp,psnr_db,ssim\n"
        for r in rows {
            out += "\(r.image),\(r.codec),\(r.setting),\(r.bytes),\(format(r.bpp, 4)),\(format(r.psnr, 3)),\(format(r.ssim, 4))\n"
        }
        return out
    }

    var averages: [String: [RDPoint]] { RateDistortionBench.averages(rows) }

    func markdown() -> String {
        let averages = self.averages
        var md = "# \(title)\n\n" + description.map { "- \($0)\n" }.joined() + "- Produced by: `\(command)`\n\n"
        let side = images.first?.width ?? 0
        md += "PSNR and SSIM (Wang et al. 2004, 11x11 Gaussian window) on the \(side)x\(side) canvas, averaged over images; bpp counts every "
            + "byte of the file over \(side)x\(side) pixels, except `jpeg-payload`, which counts only JPEG's entropy-coded scan "
            + "(no headers, no tables). `pca` codes its coefficients with vaecodec's entropy coder and container.\n\n"
        if !referenceCodecs.isEmpty {
            md += "\(referenceCodecs.joined(separator: ", ")) coded these same canvases elsewhere (`--reference`): their bytes are those "
                + "counted there (Benchmarks/reference/compressai_reference.py: CompressAI's strings plus a 2-byte shape header); "
                + "PSNR and SSIM of their decoded canvases are measured here.\n\n"
        }

        md += "## PSNR (dB) at fixed rates, interpolated on each codec's Pareto front\n\n| codec | "
            + Self.targets.map { "\($0) bpp" }.joined(separator: " | ") + " |\n|---|" + Self.targets.map { _ in "---|" }.joined() + "\n"
        for codec in curveCodecs {
            let front = RDCurve.paretoFront(averages[codec] ?? [], metric: \.psnr)
            md += "| \(codec) | " + Self.targets.map { t in RDCurve.value(at: t, on: front, metric: \.psnr).map { format($0, 2) } ?? "—" }
                .joined(separator: " | ") + " |\n"
        }
        md += "\nSSIM at the same rates:\n\n| codec | " + Self.targets.map { "\($0) bpp" }.joined(separator: " | ") + " |\n|---|"
            + Self.targets.map { _ in "---|" }.joined() + "\n"
        for codec in curveCodecs {
            let front = RDCurve.paretoFront(averages[codec] ?? [], metric: \.ssim)
            md += "| \(codec) | " + Self.targets.map { t in RDCurve.value(at: t, on: front, metric: \.ssim).map { format($0, 3) } ?? "—" }
                .joined(separator: " | ") + " |\n"
        }

        md += "\n## BD-rate of vaecodec (PSNR; negative = fewer bits for the same quality)\n\n"
        for baseline in [BenchCodec.pca, BenchCodec.jpegPayload, BenchCodec.jpeg] + referenceCodecs {
            let value = RDCurve.bdRate(averages[BenchCodec.vaecodec] ?? [], against: averages[baseline] ?? [])
            md += "- against \(baseline): " + (value.map { format($0, 1) + " %" } ?? "no overlapping PSNR range") + "\n"
        }

        if let comparison = bench.comparison {
            let value = RDCurve.bdPSNR(averages[BenchCodec.vaecodec] ?? [], against: averages[BenchCodec.vaecodec + "-" + comparison.label] ?? [])
            md += "\n## \(comparison.description)\n\n"
                + "BD-PSNR over 0.05-0.3 bpp (negative: the first is worse): " + (value.map { format($0, 3) + " dB" } ?? "no common rates") + "\n"
        }

        md += "\n## vaecodec's quality ladder\n\n| setting | bpp | bytes | PSNR (dB) | SSIM |\n|---|---|---|---|---|\n"
        let vaeRows = rows.filter { $0.codec == BenchCodec.vaecodec }
        for point in (averages[BenchCodec.vaecodec] ?? []).sorted(by: { Int($0.setting.dropFirst())! < Int($1.setting.dropFirst())! }) {
            let bytes = vaeRows.filter { $0.setting == point.setting }.map(\.bytes)
            md += "| --quality \(point.setting.dropFirst()) | \(format(point.bpp, 4)) | \(format(Double(bytes.reduce(0, +)) / Double(max(1, bytes.count)), 1)) "
                + "| \(format(point.psnr, 2)) | \(format(point.ssim, 3)) |\n"
        }
        md += "\nA 64x64 vaecodec file has a 3-byte header; the rest is the rANS payload, whose initial state carries a 23-bit integrity check.\n"

        md += "\n## Pareto fronts\n\n| codec | setting | bpp | PSNR (dB) | SSIM |\n|---|---|---|---|---|\n"
        for codec in curveCodecs {
            for p in RDCurve.paretoFront(averages[codec] ?? [], metric: \.psnr) {
                md += "| \(codec) | \(p.setting) | \(format(p.bpp, 4)) | \(format(p.psnr, 2)) | \(format(p.ssim, 3)) |\n"
            }
        }
        if let png = averages[BenchCodec.png]?.first { md += "\nPNG (lossless): \(format(png.bpp, 3)) bpp.\n" }
        md += "\n## Speed (one image at a time, this machine)\n\n"
            + "- vaecodec compress + decompress at --quality \(QualityScale.defaultQuality) (PNG out): \(format(timing.vaecodecRoundTripSeconds * 1000, 2)) ms per image\n"
            + "- libjpeg-turbo encode + decode at quality 50: \(format(timing.jpegRoundTripSeconds * 1000, 3)) ms per image "
            + "(ratio \(format(timing.vaecodecRoundTripSeconds / max(timing.jpegRoundTripSeconds, 1e-12), 1)))\n"
        return md
    }

    func svg(metric: KeyPath<RDPoint, Double>, label: String) -> String {
        let averages = self.averages
        let (w, h, left, right, top, bottom) = (720.0, 480.0, 70.0, 170.0, 30.0, 60.0)
        let curves = curveCodecs.map { ($0, RDCurve.paretoFront(averages[$0] ?? [], metric: metric)) }
        let all = curves.flatMap(\.1)
        let xs = all.map { log10($0.bpp) }, ys = all.map { $0[keyPath: metric] }
        let (x0, x1) = (floor((xs.min() ?? -2) * 2) / 2, ceil((xs.max() ?? 0) * 2) / 2)
        let ySpan = (ys.max() ?? 1) - (ys.min() ?? 0)
        let (y0, y1) = ((ys.min() ?? 0) - 0.05 * ySpan, (ys.max() ?? 1) + 0.05 * ySpan)
        func px(_ v: Double) -> Double { left + (log10(v) - x0) / max(x1 - x0, 1e-9) * (w - left - right) }
        func py(_ v: Double) -> Double { h - bottom - (v - y0) / max(y1 - y0, 1e-9) * (h - top - bottom) }
        var s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" font-family=\"sans-serif\" font-size=\"12\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"\(left)\" y=\"18\" font-size=\"14\">\(xml(title)): \(label) vs bits per pixel</text>\n"
        // Axes with ticks: decades and halves in bpp, about six steps in quality.
        s += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - right)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        s += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        var tick = floor(x0)  // ticks at 1, 2, 5 times each decade inside the range
        while tick <= x1 + 1e-9 {
            for m in [1.0, 2.0, 5.0] {
                let v = pow(10, tick) * m
                guard log10(v) >= x0 - 1e-9, log10(v) <= x1 + 1e-9 else { continue }
                let x = px(v)
                s += "<line x1=\"\(x)\" y1=\"\(h - bottom)\" x2=\"\(x)\" y2=\"\(top)\" stroke=\"#e0e0e0\"/>"
                s += "<text x=\"\(x)\" y=\"\(h - bottom + 16)\" text-anchor=\"middle\">\(shortNumber(v))</text>\n"
            }
            tick += 1
        }
        let yStep = niceStep((y1 - y0) / 6)
        var yt = ceil(y0 / yStep) * yStep
        while yt <= y1 {
            s += "<line x1=\"\(left)\" y1=\"\(py(yt))\" x2=\"\(w - right)\" y2=\"\(py(yt))\" stroke=\"#e0e0e0\"/>"
            s += "<text x=\"\(left - 6)\" y=\"\(py(yt) + 4)\" text-anchor=\"end\">\(shortNumber(yt))</text>\n"
            yt += yStep
        }
        s += "<text x=\"\((left + w - right) / 2)\" y=\"\(h - 20)\" text-anchor=\"middle\">bits per pixel (log scale)</text>\n"
        s += "<text x=\"18\" y=\"\((top + h - bottom) / 2)\" text-anchor=\"middle\" transform=\"rotate(-90 18 \((top + h - bottom) / 2))\">\(label)</text>\n"
        for (i, (codec, front)) in curves.enumerated() where !front.isEmpty {
            let color = color(codec)
            let path = front.map { "\(px($0.bpp)),\(py($0[keyPath: metric]))" }.joined(separator: " ")
            s += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            for p in front { s += "<circle cx=\"\(px(p.bpp))\" cy=\"\(py(p[keyPath: metric]))\" r=\"3\" fill=\"\(color)\"/>" }
            let ly = top + 20 + Double(i) * 20
            s += "\n<line x1=\"\(w - right + 15)\" y1=\"\(ly)\" x2=\"\(w - right + 40)\" y2=\"\(ly)\" stroke=\"\(color)\" stroke-width=\"2\"/>"
            s += "<text x=\"\(w - right + 46)\" y=\"\(ly + 4)\">\(codec)</text>\n"
        }
        return s + "</svg>\n"
    }

    /// Originals, vaecodec at the default quality, JPEG (payload) and PCA at the nearest bpp, with bpp and PSNR.
    func grid(columns: Int = 8) throws -> Picture {
        let shown = Array(images.prefix(columns))
        let side = images.first?.width ?? 64, pixels = Double(side * side)
        let scale = max(1, 128 / side), tile = side * scale, labelWidth = 84, rowHeight = tile + 24
        var picture = Picture(width: labelWidth + shown.count * (tile + 8), height: 4 * rowHeight + 8)
        let rowNames = ["original", "vaecodec", "JPEG scan", "PCA"]
        for (r, name) in rowNames.enumerated() { picture.text(name, x: 4, y: 8 + r * rowHeight + tile / 2 - 4) }
        let quality = QualityScale.defaultQuality
        let jpegQualities = JPEGBaseline.qualities
        for (c, canvas) in shown.enumerated() {
            let x = labelWidth + c * (tile + 8)
            picture.paste(canvas, x: x, y: 8, scale: scale)
            let choice = BatchEncoder.encode([EncoderInput(image: canvas, hint: .png)], models: bench.models, target: .quality(quality), settings: bench.settings)[0]
            let decoded = try LatentCodec(model: choice.model).decompress(try Container.parse(choice.file, name: "grid"), name: "grid")
            let rounded = GrayImage(width: side, height: side, pixels: decoded.bytes().map(Float.init))
            let target = choice.bitsPerPixel
            picture.paste(rounded, x: x, y: 8 + rowHeight, scale: scale)
            picture.text(label(target, Metrics.psnr(canvas, rounded)), x: x, y: 8 + rowHeight + tile + 4)
            let jpegs = try jpegQualities.map { try JPEGBaseline.code(canvas, quality: $0) }
            let jpeg = jpegs.min { abs(Double($0.payloadBytes * 8) / pixels - target) < abs(Double($1.payloadBytes * 8) / pixels - target) }!
            picture.paste(jpeg.file.decoded, x: x, y: 8 + 2 * rowHeight, scale: scale)
            picture.text(label(Double(jpeg.payloadBytes * 8) / pixels, Metrics.psnr(canvas, jpeg.file.decoded)), x: x, y: 8 + 2 * rowHeight + tile + 4)
            if let pca = bench.pca {
                var best: CodedImage?
                for k in PCABaseline.componentCounts where k <= pca.components.count {
                    for step in PCABaseline.steps {
                        let coded = try pca.code(canvas, components: k, step: step)
                        guard Double(coded.bytes * 8) / pixels <= target * 1.05 else { continue }
                        if best == nil || Metrics.psnr(canvas, coded.decoded) > Metrics.psnr(canvas, best!.decoded) { best = coded }
                    }
                }
                if let best {
                    picture.paste(best.decoded, x: x, y: 8 + 3 * rowHeight, scale: scale)
                    picture.text(label(Double(best.bytes * 8) / pixels, Metrics.psnr(canvas, best.decoded)), x: x, y: 8 + 3 * rowHeight + tile + 4)
                }
            }
        }
        return picture
    }

    func label(_ bpp: Double, _ psnr: Double) -> String { "\(format(bpp, 3))bpp \(format(psnr, 1))dB" }
}

func format(_ value: Double, _ places: Int) -> String { String(format: "%.\(places)f", value) }

func shortNumber(_ v: Double) -> String {
    let text = String(format: "%g", (v * 1000).rounded() / 1000)
    return text
}

func niceStep(_ raw: Double) -> Double {
    let magnitude = pow(10, floor(log10(max(raw, 1e-12))))
    for m in [1.0, 2.0, 5.0, 10.0] where raw <= m * magnitude { return m * magnitude }
    return 10 * magnitude
}

func xml(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
}
