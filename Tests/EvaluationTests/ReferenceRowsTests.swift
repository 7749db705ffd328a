import Foundation
import Testing
@testable import Evaluation
import Imaging

/// `bench --reference`: points of a codec run elsewhere (CompressAI) on the bench's own canvases.
@Suite struct ReferenceRowsTests {
    static let side = 8
    static let images = (0..<3).map { i in GrayImage(width: side, height: side, pixels: (0..<(side * side)).map { Float(($0 * 7 + i * 31) % 256) }) }
    static var bench: RateDistortionBench { RateDistortionBench(models: [], pca: nil, images: images) }

    /// A folder holding points.csv and the named decoded-canvas files.
    static func folder(csv: String, decoded: [String: [UInt8]]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("reference-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Data(csv.utf8).write(to: URL(fileURLWithPath: directory + "/points.csv"))
        for (name, bytes) in decoded { try Data(bytes).write(to: URL(fileURLWithPath: directory + "/" + name)) }
        return directory
    }

    static func shifted(by error: Int) -> [UInt8] { images.flatMap { $0.pixels.map { UInt8(min(255, Int($0) + error)) } } }

    static let goodCSV = "image,codec,setting,bytes\n" + (0..<3).map { "\($0),bmshj2018-factorized,lambda0.001,\(10 + $0)\n" }.joined()
        + (0..<3).map { "\($0),bmshj2018-factorized,lambda0.004,\(40 + $0)\n" }.joined()

    @Test func measuresTheDecodedCanvasesWithTheBenchsOwnMetrics() throws {
        let directory = try Self.folder(csv: Self.goodCSV, decoded: ["bmshj2018-factorized_lambda0.001.u8": Self.shifted(by: 4),
                                                                     "bmshj2018-factorized_lambda0.004.u8": Self.shifted(by: 1)])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let rows = try Self.bench.referenceRows(from: directory + "/points.csv")
        #expect(rows.count == 6)
        let coarse = rows.filter { $0.setting == "lambda0.001" }.sorted { $0.image < $1.image }
        #expect(coarse.map(\.bytes) == [10, 11, 12])
        #expect(coarse[1].bpp == 11.0 * 8 / 64)
        let decoded = GrayImage(width: Self.side, height: Self.side, pixels: Array(Self.shifted(by: 4)[64..<128]).map(Float.init))
        #expect(coarse[1].psnr == Metrics.psnr(Self.images[1], decoded))
        #expect(coarse[1].ssim == Metrics.ssim(Self.images[1], decoded))

        // The report draws the reference as a curve and gives vaecodec's BD-rate against it.
        let report = RateDistortionReport(title: "t", command: "c", description: [], rows: rows, timing: .init(), images: Self.images, bench: Self.bench)
        #expect(report.referenceCodecs == ["bmshj2018-factorized"])
        let markdown = report.markdown()
        #expect(markdown.contains("| bmshj2018-factorized | "))
        #expect(markdown.contains("- against bmshj2018-factorized: "))
        #expect(report.svg(metric: \.psnr, label: "PSNR").contains(">bmshj2018-factorized</text>"))
    }

    @Test(arguments: [
        ("image,codec,bytes\n0,a,1\n", [String: [UInt8]](), "not a reference points file"),
        ("image,codec,setting,bytes\n0,a b,s,1\n", [:], "line 2 is not image,codec,setting,bytes"),
        ("image,codec,setting,bytes\n3,a,s,1\n", [:], "line 2: image 3, but this bench measures 3 images"),
        ("image,codec,setting,bytes\n0,a,s,1\n0,a,s,2\n", [:], "line 3: image 0 of a s appears twice"),
        ("image,codec,setting,bytes\n0,a,s,1\n1,a,s,1\n", [:], "a s has 2 of the bench's 3 images"),
        ("image,codec,setting,bytes\n0,a,s,1\n1,a,s,1\n2,a,s,1\n", ["a_s.u8": [UInt8](repeating: 0, count: 100)], "100 bytes, not 3 canvases of 8x8"),
        ("image,codec,setting,bytes\n", [:], "no points"),
    ])
    func refusesWhatItCannotMeasure(csv: String, decoded: [String: [UInt8]], problem: String) throws {
        let directory = try Self.folder(csv: csv, decoded: decoded)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let error = #expect(throws: ImageError.self) { try Self.bench.referenceRows(from: directory + "/points.csv") }
        #expect(error?.problem.contains(problem) == true, "\(error?.description ?? "")")
    }

    @Test func aMissingDecodedFileIsNamed() throws {
        let directory = try Self.folder(csv: Self.goodCSV, decoded: [:])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let error = #expect(throws: ImageError.self) { try Self.bench.referenceRows(from: directory + "/points.csv") }
        #expect(error?.file.hasSuffix("/bmshj2018-factorized_lambda0.001.u8") == true)
    }
}
