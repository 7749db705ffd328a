import ArgumentParser
#if canImport(Glibc)
import Glibc
private let posix_exit = Glibc.exit
#else
import Darwin
private let posix_exit = Darwin.exit
#endif
import VAECodecKit

@main
struct VAECodecCommand: ParsableCommand {
    static let version = "0.2.0"

    static let configuration = CommandConfiguration(
        commandName: "vaecodec",
        abstract: "Compress and denoise small images with a variational autoencoder.",
        version: version,
        subcommands: [CompressCommand.self, DecompressCommand.self, InfoCommand.self, DenoiseCommand.self, TrainCommand.self, CalibrateCommand.self, SplitCommand.self,
                      BenchCommand.self, ManifoldCommand.self, SampleCommand.self, CanvasCommand.self])

    /// Our own errors are one line on stderr, "vaecodec: <file>: <problem>", and exit status 1;
    /// usage errors, --help and --version keep ArgumentParser's handling.
    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            exit(withError: error)
        }
        // A reader that goes away (`| head`) makes the next write fail with EPIPE, reported as one line and exit 1,
        // instead of a silent death by SIGPIPE (exit 141).
        signal(SIGPIPE, SIG_IGN)
        // Two threads for a product that has the machine to itself: its cores. Results do not depend on it.
        BLAS.threadCount = 2
        do {
            try command.run()
        } catch let error where String(reflecting: type(of: error)).hasPrefix("ArgumentParser.") {
            exit(withError: error)  // help, usage and exit codes: ArgumentParser's own output
        } catch {
            Terminal.error("\(error)")
            posix_exit(1)
        }
    }
}

/// Options every subcommand shares.
struct CommonOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Print nothing but errors.")
    var quiet = false
}

/// Unbuffered line output: stdout may also carry binary output ("-o -"), so nothing may sit in a buffer.
enum Terminal {
    static func error(_ line: String) { write("vaecodec: \(line)\n", to: 2) }

    static func info(_ line: String, quiet: Bool) {
        if !quiet { write(line + "\n", to: 1) }
    }

    /// A failed write (the reader went away) is dropped: there is nowhere left to report it.
    static func write(_ text: String, to fd: Int32) {
        try? Files.writeAll(Array(text.utf8), fd: fd, name: "")
    }

    static var isInteractive: Bool { isatty(2) != 0 }
}

/// Runs `body` for each input, reporting failures as they happen and carrying on with the rest;
/// the command fails at the end if any input failed, so one bad file never hides the others' results.
func forEachInput(_ inputs: [String], _ body: (String) throws -> Void) throws {
    var failures = 0
    for input in inputs {
        do {
            try body(input)
        } catch {
            Terminal.error("\(error)")
            failures += 1
        }
    }
    if failures > 0 { throw ExitCode.failure }
}

/// `forEachInput` for the commands that work on many images at once: inputs are `prepare`d one by one into groups
/// of at most `size` items and `pixels` pixels (by `weight`), each group is `process`ed together (in batches on both
/// cores), then each result is `finish`ed (written and reported) in input order. A failure is reported as it
/// happens and only that input is dropped; the command fails at the end if any input failed. Groups keep memory
/// bounded however many, and however large, the inputs are.
func forEachGroup<Item, Outcome>(_ inputs: [String], size: Int, pixels: Int = 1 << 25, weight: (Item) -> Int,
                                 progress label: String, quiet: Bool,
                                 prepare: (String) throws -> Item, process: ([Item]) throws -> [Outcome],
                                 finish: (Item, Outcome) throws -> Void) throws {
    let progress = Progress(label, total: inputs.count, quiet: quiet || inputs.count <= size)
    var failures = 0, done = 0, group: [Item] = [], groupPixels = 0
    func attempt(_ body: () throws -> Void) {
        do { try body() } catch {
            progress.finish()
            Terminal.error("\(error)")
            failures += 1
        }
    }
    func flush() throws {
        if !group.isEmpty {
            let outcomes = try process(group)
            progress.finish()
            for (item, outcome) in zip(group, outcomes) { attempt { try finish(item, outcome) } }
        }
        (group, groupPixels) = ([], 0)
        progress.update(done)
    }
    for input in inputs {
        attempt {
            let item = try prepare(input)
            group.append(item)
            groupPixels += weight(item)
        }
        done += 1
        if group.count >= size || groupPixels >= pixels { try flush() }
    }
    try flush()
    progress.finish()
    if failures > 0 { throw ExitCode.failure }
}

/// The first Ctrl-C asks long work to stop at a safe point; a second one ends the process at once.
final class InterruptFlag: @unchecked Sendable {
    nonisolated(unsafe) private static var count: sig_atomic_t = 0

    static func install() -> InterruptFlag {
        signal(SIGINT) { _ in
            InterruptFlag.count += 1
            if InterruptFlag.count > 1 { _exit(130) }
        }
        return InterruptFlag()
    }

    var isSet: Bool { Self.count > 0 }
}
