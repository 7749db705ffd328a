import Dispatch
import Foundation
import NeuralNet

/// Batches of images on parallel workers. A model's layers keep per-call state, so each worker runs its own
/// replicas (sharing the weights) on one BLAS thread: small products split across threads spend their time waiting,
/// while two workers keep both cores on useful work. Every batch is computed the same way whichever worker runs it,
/// so results do not depend on the number of workers.
enum ModelWorkers {
    /// Runs `body` over consecutive batches of `count` items on up to `workers` threads, each worker with its own
    /// replicas of `models` (worker 0 uses them as given), and returns the results in order.
    /// - loneBatchThreads: BLAS threads for a single batch, which has the cores to itself (one image's products are
    ///   often too small to gain from a second thread).
    static func inBatches<T>(_ count: Int, models: [CodecModel], batchSize: Int, workers: Int, loneBatchThreads: Int? = nil,
                             _ body: @escaping (Range<Int>, [CodecModel]) -> [T]) -> [T] {
        let batches = stride(from: 0, to: count, by: batchSize).map { $0..<min(count, $0 + batchSize) }
        let available = max(1, workers)
        if batches.count <= 1 || available == 1 {
            return BLAS.withThreads(batches.count <= 1 ? loneBatchThreads ?? available : 1) { batches.flatMap { body($0, models) } }
        }
        let workers = min(available, batches.count)
        nonisolated(unsafe) let replicas = (0..<workers).map { $0 == 0 ? models : models.map { $0.replica() } }
        let results = UnsafeMutableBufferPointer<[T]>.allocate(capacity: batches.count)
        defer {
            results.deinitialize()
            results.deallocate()
        }
        _ = results.initialize(repeating: [])
        nonisolated(unsafe) let (output, work) = (results, body)
        // Each worker takes the next batch not yet taken, so a slow batch does not hold the other worker idle.
        let next = NSLock()
        nonisolated(unsafe) var taken = 0
        BLAS.withThreads(1) {
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                while true {
                    next.lock()
                    let b = taken
                    taken += 1
                    next.unlock()
                    guard b < batches.count else { return }
                    output[b] = work(batches[b], replicas[worker])
                }
            }
        }
        return results.flatMap { $0 }
    }
}
