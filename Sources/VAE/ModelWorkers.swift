import Dispatch
import Foundation
import NeuralNet

/// A model that can run on another thread through a copy of its layers sharing its weights.
public protocol ReplicableModel {
    func replica() -> Self
}

extension VAEModel: ReplicableModel {}

/// Batches of images on parallel workers. A model's layers keep per-call state, so each worker runs its own
/// replicas (sharing the weights) on one BLAS thread: small products split across threads spend their time waiting,
/// while two workers keep both cores on useful work. Every batch is computed the same way whichever worker runs it,
/// so results do not depend on the number of workers.
package enum ModelWorkers {
    /// Runs `body` over consecutive batches of `count` items on up to `workers` threads, each worker with its own
    /// replicas of `models` (worker 0 uses them as given), and returns the results in order.
    /// - loneBatchThreads: BLAS threads for a single batch, which has the cores to itself (one image's products are
    ///   often too small to gain from a second thread).
    package static func inBatches<Model: ReplicableModel, T>(_ count: Int, models: [Model], batchSize: Int, workers: Int,
                                                             loneBatchThreads: Int? = nil,
                                                             _ body: @escaping (Range<Int>, [Model]) -> [T]) -> [T] {
        let batches = stride(from: 0, to: count, by: batchSize).map { $0..<min(count, $0 + batchSize) }
        let available = max(1, workers)
        if batches.count <= 1 || available == 1 {
            return BLAS.withThreads(batches.count <= 1 ? loneBatchThreads ?? available : 1) { batches.flatMap { body($0, models) } }
        }
        let workers = min(available, batches.count)
        nonisolated(unsafe) let replicas = (0..<workers).map { $0 == 0 ? models : models.map { $0.replica() } }
        return BLAS.withThreads(1) { Parallel.map(batches.count, workers: workers) { b, worker in body(batches[b], replicas[worker]) } }.flatMap { $0 }
    }
}

/// Work that shares nothing, spread over threads.
public enum Parallel {
    /// `body(i, worker)` for every i in 0..<count on up to `workers` threads, the results in order of i. Each worker
    /// takes the next index not yet taken, so a slow item does not hold the other worker idle; `worker` (0..<workers)
    /// says which thread runs it, for state a thread must not share.
    public static func map<T>(_ count: Int, workers: Int = 2, _ body: @escaping (Int, Int) -> T) -> [T] {
        let workers = max(1, min(workers, count))
        if workers == 1 { return (0..<count).map { body($0, 0) } }
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: count)
        defer {
            results.deinitialize()
            results.deallocate()
        }
        results.initialize(repeating: nil)
        nonisolated(unsafe) let (output, work) = (results, body)
        let next = NSLock()
        nonisolated(unsafe) var taken = 0
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            while true {
                next.lock()
                let i = taken
                taken += 1
                next.unlock()
                guard i < count else { return }
                output[i] = work(i, worker)
            }
        }
        return results.map { $0! }
    }
}
