import Codec
import Foundation
import Imaging
import Testing

/// The vaecodec executable as a user runs it: exit status, stderr, and what is (not) left on disk.
struct CLI {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// The test bundle sits in the build folder beside the executable.
    static let binary: String = {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var folder = (me as NSString).deletingLastPathComponent
        while !folder.isEmpty && folder != "/" && !FileManager.default.isExecutableFile(atPath: folder + "/vaecodec") {
            folder = (folder as NSString).deletingLastPathComponent
        }
        return folder + "/vaecodec"
    }()
    static let faces = root + "/Fixtures/models/tiny-faces-32.safetensors"
    static let digits = root + "/Fixtures/models/tiny-digits-32.safetensors"
    static func fixture(_ name: String) -> String { root + "/Fixtures/" + name }

    struct Result { let status: Int32; let stdout: Data; let stderr: String }

    @discardableResult
    static func run(_ arguments: [String], stdin: Data? = nil, in directory: String) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return Result(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "vaecodec-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func copy(_ fixtureName: String, to directory: String, as name: String) throws {
        try FileManager.default.copyItem(atPath: fixture(fixtureName), toPath: directory + "/" + name)
    }

    static func files(in directory: String) -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
    }
}

@Suite(.serialized) struct CLITests {
    @Test func compressWritesBesideAndNeverClobbers() throws {
        let dir = try CLI.temporaryDirectory()
        try CLI.copy("images/face-gray-64.png", to: dir, as: "face.png")
        let first = try CLI.run(["compress", "face.png", "--model", CLI.faces], in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(String(decoding: first.stdout, as: UTF8.self).contains("face.png -> face.vae: "))
        let original = try Data(contentsOf: URL(fileURLWithPath: dir + "/face.vae"))

        let again = try CLI.run(["compress", "face.png", "--model", CLI.faces, "--quality", "100"], in: dir)
        #expect(again.status == 1)
        #expect(again.stderr == "vaecodec: face.vae: already exists (use --force to overwrite)\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/face.vae")) == original)
        // Another model makes another file (the tiny fixture model codes this face the same at every quality).
        #expect(try CLI.run(["compress", "face.png", "--model", CLI.digits, "--force"], in: dir).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/face.vae")) != original)
    }

    /// face.vae decompresses to face.decoded.jpg by default, never to the original's name (even with --force), and an
    /// existing output is kept unless --force.
    @Test func decompressNeverReplacesTheOriginal() throws {
        let dir = try CLI.temporaryDirectory()
        try CLI.copy("images/face-odd-177x151.jpg", to: dir, as: "face.jpg")
        #expect(try CLI.run(["compress", "face.jpg", "--model", CLI.faces, "-q"], in: dir).status == 0)
        #expect(try CLI.run(["decompress", "face.vae", "--model", CLI.faces, "-q", "--force"], in: dir).status == 0)
        #expect(CLI.files(in: dir) == ["face.decoded.jpg", "face.jpg", "face.vae"])
        let refused = try CLI.run(["decompress", "face.vae", "--model", CLI.faces], in: dir)
        #expect(refused.status == 1)
        #expect(refused.stderr == "vaecodec: face.decoded.jpg: already exists (-o names another output, --force replaces it)\n")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/face.jpg")) == Data(contentsOf: URL(fileURLWithPath: CLI.fixture("images/face-odd-177x151.jpg"))))

        #expect(try CLI.run(["decompress", "face.vae", "--model", CLI.faces, "-o", "back.png"], in: dir).status == 0)
        #expect(try CLI.run(["decompress", "face.vae", "--model", CLI.faces, "-o", "back.jpg"], in: dir).status == 0)
        let png = try Data(contentsOf: URL(fileURLWithPath: dir + "/back.png"))
        let jpg = try Data(contentsOf: URL(fileURLWithPath: dir + "/back.jpg"))
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && jpg.starts(with: [0xFF, 0xD8]))
    }

