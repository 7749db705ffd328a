#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import VAECodecKit

/// Progress for long work: a live bar redrawn in place on a terminal, occasional plain lines otherwise
/// (logs and CI), nothing with --quiet. Always on stderr, so stdout stays clean for data.
final class Progress: @unchecked Sendable {  // updates may come from worker threads; a mutex orders them
    private let label: String
    private var total: Int
    private var mutex = pthread_mutex_t()
    private let quiet: Bool
    private let live = isatty(2) != 0
    private let start = MonotonicClock.seconds()
    private var lastDraw = 0.0
    /// The first plain line waits a period too: a rate measured over the first instants means nothing.
    private lazy var lastLine = start

    init(_ label: String, total: Int, quiet: Bool) {
        self.label = label
        self.total = max(1, total)
        self.quiet = quiet
        pthread_mutex_init(&mutex, nil)
    }

    /// `done` of `total` units (images, batches); `detail` is appended, e.g. the current loss.
    func update(_ done: Int, total newTotal: Int? = nil, detail: String = "", unit: String = "img") {
        guard !quiet else { return }
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        if let newTotal { total = max(1, newTotal) }
        let now = MonotonicClock.seconds(), elapsed = now - start
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        if live {
            guard now - lastDraw >= 0.1 || done >= total else { return }
            lastDraw = now
            let width = 24, filled = min(width, width * done / total)
            let bar = String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled)
            Terminal.write("\r\u{1B}[K\(label) [\(bar)] \(done)/\(total) \(detail) \(Int(rate)) \(unit)/s ETA \(Clock.format(eta))", to: 2)
        } else if now - lastLine >= 30 {
            lastLine = now
            Terminal.write("\(label): \(done)/\(total) \(detail) \(Int(rate)) \(unit)/s ETA \(Clock.format(eta))\n", to: 2)
        }
    }

    /// Clears the live bar so the next line starts clean.
    func finish() {
        if live && !quiet { Terminal.write("\r\u{1B}[K", to: 2) }
    }
}

enum Clock {
    static func format(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? "\(s / 3600)h\(String(format2: s / 60 % 60))m" : "\(s / 60):\(String(format2: s % 60))"
    }
}

extension String {
    init(format2 value: Int) { self = value < 10 ? "0\(value)" : "\(value)" }
}
