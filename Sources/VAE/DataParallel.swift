import Dispatch
import Foundation
import NeuralNet

/// One training step split across the two cores: the model takes the first half of the batch, a replica
/// with the same weights the second, each on a single-threaded BLAS, and the replica's gradients are added
/// to the model's before Adam's step. The result is the same mean-loss gradient as one pass over the batch
/// (up to float summation order). Measured on the 64x64 conv model, multithreaded OpenBLAS on one pass spent
/// a quarter of its time in sched_yield between small products, and im2col/col2im ran on one core.
public final class DataParallelStep {
    public let model: VAEModel
    let replica: VAEModel

    public init(model: VAEModel) throws {
        self.model = model
        replica = try VAEModel(config: model.config, seed: 0)
    }

    /// Trains on `x`; the caller must have set BLAS to one thread. Falls back to one pass for a single image.
    public func step(batch x: Tensor, beta: Float, samples: Int, rng: inout Xoshiro256StarStar) -> LossParts {
        let n = x.batchSize
        guard n >= 2 else { return model.trainStep(batch: x, beta: beta, samples: samples, rng: &rng) }
        let half = n / 2
        let inputs = [x.batchSlice(0..<half), x.batchSlice(half..<n)]
        let shares = [Float(half) / Float(n), Float(n - half) / Float(n)]
        for (p, r) in zip(model.parameters, replica.parameters) {
            r.value = p.value  // copy-on-write: shared until Adam writes the model's
            r.zeroGradient()
        }
        model.optimizer.zeroGradients()
        // Each half draws its noise from its own stream, both fixed by the epoch's generator. Each worker
        // writes only its own slot of these buffers.
        let generators = UnsafeMutableBufferPointer<Xoshiro256StarStar>.allocate(capacity: 2)
        let parts = UnsafeMutableBufferPointer<LossParts>.allocate(capacity: 2)
        defer { generators.deallocate(); parts.deallocate() }
        _ = generators.initialize(from: [rng, Xoshiro256StarStar(seed: rng.next())])
        _ = parts.initialize(from: [LossParts(reconstruction: 0, kl: 0), LossParts(reconstruction: 0, kl: 0)])
        nonisolated(unsafe) let workers = [model, replica]
        nonisolated(unsafe) let (g, out) = (generators, parts)
        DispatchQueue.concurrentPerform(iterations: 2) { w in
            out[w] = workers[w].accumulateGradients(batch: inputs[w], beta: beta, samples: samples, share: shares[w], rng: &g[w])
        }
        rng = generators[0]
        for (p, r) in zip(model.parameters, replica.parameters) {
            p.grad.data.withUnsafeMutableBufferPointer { g in
                r.grad.data.withUnsafeBufferPointer { rg in for i in 0..<g.count { g[i] += rg[i] } }
            }
        }
        // The closed-form shared variance: the mean squared residual over both halves.
        if model.config.likelihood == .gaussian(.learnedGlobal), let lv = model.logVariance, let rlv = replica.logVariance {
            let combined = Double(shares[0]) * exp(Double(lv.value.data[0])) + Double(shares[1]) * exp(Double(rlv.value.data[0]))
            lv.value.data[0] = Float(log(combined))
        }
        model.optimizer.step()
        return LossParts(reconstruction: Double(shares[0]) * parts[0].reconstruction + Double(shares[1]) * parts[1].reconstruction,
                         kl: Double(shares[0]) * parts[0].kl + Double(shares[1]) * parts[1].kl)
    }
}
