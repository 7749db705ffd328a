import Testing
@testable import NeuralNet
@Test func placeholderNeuralNet() {}
