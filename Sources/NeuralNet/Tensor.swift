/// A contiguous, batch-first Float32 array. `data` is a Swift Array, so copies are
/// copy-on-write and a layer can keep its input for backward at the cost of one reference.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == data.count,
                     "Tensor: shape \(shape) does not hold \(data.count) elements")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Float](repeating: 0, count: shape.reduce(1, *)))
    }

    /// Allocates without zero-filling; `initialize` must write every element.
    @inlinable
    public init(shape: [Int], initialize: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let count = shape.reduce(1, *)
        self.shape = shape
        self.data = [Float](unsafeUninitializedCapacity: count) { buffer, initializedCount in
            initialize(buffer)
            initializedCount = count
        }
    }

    /// Returned by a backward pass that was told not to compute its input gradient.
    public static let none = Tensor(shape: [0], data: [])

    public var count: Int { data.count }
    public var batchSize: Int { shape[0] }
    public var elementsPerSample: Int { shape[0] == 0 ? 0 : data.count / shape[0] }

    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Samples `range` of the batch, as a new tensor.
    public func batchSlice(_ range: Range<Int>) -> Tensor {
        let perSample = elementsPerSample
        var newShape = shape
        newShape[0] = range.count
        return Tensor(shape: newShape, data: Array(data[(range.lowerBound * perSample)..<(range.upperBound * perSample)]))
    }
}