    @Test func damagedFileIsReportedAndLeavesNoOutput() throws {
        let dir = try CLI.temporaryDirectory()
        var bytes = try Data(contentsOf: URL(fileURLWithPath: CLI.fixture("vae/face-gray-64-q60.vae")))
        bytes[bytes.count - 1] ^= 0x10
        try bytes.write(to: URL(fileURLWithPath: dir + "/bad.vae"))
        try Data(bytes.prefix(5)).write(to: URL(fileURLWithPath: dir + "/short.vae"))
        let before = CLI.files(in: dir)
        let result = try CLI.run(["decompress", "bad.vae", "short.vae", "--model", CLI.faces], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("vaecodec: bad.vae: integrity check failed"), "\(result.stderr)")
        #expect(result.stderr.contains("vaecodec: short.vae: file is truncated"))
        #expect(CLI.files(in: dir) == before, "no output, no temporary left behind")
        let info = try CLI.run(["info", "bad.vae", "--model", CLI.faces], in: dir)
        #expect(info.status == 1 && info.stderr.contains("integrity check failed"))
    }

    @Test func unknownModelIsNamed() throws {
        let dir = try CLI.temporaryDirectory()
        let result = try CLI.run(["decompress", CLI.fixture("vae/digit-7-q60.vae"), "--model", CLI.faces, "-o", "x.png"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("made with model id 0x7b, which is not available"), "\(result.stderr)")
        #expect(!CLI.files(in: dir).contains("x.png"))
    }

    @Test func oneBadInputDoesNotStopTheOthers() throws {
        let dir = try CLI.temporaryDirectory()
        try CLI.copy("images/face-gray-64.png", to: dir, as: "a.png")
        try CLI.copy("broken/truncated.png", to: dir, as: "b.png")
        try CLI.copy("images/digit-7.png", to: dir, as: "c.png")
        let result = try CLI.run(["compress", "a.png", "b.png", "c.png", "missing.png", "--model", CLI.faces, "-q"], in: dir)
        #expect(result.status == 1)
        #expect(result.stderr.contains("vaecodec: b.png: "))
        #expect(result.stderr.contains("vaecodec: missing.png: "))
        #expect(result.stderr.split(separator: "\n").count == 2)
        #expect(CLI.files(in: dir).isSuperset(of: ["a.vae", "c.vae"]) && !CLI.files(in: dir).contains("b.vae"))
    }

    @Test func pipesAndJSON() throws {
        let dir = try CLI.temporaryDirectory()
        let png = try Data(contentsOf: URL(fileURLWithPath: CLI.fixture("images/face-gray-64.png")))
        let vae = try CLI.run(["compress", "-", "--model", CLI.faces], stdin: png, in: dir)
        // The magic, then version 2, a PNG original and no size field (64x64); the low 4 bits are the rung.
        #expect(vae.status == 0 && vae.stdout.count > 2 && vae.stdout[0] == 0xAE && vae.stdout[1] & 0xF0 == 0x80)
        let back = try CLI.run(["decompress", "-", "--model", CLI.faces], stdin: vae.stdout, in: dir)
        #expect(back.status == 0 && back.stdout.starts(with: [0x89, 0x50, 0x4E, 0x47]))

        try png.write(to: URL(fileURLWithPath: dir + "/f.png"))
        let json = try CLI.run(["compress", "f.png", "--model", CLI.faces, "--bpp", "0.05", "--json"], in: dir)
        let object = try JSONSerialization.jsonObject(with: json.stdout) as! [String: Any]
        #expect(object["bytes"] as? Int == (try Data(contentsOf: URL(fileURLWithPath: dir + "/f.vae"))).count)
        #expect((object["bpp"] as? Double ?? 1) <= 0.05)
        #expect(object["header_bytes"] as? Int == 3)
    }

    /// Finding 2 of the hardening review: a file of a few bytes may declare 16384 x 16384, which took 15 s and 1.5 GB to
    /// decode. Outputs over --max-output-pixels (4096 x 4096 by default) are refused before anything is decoded.
    @Test func outputsOverTheLimitAreRefused() throws {
        let dir = try CLI.temporaryDirectory()
        let codec = LatentCodec(model: try CodecModel.load(path: CLI.faces, name: "tiny-faces"))
        let canvas = codec.canvas(of: try ImageCodec.read(CLI.fixture("images/face-gray-64.png")).image.gray()).canvas
        let symbols = codec.symbols(mean: codec.means([canvas])[0], rung: 0)
        for (name, width, height) in [("bomb.vae", 16384, 16384), ("wide.vae", 200, 100)] {
            let file = codec.file(symbols: symbols, header: codec.header(rung: 0, width: width, height: height, hint: .png))
            try Data(file).write(to: URL(fileURLWithPath: dir + "/" + name))
        }
        let bomb = try CLI.run(["decompress", "bomb.vae", "--model", CLI.faces], in: dir)
        #expect(bomb.status == 1)
        #expect(bomb.stderr == "vaecodec: bomb.vae: declares a 16384x16384 output (268435456 pixels), over the 16777216-pixel limit; "
                + "vaecodec decodes at most 33554432\n")
        let refused = try CLI.run(["decompress", "wide.vae", "--model", CLI.faces, "--max-output-pixels", "19999"], in: dir)
        #expect(refused.status == 1 && refused.stderr.contains("over the 19999-pixel limit; pass --max-output-pixels 20000 to decode it"))
        let raised = try CLI.run(["decompress", "bomb.vae", "--model", CLI.faces, "--max-output-pixels", "268435456"], in: dir)
        #expect(raised.status != 0 && raised.stderr.contains("--max-output-pixels must be in 1...33554432"))
        #expect(CLI.files(in: dir) == ["bomb.vae", "wide.vae"])
        let accepted = try CLI.run(["decompress", "wide.vae", "--model", CLI.faces, "--max-output-pixels", "20000", "-q"], in: dir)
        #expect(accepted.status == 0 && CLI.files(in: dir).contains("wide.decoded.png"))
    }

