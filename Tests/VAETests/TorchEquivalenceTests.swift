import Foundation
import Testing
import NeuralNet
import Codec
@testable import VAE
@testable import Datasets

/// The PyTorch trainer (Training/torch) against the Swift model: the same weights, batch and noise give the same
/// -ELBO, and a model the trainer writes is a model vaecodec reads. Needs a Python with torch (`VAECODEC_PYTHON`,
/// default python3); without one these tests are skipped, and the skip says so.
enum Torch {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let python = ProcessInfo.processInfo.environment["VAECODEC_PYTHON"] ?? "python3"
    static let skipReason: Comment = "torch is not importable by \(python): the PyTorch equivalence tests are skipped (pip install -r Training/torch/requirements.txt to run them)"

    static let available: Bool = (try? run(["-c", "import torch"]).status) == 0

    /// Runs the Python interpreter with `arguments`; stdout and the exit status.
    static func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python] + arguments
        let output = Pipe(), errors = Pipe()
        (process.standardOutput, process.standardError) = (output, errors)
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if process.terminationStatus != 0 && !errorText.isEmpty { print(errorText) }
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// A split folder (the IDX pair `vaecodec split` writes) of noise images, `perPerson` to an identity, a fifth
    /// of the people held out.
    static func noiseSplit(images: Int, perPerson: Int, side: Int, rng: inout Xoshiro256StarStar,
                           in folder: String) throws -> (train: ImageDataset, validation: ImageDataset) {
        let dataset = ImageDataset(side: side, pixels: (0..<(images * side * side)).map { _ in UInt8(truncatingIfNeeded: rng.next()) },
                                   identities: (0..<images).map { Int32($0 / perPerson) }, source: "noise")
        let split = dataset.splitByIdentity(validationFraction: 0.2, seed: 1)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(IDXFile.serialize(split.train)).write(to: URL(fileURLWithPath: folder + "/" + DatasetSpec.splitFiles.train))
        try Data(IDXFile.serialize(split.validation)).write(to: URL(fileURLWithPath: folder + "/" + DatasetSpec.splitFiles.heldOut))
        return (split.train, split.validation)
    }

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "vaecodec-torch-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// PyTorch's -ELBO parts for each model file on its x and noise (Training/torch/check_elbo.py, in float64), in one
    /// interpreter: importing torch takes seconds.
    static func lossParts(_ cases: [(model: String, x: Tensor, noise: Tensor)], in directory: String) throws -> [LossParts] {
        var arguments = [root + "/Training/torch/check_elbo.py"]
        for (i, c) in cases.enumerated() {
            var batch = SafeTensors(metadata: [:])
            batch.add("x", SafeTensors.Entry(c.x.data, shape: c.x.shape))
            batch.add("noise", SafeTensors.Entry(c.noise.data, shape: c.noise.shape))
            let path = directory + "/batch-\(i).safetensors"
            try Data(batch.serialized()).write(to: URL(fileURLWithPath: path))
            arguments += [c.model, path]
        }
        let result = try run(arguments)
        #expect(result.status == 0)
        let lines = result.output.split(separator: "\n")
        return cases.indices.map { i in
            let object = i < lines.count ? (try? JSONSerialization.jsonObject(with: Data(lines[i].utf8))) as? [String: Double] : nil
            return LossParts(reconstruction: object?["reconstruction"] ?? .nan, kl: object?["kl"] ?? .nan)
        }
    }
}

