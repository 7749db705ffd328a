import Foundation
import Datasets
import Testing
@testable import Evaluation
import Imaging
import VAE
import Codec

enum Fixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path + "/Fixtures/"
    static func image(_ name: String) -> GrayImage { try! ImageCodec.read(root + "images/" + name).image.gray() }
}

@Suite struct MetricsTests {
    /// Reference values from scikit-image 0.24 (structural_similarity with gaussian_weights=True, sigma=1.5,
    /// use_sample_covariance=False, data_range=255): Wang et al.'s definition.
    @Test func ssimMatchesScikitImage() {
        let a = Fixture.image("face-gray-64.png")
        let b = GrayImage(width: 64, height: 64, pixels: a.pixels.map { ($0 / 16).rounded(.down) * 16 })
        #expect(abs(Metrics.ssim(a, b) - 0.9643429968577221) < 1e-9)
        let c = Fixture.image("camera-gray-97x83.png")
        let d = GrayImage(width: c.width, height: c.height,
                          pixels: c.pixels.indices.map { min(255, max(0, c.pixels[$0] + Float(($0 % 7 - 3) * 5))) })
        #expect(abs(Metrics.ssim(c, d) - 0.681179829825016) < 1e-9)
        #expect(Metrics.ssim(a, a) == 1)
    }

    @Test func jpegScanIsTheEntropyCodedPart() throws {
        let canvas = Fixture.image("face-gray-64.png")
        let (file, payload) = try JPEGBaseline.code(canvas, quality: 50)
        #expect(payload > 0 && payload < file.bytes - 150)  // headers and tables are most of a tiny JPEG
        #expect(Metrics.psnr(canvas, file.decoded) > 28)
    }
}

@Suite struct PCATests {
    /// Images that lie in a 3-dimensional affine subspace are coded almost exactly by 3 components.
    @Test func recoversALowDimensionalSubspace() throws {
        let side = 8, n = 300
        var pixels = [UInt8]()
        for i in 0..<n {
            let (a, b, c) = (Double(i % 7) / 6, Double(i % 11) / 10, Double(i % 13) / 12)
            for p in 0..<(side * side) {
                let (x, y) = (Double(p % side), Double(p / side))
                pixels.append(UInt8(40 + 60 * a * x / 7 + 60 * b * y / 7 + 60 * c))
            }
        }
        let data = ImageDataset(side: side, pixels: pixels, identities: (0..<n).map(Int32.init), source: "planes")
        let pca = PCABaseline(training: data, components: 6)
        let image = GrayImage(width: side, height: side, pixels: pixels[(5 * 64)..<(6 * 64)].map(Float.init))
        let coded = try pca.code(image, components: 3, step: 0.5)
        #expect(Metrics.psnr(image, coded.decoded) > 45)
        let coarse = try pca.code(image, components: 3, step: 16)
        #expect(coarse.bytes <= coded.bytes)
        // Orthonormal components
        for i in 0..<3 {
            for j in 0..<3 {
                let dot = zip(pca.components[i], pca.components[j]).reduce(0.0) { $0 + Double($1.0 * $1.1) }
                #expect(abs(dot - (i == j ? 1 : 0)) < 1e-4)
            }
        }
    }
}

@Suite struct BenchSettingsTests {
    /// The bench sweeps the whole quality scale, ends included, in increasing order.
    @Test func benchQualitiesSpanTheScale() {
        let q = RateDistortionBench.qualities
        #expect(q.first == 1 && q.last == 100 && zip(q, q.dropFirst()).allSatisfy { $0 < $1 })
    }
}

@Suite struct ParetoTests {
    @Test func frontKeepsOnlyUndominatedPoints() {
        let points = [RDPoint(bpp: 0.1, psnr: 20, ssim: 0.5), RDPoint(bpp: 0.2, psnr: 19, ssim: 0.4),
                      RDPoint(bpp: 0.3, psnr: 25, ssim: 0.7), RDPoint(bpp: 0.05, psnr: 15, ssim: 0.3)]
        #expect(RDCurve.paretoFront(points, metric: \.psnr).map(\.bpp) == [0.05, 0.1, 0.3])
    }

    @Test func interpolatesInLogRateAndComputesBDRate() {
        let a = [RDPoint(bpp: 0.1, psnr: 20, ssim: 0), RDPoint(bpp: 0.4, psnr: 30, ssim: 0)]
        #expect(abs((RDCurve.value(at: 0.2, on: a, metric: \.psnr) ?? 0) - 25) < 1e-9)
        #expect(RDCurve.value(at: 0.5, on: a, metric: \.psnr) == nil)
        // The same curve at half the rate: -50% BD-rate.
        let b = a.map { RDPoint(bpp: $0.bpp / 2, psnr: $0.psnr, ssim: 0) }
        #expect(abs((RDCurve.bdRate(b, against: a) ?? 0) + 50) < 1e-6)
    }
}

@Suite struct BDPSNRTests {
    /// The last sample sits exactly on the shorter front's end, whatever rounding does to it.
    @Test func reachesTheEndOfTheShorterFront() {
        for i in 0..<500 {
            let high = 0.08 + Double(i) * 1e-4
            let a = [RDPoint(bpp: 0.02, psnr: 18, ssim: 0), RDPoint(bpp: high, psnr: 24, ssim: 0)]
            let b = a.map { RDPoint(bpp: $0.bpp, psnr: $0.psnr - 0.5, ssim: 0) } + [RDPoint(bpp: 0.4, psnr: 30, ssim: 0)]
            #expect(RDCurve.bdPSNR(a, against: b).map { abs($0 - 0.5) < 1e-9 } == true, "front ending at \(high) bpp")
            let top = 17.3 + Double(i) * 1.3e-3  // and bdRate's last sample on the lower front's top PSNR
            let c = [RDPoint(bpp: 0.02, psnr: 0.1 + Double(i) * 1e-3, ssim: 0), RDPoint(bpp: 0.1, psnr: top, ssim: 0)]
            let d = c.map { RDPoint(bpp: $0.bpp * 2, psnr: $0.psnr, ssim: 0) } + [RDPoint(bpp: 0.4, psnr: top + 1, ssim: 0)]
            #expect(RDCurve.bdRate(c, against: d).map { abs($0 + 50) < 1e-6 } == true, "front topping out at \(top) dB")
        }
    }
}