    /// Finding 1: a large image is compressed from its rows, never held whole; `denoise`, which works on the whole
    /// image, refuses one over 2048 x 2048 before decoding it.
    @Test func largeImagesAreStreamedOrRefused() throws {
        let dir = try CLI.temporaryDirectory()
        try CLI.copy("hostile/png-zeros-2049x2049.png", to: dir, as: "big.png")
        let compressed = try CLI.run(["compress", "big.png", "--model", CLI.faces, "-q"], in: dir)
        #expect(compressed.status == 0 && CLI.files(in: dir).contains("big.vae"), "\(compressed.stderr)")
        let denoised = try CLI.run(["denoise", "big.png", "--model", CLI.faces], in: dir)
        #expect(denoised.status == 1)
        #expect(denoised.stderr == "vaecodec: big.png: image is 2049x2049, over the limit (limit 16384 px a side, 4194304 pixels)\n")
    }

    /// Shell completion of --model offers the shipped names (the shells call the binary like this: word 3, cursor at 7).
    @Test func modelNamesComplete() throws {
        let result = try CLI.run(["---completion", "compress", "--", "--model", "3", "7", "vaecodec", "compress", "--model", "faces-g"], in: CLI.temporaryDirectory())
        #expect(result.status == 0)
        #expect(String(decoding: result.stdout, as: UTF8.self) == "faces-grid\nfaces-grid-b4\n")
    }

    /// What compress does to the image is said: colour is coded as gray; a crop larger than the image is an error.
    @Test func compressSaysWhatItChanged() throws {
        let dir = try CLI.temporaryDirectory()
        try CLI.copy("images/face-rgb.png", to: dir, as: "face.png")
        let tooLarge = try CLI.run(["compress", "face.png", "--model", CLI.faces, "--crop", "500"], in: dir)
        #expect(tooLarge.status == 1 && CLI.files(in: dir) == ["face.png"])
        #expect(tooLarge.stderr == "vaecodec: face.png: crop 500 is larger than the image (180x180)\n")
        let result = try CLI.run(["compress", "face.png", "--model", CLI.faces, "--crop", "180"], in: dir)
        #expect(result.status == 0 && result.stderr.isEmpty)
        #expect(String(decoding: result.stdout, as: UTF8.self).hasSuffix("; coded in gray (the colour image's BT.601 luma)\n"))
    }