@Suite(.enabled(if: Torch.available, Torch.skipReason), .serialized) struct TorchEquivalenceTests {
    static let likelihoods: [VAEConfig.Likelihood] = [.bernoulli, .gaussian(.fixed(logVariance: -4)), .gaussian(.learnedGlobal),
                                                      .gaussian(.learnedPerPixel)]
    static let networks: [VAEConfig] = [
        VAEConfig(arch: .mlp, canvas: 12, latent: 6, hidden: [40, 20], activation: .leakyRelu),
        VAEConfig(arch: .conv, canvas: 16, latent: 10, hidden: [6]),
        VAEConfig(arch: .spatial, canvas: 16, latent: 12, hidden: [5]),
    ]

    /// Every architecture under every likelihood, with random weights (learned log-variances spread over and past the
    /// clamped range, so the clamp is compared too), on random images and noise.
    @Test func swiftAndPyTorchComputeTheSameELBO() throws {
        let directory = try Torch.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var rng = Xoshiro256StarStar(seed: 5)
        var cases: [(model: String, x: Tensor, noise: Tensor)] = [], swift: [(String, LossParts)] = []
        for network in Self.networks {
            for likelihood in Self.likelihoods {
                var config = network
                config.likelihood = likelihood
                let model = try VAEModel(config: config, seed: 11)
                if let logVariance = model.logVariance {
                    for i in logVariance.value.data.indices { logVariance.value.data[i] = -10 + 14.5 * rng.nextFloat() }
                }
                let path = directory + "/model-\(cases.count).safetensors"
                try Data(ModelFile.serialize(model, training: nil)).write(to: URL(fileURLWithPath: path))
                let x = Tensor(shape: [5, 1, config.canvas, config.canvas]) { for i in $0.indices { $0[i] = rng.nextFloat() } }
                let noise = rng.normalTensor(shape: [5, config.latent])
                cases.append((path, x, noise))
                swift.append((config.summary, model.evaluate(x, noise: noise)))
            }
        }
        for ((name, swift), torch) in zip(swift, try Torch.lossParts(cases, in: directory)) {
            #expect(abs(swift.reconstruction - torch.reconstruction) <= 1e-4 * abs(torch.reconstruction), "\(name): \(swift) vs \(torch)")
            #expect(abs(swift.kl - torch.kl) <= 1e-4 * abs(torch.kl), "\(name): \(swift) vs \(torch)")
        }
    }

    /// One training step's gradients (the backward passes, the reparameterisation and the closed-form variance fit),
    /// Swift's `accumulateGradients` against PyTorch's autograd, with the same weights, batch and noise.
    @Test(arguments: [(Self.networks[0], VAEConfig.Likelihood.bernoulli), (Self.networks[1], .gaussian(.learnedGlobal)),
                      (Self.networks[2], .gaussian(.learnedPerPixel)), (Self.networks[1], .gaussian(.fixed(logVariance: -4)))])
    func swiftAndPyTorchComputeTheSameGradients(network: VAEConfig, likelihood: VAEConfig.Likelihood) throws {
        var config = network
        config.likelihood = likelihood
        let model = try VAEModel(config: config, seed: 13)
        var rng = Xoshiro256StarStar(seed: 8)
        if let logVariance = model.logVariance {
            for i in logVariance.value.data.indices { logVariance.value.data[i] = -6 + 4 * rng.nextFloat() }
        }
        let directory = try Torch.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/model.safetensors"
        try Data(ModelFile.serialize(model, training: nil)).write(to: URL(fileURLWithPath: path))
        let x = Tensor(shape: [6, 1, config.canvas, config.canvas]) { for i in $0.indices { $0[i] = rng.nextFloat() } }
        var noiseSource = rng  // accumulateGradients draws its noise first: a copy of its generator draws the same
        let noise = noiseSource.normalTensor(shape: [6, config.latent])
        var batch = SafeTensors(metadata: [:])
        batch.add("x", SafeTensors.Entry(x.data, shape: x.shape))
        batch.add("noise", SafeTensors.Entry(noise.data, shape: noise.shape))
        try Data(batch.serialized()).write(to: URL(fileURLWithPath: directory + "/batch.safetensors"))
        model.optimizer.zeroGradients()
        _ = model.accumulateGradients(batch: x, beta: 1, rng: &rng)

        let out = directory + "/gradients.safetensors"
        #expect(try Torch.run([Torch.root + "/Training/torch/check_elbo.py", "--gradients", path, directory + "/batch.safetensors", out]).status == 0)
        let torch = try SafeTensorsFile(path: out)
        let trained = model.optimizer.parameters
        #expect(Set(torch.names) == Set(trained.map(\.name)), "\(config.summary)")
        for p in trained {
            guard let expected = try torch.entry(p.name)?.floats else { continue }
            let scale = expected.reduce(0) { max($0, abs($1)) }
            let worst = zip(p.grad.data, expected).reduce(0) { max($0, abs($1.0 - $1.1)) }
            #expect(worst <= 1e-3 * scale + 1e-6, "\(config.summary): \(p.name) differs by \(worst) of \(scale)")
        }
    }

    /// Two epochs under torchrun with two processes, resumed after the first, on a `vaecodec split` folder: the
    /// file it writes loads in Swift, carries the training record, and gives PyTorch's ELBO.
    @Test func trainerWritesAModelVAECodecReads() throws {
        let directory = try Torch.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var rng = Xoshiro256StarStar(seed: 3)
        let side = 16, dataFolder = directory + "/faces"
        let split = try Torch.noiseSplit(images: 60, perPerson: 3, side: side, rng: &rng, in: dataFolder)

        let out = directory + "/m.safetensors"
        let common = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", Torch.root + "/Training/torch/train.py",
                      "--data", dataFolder, "--out", out, "--arch", "conv", "--canvas", "\(side)", "--latent", "8", "--hidden", "4",
                      "--likelihood", "gaussian-global", "--batch", "16", "--flip", "--shift", "1", "--quiet"]
        #expect(try Torch.run(common + ["--epochs", "1"]).status == 0)
        #expect(try Torch.run(common + ["--epochs", "2", "--resume"]).status == 0)

        let file = try ModelFile.load(path: out)
        #expect(file.model.config == VAEConfig(arch: .conv, canvas: side, latent: 8, hidden: [4], likelihood: .gaussian(.learnedGlobal)))
        #expect(file.training?.history.map(\.epoch) == [1, 2])
        #expect(file.training?.options.flip == true && file.training?.options.shift == 1)
        #expect(file.metadata["trainer"]?.contains("2 processes") == true)
        let x = Tensor(shape: [4, 1, side, side]) { split.validation.fill($0, with: ArraySlice(0..<4)) }
        let noise = rng.normalTensor(shape: [4, 8])
        let swift = file.model.evaluate(x, noise: noise), torch = try Torch.lossParts([(out, x, noise)], in: directory)[0]
        #expect(abs(swift.negativeELBO - torch.negativeELBO) <= 1e-4 * abs(torch.negativeELBO), "\(swift) vs \(torch)")
    }

    /// Training/torch/hyperprior.py adds networks to a codec model; calibrating with them gives a ladder whose
    /// hyperprior codes every rung's files back to their symbols.
    /// The PyTorch side reads 8-bit weights as vaecodec does: codes times their row's scale.
    @Test func pytorchReadsInt8Weights() throws {
        let fixture = Torch.root + "/Fixtures/models/tiny-faces-32-int8.safetensors"
        let swift = try ModelFile.load(path: fixture).model.parameters.first { $0.name == "encoder.0.weight" }!.value.data
        let script = "import sys; sys.path.insert(0, '\(Torch.root)/Training/torch'); import vaecodec_torch as vt; "
            + "t, _ = vt.read_safetensors('\(fixture)'); w = t['encoder.0.weight'].reshape(-1); "
            + "print(' '.join(repr(float(x)) for x in w[:64])); print(sorted(k for k in t if k.endswith('.scale')))"
        let run = try Torch.run(["-c", script])
        let lines = run.output.split(separator: "\n")
        #expect(run.status == 0 && lines.count == 2 && lines[1] == "[]", "\(run.output)")
        #expect(lines.first.map { $0.split(separator: " ").compactMap { Float(String($0)) } } == Array(swift.prefix(64)))
    }

    @Test func hyperpriorTrainerWritesNetworksCalibrateUses() throws {
        let directory = try Torch.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var rng = Xoshiro256StarStar(seed: 5)
        let side = 32
        let split = try Torch.noiseSplit(images: 200, perPerson: 2, side: side, rng: &rng, in: directory)
        let source = Torch.root + "/Fixtures/models/tiny-faces-32.safetensors", out = directory + "/h.safetensors"
        let trained = try Torch.run([Torch.root + "/Training/torch/hyperprior.py", "--model", source, "--split", directory,
                                     "--side", "3", "--width", "8", "--iterations", "300", "--out", out])
        #expect(trained.status == 0 && trained.output.contains("held-out bits per image by rung"), "\(trained.output)")

        let file = try ModelFile.load(path: out)
        let networks = try #require(try Hyperprior.trained(in: file.extraTensors, file: out))
        #expect(networks.analysis2.outputs == 3 && networks.sideSteps.count == 8 && networks.transmitted?.count == 8)
        let model = try CodecModel.fit(name: "h", vae: file.model, on: split.train, training: nil, hyperprior: networks)
        let hyperprior = try #require(model.ladder.hyperprior)
        #expect(hyperprior.sideCount == 3 && hyperprior.rungs.count == model.ladder.rungs.count)
        let codec = LatentCodec(model: model)
        for rung in 0..<codec.rungCount {
            let mean = rng.normalTensor(shape: [file.model.config.latent]).data
            let symbols = codec.symbols(mean: mean, rung: rung)
            #expect(symbols.count == 8 + model.ladder.sideCount(rung: rung))
            let header = codec.header(rung: rung, width: side, height: side, hint: .png)
            #expect(try codec.decodeSymbols(Container.parse(codec.file(symbols: symbols, header: header), name: "t.vae"), name: "t.vae") == symbols)
        }
    }
}
