// NeuralNet module: work in progress