    /// Finding 5: `decompress x.vae -o - | head -c 10` died of SIGPIPE (exit 141) without a word.
    @Test func aClosedPipeIsOneLineAndExitOne() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CLI.binary)
        process.arguments = ["decompress", CLI.fixture("vae/face-gray-64-q60.vae"), "--model", CLI.faces, "-o", "-"]
        let out = Pipe(), err = Pipe()
        (process.standardOutput, process.standardError) = (out, err)
        try process.run()
        try out.fileHandleForReading.close()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 1)
        #expect(stderr == "vaecodec: <stdout>: write failed: the reader closed the pipe\n")
    }

    @Test func usageErrorsAndMissingFiles() throws {
        let dir = try CLI.temporaryDirectory()
        let both = try CLI.run(["compress", "x.png", "--quality", "50", "--bpp", "0.1"], in: dir)
        #expect(both.status != 0 && both.stderr.contains("give --quality or --bpp, not both"))
        let refine = try CLI.run(["compress", "x.png", "--refine-steps", "5000"], in: dir)
        #expect(refine.status != 0 && refine.stderr.contains("--refine-steps must be in 0...1000"), "\(refine.stderr)")
        let model = try CLI.run(["compress", CLI.fixture("images/face-gray-64.png"), "--model", "nope.safetensors", "-o", "o.vae"], in: dir)
        #expect(model.status == 1 && model.stderr.contains("nope.safetensors: no such model"))
        let data = try CLI.run(["train", "--data", "no-such-folder", "--out", "m.safetensors"], in: dir)
        #expect(data.status == 1 && data.stderr.hasPrefix("vaecodec: no-such-folder: "), "\(data.stderr)")
        #expect(data.stderr.split(separator: "\n").count == 1)
        #expect(CLI.files(in: dir).isEmpty)
    }
}

