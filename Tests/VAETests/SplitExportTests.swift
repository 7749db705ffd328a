import Foundation
import Testing
@testable import Datasets
import Imaging

@Suite struct SplitExportTests {
    static let images = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/images").path

    /// `vaecodec split` writes the split `train` makes; read back as an MNIST-style pair, it is the same images.
    @Test func writtenSplitReadsBackAsTheSameSplit() throws {
        let folder = NSTemporaryDirectory() + "vaecodec-split-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let spec = DatasetSpec(path: Self.images, crop: 40, side: 16)
        let record = try spec.writeSplit(to: folder, validationFraction: 0.25, seed: 3, overwrite: false)
        let expected = try spec.loadSplit(validationFraction: 0.25, seed: 3)
        let read = try DatasetSpec(path: folder, side: 16).loadSplit(validationFraction: 0.5, seed: 99)
        #expect(read.train.pixels == expected.train.pixels && read.heldOut.pixels == expected.heldOut.pixels)
        #expect(expected.heldOut.count > 0 && expected.train.count > expected.heldOut.count)
        #expect(record == DatasetSpec.SplitRecord(source: Self.images, crop: 40, canvas: 16, limit: nil, validationFraction: 0.25, seed: 3,
                                                  trainImages: expected.train.count, heldOutImages: expected.heldOut.count))
        let stored = try JSONDecoder().decode(DatasetSpec.SplitRecord.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/split.json")))
        #expect(stored == record)
        #expect(throws: ImageError(file: folder + "/train-images-idx3-ubyte", problem: "already exists (overwrite it)")) {
            try spec.writeSplit(to: folder, validationFraction: 0.25, seed: 3, overwrite: false)
        }
    }
}
