import Foundation
@testable import Codec
import Imaging

enum CodecFixture {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static func path(_ relative: String) -> String { root + "/Fixtures/" + relative }

    /// A fresh instance per use: layers keep per-call state, so tests running in parallel must not share a model.
    static var faces: CodecModel {
        try! CodecModel.load(Files.read(path("models/tiny-faces-32.safetensors")), name: "tiny-faces", path: "tiny-faces-32.safetensors")
    }
    /// tiny-faces-32 with a hyperprior (Fixtures/README.md): its rungs 8 and 9 code side symbols first.
    static var facesWithHyperprior: CodecModel {
        try! CodecModel.load(Files.read(path("models/tiny-faces-32-hyper.safetensors")), name: "tiny-faces-hyper", path: "tiny-faces-32-hyper.safetensors")
    }
    /// The same networks calibrated again, with tables at quarter-symbol means (Fixtures/README.md).
    static var facesWithQuarterHyperprior: CodecModel {
        try! CodecModel.load(Files.read(path("models/tiny-faces-32-hyper-quarter.safetensors")), name: "tiny-faces-hyper-quarter",
                             path: "tiny-faces-32-hyper-quarter.safetensors")
    }
    static var digits: CodecModel {
        try! CodecModel.load(Files.read(path("models/tiny-digits-32.safetensors")), name: "tiny-digits", path: "tiny-digits-32.safetensors")
    }

    static func image(_ name: String) -> GrayImage { try! ImageCodec.read(path("images/" + name)).image.gray() }
    static func bytes(_ name: String) -> [UInt8] { try! Files.read(path(name)) }
}