/// `calibrate` (new codec tables for existing weights) and `--init-from` (start from a model's weights).
@Suite struct TrainCLITests {
    @Test func refitAndInitFromReuseWeights() throws {
        let dir = try CLI.temporaryDirectory()
        let tiny = ["--data", CLI.fixture("images"), "--canvas", "32", "--arch", "mlp", "--hidden", "32", "--latent", "8",
                    "--epochs", "1", "--val-fraction", "0.2", "-q"]
        let base = try CLI.run(["train"] + tiny + ["--out", "a.safetensors"], in: dir)
        #expect(base.status == 0, "\(base.stderr)")
        let refit = try CLI.run(["calibrate", "a.safetensors", "--data", CLI.fixture("images"), "-o", "b.safetensors", "-q"], in: dir)
        #expect(refit.status == 0, "\(refit.stderr)")
        let coded = try CLI.run(["compress", CLI.fixture("images/face-gray-64.png"), "--model", "b.safetensors", "-o", "f.vae", "--json"], in: dir)
        let object = try JSONSerialization.jsonObject(with: coded.stdout) as? [String: Any] ?? [:]
        #expect(coded.status == 0 && object["rungs"] as? Int == 10, "\(coded.stderr)")
        // 8-bit weights: a smaller file that codes the same face; one storage at a time.
        let int8 = try CLI.run(["calibrate", "a.safetensors", "--data", CLI.fixture("images"), "--int8-weights", "-o", "q.safetensors", "-q"], in: dir)
        #expect(int8.status == 0, "\(int8.stderr)")
        let sizes = try ["b.safetensors", "q.safetensors"].map { try FileManager.default.attributesOfItem(atPath: dir + "/" + $0)[.size] as? Int ?? 0 }
        #expect(sizes[1] * 3 < sizes[0], "\(sizes)")
        let codedInt8 = try CLI.run(["compress", CLI.fixture("images/face-gray-64.png"), "--model", "q.safetensors", "-o", "q.vae", "-q"], in: dir)
        #expect(codedInt8.status == 0, "\(codedInt8.stderr)")
        let both = try CLI.run(["calibrate", "a.safetensors", "--data", CLI.fixture("images"), "--int8-weights", "--half-precision", "-o", "o.safetensors"], in: dir)
        #expect(both.status != 0 && both.stderr.contains("--half-precision and --int8-weights: one storage at a time"), "\(both.stderr)")
        let other = try CLI.run(["calibrate", "a.safetensors", "--data", CLI.fixture("images"), "--limit", "5", "-o", "o.safetensors"], in: dir)
        #expect(other.status == 1 && other.stderr == "vaecodec: a.safetensors: was trained on the split of --limit none (its training record), "
                + "not 5: drop --limit or pass that value\n", "\(other.stderr)")
        let seed = try CLI.run(["calibrate", "a.safetensors", "--data", CLI.fixture("images"), "--seed", "2", "-o", "o.safetensors"], in: dir)
        #expect(seed.status == 1 && seed.stderr.hasPrefix("vaecodec: a.safetensors: was trained on the split of --seed 1 (its training record), not 2"),
                "\(seed.stderr)")
        #expect(!CLI.files(in: dir).contains("o.safetensors"))
        let again = try CLI.run(["calibrate", "a.safetensors", "--data", CLI.fixture("images"), "-o", "b.safetensors"], in: dir)
        #expect(again.status == 1 && again.stderr.contains("b.safetensors: already exists"))
        // A VAE without codec tables (here the training checkpoint) is refused by compress, which says what to run.
        let plain = try CLI.run(["compress", CLI.fixture("images/face-gray-64.png"), "--model", "a.safetensors.checkpoint", "-o", "p.vae"], in: dir)
        #expect(plain.status == 1 && plain.stderr.contains("has no codec tables") && plain.stderr.contains("run `vaecodec calibrate a.safetensors.checkpoint"),
                "\(plain.stderr)")
        // A fixed likelihood variance is negative: it must parse as a value, not as an option. Augmented, too.
        let warm = try CLI.run(["train"] + tiny + ["--init-from", "a.safetensors", "--likelihood", "gaussian", "--log-variance", "-5",
                                                   "--flip", "--shift", "2", "--out", "c.safetensors"], in: dir)
        #expect(warm.status == 0, "\(warm.stderr)")
        let shift = try CLI.run(["train"] + tiny + ["--shift", "9", "--out", "e.safetensors"], in: dir)
        #expect(shift.status != 0 && shift.stderr.contains("--shift must be 0...8 pixels"), "\(shift.stderr)")
        let mismatch = try CLI.run(["train"] + tiny + ["--init-from", "a.safetensors", "--latent", "4", "--out", "d.safetensors"], in: dir)
        #expect(mismatch.status == 1 && mismatch.stderr.contains("a.safetensors: does not match this architecture"), "\(mismatch.stderr)")
        #expect(!CLI.files(in: dir).contains("d.safetensors"))
    }

    /// `bench` measures a model on the held-out images of the split it was trained on (its training record), not on
    /// the split its own defaults would make, and refuses an option that contradicts the record.
    @Test func benchUsesTheSplitTheModelWasTrainedOn() throws {
        let dir = try CLI.temporaryDirectory()
        let trained = try CLI.run(["train", "--data", CLI.fixture("images"), "--canvas", "32", "--arch", "mlp", "--hidden", "16", "--latent", "4",
                                   "--epochs", "1", "--val-fraction", "0.3", "--seed", "3", "--out", "m.safetensors", "-q"], in: dir)
        #expect(trained.status == 0, "\(trained.stderr)")
        let bench = try CLI.run(["bench", "--data", CLI.fixture("images"), "--model", "m.safetensors", "--effort", "fast", "--out", "r", "-q"], in: dir)
        #expect(bench.status == 0, "\(bench.stderr)")
        let report = try String(contentsOfFile: dir + "/r/report.md", encoding: .utf8)
        #expect(report.contains("split: seed 3, held-out share 0.3"), "\(report.prefix(400))")
        // --skip passes over the first held-out images (a slice to choose settings on), and cannot pass over all of them.
        let skipped = try CLI.run(["bench", "--data", CLI.fixture("images"), "--model", "m.safetensors", "--effort", "fast", "--skip", "1", "--limit", "1",
                                   "--out", "s", "-q"], in: dir)
        #expect(skipped.status == 0, "\(skipped.stderr)")
        let skippedReport = try String(contentsOfFile: dir + "/s/report.md", encoding: .utf8)
        #expect(skippedReport.contains("1 held-out images from number 2 on"), "\(skippedReport.prefix(400))")
        let beyond = try CLI.run(["bench", "--data", CLI.fixture("images"), "--model", "m.safetensors", "--skip", "999", "--out", "s2"], in: dir)
        #expect(beyond.status != 0 && beyond.stderr.contains("--skip 999: there are only"), "\(beyond.stderr)")
        #expect(!CLI.files(in: dir).contains("s2"))
        let contradicting = try CLI.run(["bench", "--data", CLI.fixture("images"), "--model", "m.safetensors", "--seed", "1", "--out", "r2"], in: dir)
        #expect(contradicting.status == 1 && contradicting.stderr.hasPrefix("vaecodec: m.safetensors: was trained on the split of --seed 3 (its training record)"),
                "\(contradicting.stderr)")
        #expect(contradicting.stderr.split(separator: "\n").count == 1)
        #expect(!CLI.files(in: dir).contains("r2"))
        // A compared model trained on another split is named, not --model.
        let other = try CLI.run(["train", "--data", CLI.fixture("images"), "--canvas", "32", "--arch", "mlp", "--hidden", "16", "--latent", "4",
                                 "--epochs", "1", "--val-fraction", "0.3", "--seed", "4", "--out", "o.safetensors", "-q"], in: dir)
        #expect(other.status == 0, "\(other.stderr)")
        let mixed = try CLI.run(["bench", "--data", CLI.fixture("images"), "--model", "m.safetensors", "--compare-model", "o.safetensors",
                                 "--out", "r3"], in: dir)
        #expect(mixed.status == 1 && mixed.stderr.hasPrefix("vaecodec: m.safetensors: was trained on another split than o.safetensors (--seed 3 against 4)"),
                "\(mixed.stderr)")
        #expect(!CLI.files(in: dir).contains("r3"))
    }

    /// The denoising study's saved-noisy part: its inputs exported for BM3D, its table and CSV, and malformed lists refused.
    @Test func benchDenoiseStudiesNoiseSavedAsJPEG() throws {
        let dir = try CLI.temporaryDirectory()
        let trained = try CLI.run(["train", "--data", CLI.fixture("images"), "--canvas", "32", "--arch", "mlp", "--hidden", "16", "--latent", "4",
                                   "--epochs", "1", "--val-fraction", "0.3", "--out", "m.safetensors", "-q"], in: dir)
        #expect(trained.status == 0, "\(trained.stderr)")
        let bench = try CLI.run(["bench", "--data", CLI.fixture("images"), "--model", "m.safetensors", "--denoise-only", "--noise", "20",
                                 "--jpeg-noise", "80", "--export-noisy", "--out", "d", "-q"], in: dir)
        #expect(bench.status == 0, "\(bench.stderr)")
        let report = try String(contentsOfFile: dir + "/d/denoise.md", encoding: .utf8)
        #expect(report.contains("## Noisy images saved as JPEG") && report.contains("\n| 20 | 80 | "), "\(report)")
        let clean = try #require(FileManager.default.contents(atPath: dir + "/d/denoise-inputs/clean.u8"))
        let saved = try #require(FileManager.default.contents(atPath: dir + "/d/denoise-inputs/noisy-20-q80.u8"))
        #expect(saved.count == clean.count && saved != clean)
        let csv = try String(contentsOfFile: dir + "/d/denoise-jpeg.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 1 + 4 * clean.count / (32 * 32) && csv[1].hasPrefix("20,80,\"noisy JPEG\",0,"), "\(csv.prefix(2))")
        for (option, value, message) in [("--jpeg-noise", "90,0", "--jpeg-noise takes JPEG qualities in 1...100"),
                                         ("--jpeg-noise", "90,", "--jpeg-noise takes JPEG qualities"),
                                         ("--noise", "15,x", "--noise takes levels in 1...255")] {
            let refused = try CLI.run(["bench", "--data", CLI.fixture("images"), "--model", "m.safetensors", "--denoise-only", option, value,
                                       "--out", "e"], in: dir)
            #expect(refused.status != 0 && refused.stderr.contains(message), "\(refused.stderr)")
            #expect(!CLI.files(in: dir).contains("e"))
        }
    }

    /// `split` writes train's canvases as an IDX pair that `train` and `calibrate` take as data, and keeps what exists.
    @Test func splitWritesDataTheOtherCommandsRead() throws {
        let dir = try CLI.temporaryDirectory()
        let split = ["split", "--data", CLI.fixture("images"), "--canvas", "32", "--val-fraction", "0.2", "--out", "s"]
        let first = try CLI.run(split, in: dir)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(String(decoding: first.stdout, as: UTF8.self).contains("training and"))
        #expect(CLI.files(in: dir + "/s") == ["train-images-idx3-ubyte", "t10k-images-idx3-ubyte", "split.json"])
        let again = try CLI.run(split, in: dir)
        #expect(again.status == 1 && again.stderr == "vaecodec: s/train-images-idx3-ubyte: already exists (use --force to overwrite)\n", "\(again.stderr)")
        #expect(try CLI.run(split + ["--force", "-q"], in: dir).status == 0)
        let trained = try CLI.run(["train", "--data", "s", "--canvas", "32", "--arch", "mlp", "--hidden", "16", "--latent", "4", "--epochs", "1",
                                   "--out", "m.safetensors", "-q"], in: dir)
        #expect(trained.status == 0, "\(trained.stderr)")
    }
}

