import Testing
@testable import VAE
@Test func placeholderVAE() {}
