// Throughput of the codec, the training step and the references they are judged against, measured in one
// run: OpenBLAS's cblas_sgemm (the machine's matrix peak) and libjpeg-turbo (the codec everyone knows).
import Benchmark
import VAECodecKit
import Foundation

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path + "/Fixtures/images/"

/// Runs `body` `scaledIterations` times and records `perCall` units per second as a custom metric.
func rate(_ benchmark: Benchmark, _ metric: BenchmarkMetric, perCall: Double, _ body: () throws -> Void) rethrows {
    let start = DispatchTime.now().uptimeNanoseconds
    for _ in benchmark.scaledIterations { try body() }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    benchmark.measurement(metric, Int((perCall * Double(benchmark.scaledIterations.count) / seconds).rounded()))
}

let benchmarks: @Sendable () -> Void = {
    BLAS.threadCount = 2
    let gflops = BenchmarkMetric.custom("GFLOP/s", polarity: .prefersLarger, useScalingFactor: false)
    let imagesPerSecond = BenchmarkMetric.custom("images/s", polarity: .prefersLarger, useScalingFactor: false)
    let configuration = Benchmark.Configuration(metrics: [.wallClock, imagesPerSecond], maxDuration: .seconds(3), maxIterations: 2000)

    Benchmark("reference: OpenBLAS cblas_sgemm 1024x1024x1024, 2 threads",
              configuration: .init(metrics: [.wallClock, gflops], maxDuration: .seconds(3), maxIterations: 5)) { benchmark in
        for _ in benchmark.scaledIterations { benchmark.measurement(gflops, Int(OpenBLASReference.measureGFLOPS(threads: 2, repeats: 5) ?? 0)) }
    }
    Benchmark("vaecodec's reproducible sgemm 1024x1024x1024, 2 threads",
              configuration: .init(metrics: [.wallClock, gflops], maxDuration: .seconds(3), maxIterations: 5)) { benchmark in
        for _ in benchmark.scaledIterations { benchmark.measurement(gflops, Int(BLAS.measureGFLOPS(repeats: 5))) }
    }

    let face = try! ImageCodec.read(fixtures + "face-lfw-64.png").image.gray()
    let faces = try! ModelRegistry.shipped().load("faces")[0]
    let codec = LatentCodec(model: faces)
    let file = codec.compress(face, rung: 4, hint: .png)
    let batch = [GrayImage](repeating: face, count: 64)

    Benchmark("reference: libjpeg-turbo encode 64x64 gray, quality 50", configuration: configuration) { benchmark in
        try rate(benchmark, imagesPerSecond, perCall: 1) { blackHole(try ImageCodec.encodeJPEG(face.image(), quality: 50)) }
    }
    Benchmark("compress one 64x64 face", configuration: configuration) { benchmark in
        rate(benchmark, imagesPerSecond, perCall: 1) { blackHole(codec.compress(face, rung: 4, hint: .png)) }
    }
    Benchmark("compress a batch of 64 faces", configuration: configuration) { benchmark in
        rate(benchmark, imagesPerSecond, perCall: 64) {
            let header = codec.header(rung: 4, width: 64, height: 64, hint: .png)
            for mean in codec.means(batch) { blackHole(codec.file(symbols: codec.symbols(mean: mean, rung: 4), header: header)) }
        }
    }
    Benchmark("decompress one 64x64 face", configuration: configuration) { benchmark in
        let container = try Container.parse(file, name: "bench")
        try rate(benchmark, imagesPerSecond, perCall: 1) { blackHole(try codec.decompress(container, name: "bench")) }
    }
    Benchmark("decompress a batch of 64 faces", configuration: configuration) { benchmark in
        let container = try Container.parse(file, name: "bench")
        let symbols = try codec.decodeSymbols(container, name: "bench")
        rate(benchmark, imagesPerSecond, perCall: 64) { blackHole(codec.reconstructions([[Int32]](repeating: symbols, count: 64), rung: 4)) }
    }

    for workers in [1, 2] {
        Benchmark("training step, conv c=32 latent 128, batch 128, \(workers) worker(s)",
                  configuration: .init(metrics: [.wallClock, imagesPerSecond, gflops], maxDuration: .seconds(10), maxIterations: 30)) { benchmark in
            let model = try VAEModel(config: .conv(canvas: 64, latent: 128, baseChannels: 32, likelihood: .gaussian(.learnedGlobal)), seed: 1)
            var rng = Xoshiro256StarStar(seed: 2)
            let x = Tensor(shape: [128, 1, 64, 64]) { for i in $0.indices { $0[i] = rng.nextFloat() } }
            let parallel = workers > 1 ? try DataParallelStep(model: model) : nil
            if parallel != nil { BLAS.threadCount = 1 }
            defer { BLAS.threadCount = 2 }
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in benchmark.scaledIterations {
                blackHole(parallel?.step(batch: x, beta: 1, samples: 1, rng: &rng) ?? model.trainStep(batch: x, beta: 1, rng: &rng))
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            benchmark.measurement(imagesPerSecond, Int(128 / seconds))
            benchmark.measurement(gflops, Int(model.trainingFlopsPerImage * 128 / seconds * 1e-9))
        }
    }
}