@Suite(.serialized) struct DenoiseCLITests {
    @Test func denoiseWritesBesideWithUncertaintyAndKeepsExistingFiles() throws {
        let dir = try CLI.temporaryDirectory()
        try CLI.copy("images/face-lfw-64.png", to: dir, as: "face.png")
        let result = try CLI.run(["denoise", "face.png", "--model", CLI.faces, "--sigma", "10", "--uncertainty", "u.png"], in: dir)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(String(decoding: result.stdout, as: UTF8.self).contains("face.png -> face.denoised.png: noise sigma 10.0 (given)"))
        let map = try Data(contentsOf: URL(fileURLWithPath: dir + "/u.png"))
        #expect(String(decoding: map, as: UTF8.self).contains("vaecodec-uncertainty"))
        let again = try CLI.run(["denoise", "face.png", "--model", CLI.faces], in: dir)
        #expect(again.status == 1 && again.stderr.contains("face.denoised.png: already exists"))
        let bad = try CLI.run(["denoise", "face.png", "--sigma", "loud"], in: dir)
        #expect(bad.status != 0 && bad.stderr.contains("--sigma must be auto or a number"))
        let auto = try CLI.run(["denoise", "face.png", "--model", CLI.faces, "-o", "auto.jpg"], in: dir)
        #expect(auto.status == 0 && String(decoding: auto.stdout, as: UTF8.self).contains("(estimated)"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/auto.jpg")).starts(with: [0xFF, 0xD8]))
    }
    /// A shipped face model: a digit is out of its domain (its MAP latent is far out in the prior's tail),
    /// the fixture face is not; the output is written either way.
    @Test func aDigitIsOutOfTheFaceModelsDomain() throws {
        let dir = try CLI.temporaryDirectory()
        try CLI.copy("images/digit-7.png", to: dir, as: "digit.png")
        try CLI.copy("images/face-lfw-64.png", to: dir, as: "face.png")
        let digit = try CLI.run(["denoise", "digit.png", "--model", "faces", "--sigma", "10"], in: dir)
        #expect(digit.status == 0, "\(digit.stderr)")
        #expect(digit.stderr.contains("warning: digit.png: this image does not look like what model faces"), "\(digit.stderr)")
        #expect(CLI.files(in: dir).contains("digit.denoised.png"))
        let face = try CLI.run(["denoise", "face.png", "--model", "faces", "--sigma", "10"], in: dir)
        #expect(face.status == 0 && face.stderr.isEmpty, "\(face.stderr)")
    }
}

@Suite struct PictureCLITests {
    @Test func manifoldAndSampleWritePNGs() throws {
        let dir = try CLI.temporaryDirectory()
        let manifold = try CLI.run(["manifold", "--model", CLI.digits, "--steps", "5", "-o", "m.png"], in: dir)
        #expect(manifold.status == 0, "\(manifold.stderr)")
        let sample = try CLI.run(["sample", "--model", CLI.faces, "-n", "9", "-o", "s.png"], in: dir)
        #expect(sample.status == 0, "\(sample.stderr)")
        for name in ["m.png", "s.png"] {
            #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name)).starts(with: [0x89, 0x50, 0x4E, 0x47]))
        }
        let again = try CLI.run(["sample", "--model", CLI.faces, "-o", "s.png"], in: dir)
        #expect(again.status == 1 && again.stderr.contains("s.png: already exists"))
        let jpeg = try CLI.run(["sample", "--model", CLI.faces, "-o", "s.jpg"], in: dir)
        #expect(jpeg.status != 0 && jpeg.stderr.contains("-o must name a .png file"))
    }
}
