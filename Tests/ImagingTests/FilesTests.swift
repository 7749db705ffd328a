import Testing
@testable import Imaging

@Suite struct FilesTests {
    @Test func writeRefusesToClobberWithoutOverwrite() throws {
        let dir = Fixture.temporaryDirectory()
        let path = dir + "/out.png"
        try Files.writeAtomically([1, 2, 3], to: path, overwrite: false)
        let error = #expect(throws: ImageError.self) { try Files.writeAtomically([9], to: path, overwrite: false) }
        #expect(error?.description == "\(path): already exists (use --force to overwrite)")
        #expect(try Files.read(path) == [1, 2, 3])
        try Files.writeAtomically([4, 5], to: path, overwrite: true)
        #expect(try Files.read(path) == [4, 5])
        #expect(try listing(dir) == ["out.png"])  // no temporary files left behind
    }

    @Test func failedWriteLeavesNothing() throws {
        let dir = Fixture.temporaryDirectory()
        #expect(throws: ImageError.self) { try Files.writeAtomically([1], to: dir + "/missing/out.png", overwrite: false) }
        #expect(try listing(dir).isEmpty)
    }

    @Test func readNamesMissingFilesAndDirectories() {
        let missing = #expect(throws: ImageError.self) { try Files.read("/nonexistent/face.png") }
        #expect(missing?.description == "/nonexistent/face.png: no such file or directory")
        let directory = #expect(throws: ImageError.self) { try Files.read("/tmp") }
        #expect(directory?.description == "/tmp: is a directory")
    }

    @Test func readRefusesOversizedFiles() throws {
        let dir = Fixture.temporaryDirectory()
        try Files.writeAtomically(Array(repeating: 0, count: 100), to: dir + "/big", overwrite: false)
        #expect(throws: ImageError.self) { try Files.read(dir + "/big", limit: 99) }
    }

    private func listing(_ dir: String) throws -> [String] { try Files.list(dir) }
}
