import CGemm
import Dispatch
import Foundation
import Synchronization

/// Every matrix product in NeuralNet goes through `BLAS.sgemm`, which runs the reproducible kernels of CGemm: each
/// element's sum depends only on the operands and the transposes, never on the shape of the batch around it, the thread
/// count or the CPU's vector width, so a codec built on it writes the same bytes for the same image. (OpenBLAS does not
/// promise that: its results for one row change with the number of rows beside it and with its thread count.) OpenBLAS
/// stays as the speed reference that benchmarks report against (`OpenBLASReference`).
public enum BLAS {
    private static let threads = Atomic<Int>(1)

    /// Threads one product may use. One setting for the whole process: results never depend on it, only speed does.
    public static var threadCount: Int {
        get { threads.load(ordering: .relaxed) }
        set { threads.store(max(1, newValue), ordering: .relaxed) }
    }

    /// Runs `body` with `count` threads, then restores the previous count.
    public static func withThreads<T>(_ count: Int, _ body: () throws -> T) rethrows -> T {
        let previous = threadCount
        threadCount = count
        defer { threadCount = previous }
        return try body()
    }

    /// The instruction set the kernels run on: "avx512", "avx2" or "portable" (the same results, at different speeds).
    public static var kernelSet: String { String(cString: vc_sgemm_isa()) }

    /// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, all row-major; see `vc_sgemm` for each element's order of
    /// summation. Transposing both operands is not supported. Large products are split by columns across
    /// `threadCount` threads, which leaves every element's sum as it is.
    public static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        precondition(!(transposeA && transposeB), "BLAS.sgemm: transposing both operands is not supported")
        let (ta, tb) = (Int32(transposeA ? 1 : 0), Int32(transposeB ? 1 : 0))
        let parts = min(threadCount, n / columnsPerThread, 2 * m * n * k / flopsPerThread)
        guard parts > 1 else {
            vc_sgemm(ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        // Chunks are whole 32-column panels, the kernel's tile width.
        let chunk = (n + parts - 1) / parts + 31 & ~31
        nonisolated(unsafe) let (a, b, c) = (a, b, c)
        DispatchQueue.concurrentPerform(iterations: (n + chunk - 1) / chunk) { part in
            let j = part * chunk
            vc_sgemm(ta, tb, Int32(m), Int32(min(chunk, n - j)), Int32(k), alpha, a, Int32(lda),
                     transposeB ? b + j * ldb : b + j, Int32(ldb), beta, c + j, Int32(ldc))
        }
    }

    /// Below these a second thread costs more in waking up than it saves.
    private static let (columnsPerThread, flopsPerThread) = (64, 1 << 22)

    /// Best-of-`repeats` throughput of NeuralNet's own square-ish product, in GFLOP/s (2·m·n·k flops per call).
    public static func measureGFLOPS(m: Int = 1024, n: Int = 1024, k: Int = 1024, repeats: Int = 10) -> Double {
        let (a, b) = ([Float](repeating: 0.5, count: m * k), [Float](repeating: 0.25, count: k * n))
        var c = [Float](repeating: 0, count: m * n)
        return bestGFLOPS(m: m, n: n, k: k, repeats: repeats) {
            sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, beta: 0, c: &c, ldc: n)
        }
    }

    static func bestGFLOPS(m: Int, n: Int, k: Int, repeats: Int, _ product: () -> Void) -> Double {
        var best = Double.infinity
        for _ in 0..<(repeats + 1) {  // the first call warms up threads and caches
            let start = DispatchTime.now().uptimeNanoseconds
            product()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        }
        return 2.0 * Double(m) * Double(n) * Double(k) / best * 1e-9
    }
}

/// OpenBLAS, the speed reference benchmarks report against, loaded only when one measures it: linked in, its thread
/// pool would start with every process and spin beside the work.
public enum OpenBLASReference {
    private typealias SetThreads = @convention(c) (Int32) -> Void
    private typealias CoreName = @convention(c) () -> UnsafePointer<CChar>
    private typealias Hook = @convention(c) () -> Void
    private typealias Sgemm = @convention(c) (Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>, Int32,
                                              UnsafePointer<Float>, Int32, Float, UnsafeMutablePointer<Float>, Int32) -> Void
    nonisolated(unsafe) private static let library: UnsafeMutableRawPointer? = dlopen("libopenblas.so.0", RTLD_NOW) ?? dlopen("libopenblas.so", RTLD_NOW)

    private static func symbol<T>(_ name: String, as type: T.Type) -> T? {
        library.flatMap { dlsym($0, name) }.map { unsafeBitCast($0, to: type) }
    }

    /// The kernel family OpenBLAS chose, e.g. "SkylakeX", "Haswell", "Prescott"; nil when OpenBLAS is not installed.
    public static var coreName: String? { symbol("openblas_get_corename", as: CoreName.self).map { String(cString: $0()) } }

    /// Best-of-`repeats` cblas_sgemm throughput on `threads` threads, in GFLOP/s; nil when OpenBLAS is not installed.
    public static func measureGFLOPS(threads: Int = 2, m: Int = 1024, n: Int = 1024, k: Int = 1024, repeats: Int = 10) -> Double? {
        guard let sgemm = symbol("cblas_sgemm", as: Sgemm.self), let setThreads = symbol("openblas_set_num_threads", as: SetThreads.self) else {
            return nil
        }
        selectKernels()
        setThreads(Int32(threads))
        let (a, b) = ([Float](repeating: 0.5, count: m * k), [Float](repeating: 0.25, count: k * n))
        var c = [Float](repeating: 0, count: m * n)
        return BLAS.bestGFLOPS(m: m, n: n, k: k, repeats: repeats) {
            // CblasRowMajor = 101, CblasNoTrans = 111
            sgemm(101, 111, 111, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, &c, Int32(n))
        }
    }

    /// A DYNAMIC_ARCH OpenBLAS that does not recognise the CPU model (0.3.21 and a 2023 Xeon) falls back to its SSE3
    /// "Prescott" kernels, 5× slower than AVX-512 ones, which would flatter every ratio against it. When that happened
    /// and the user did not choose a core type, re-run its dispatcher with the best family the CPU's flags allow.
    private static func selectKernels() {
        guard coreName?.lowercased() == "prescott", ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let cpuInfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuInfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let family: String
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { family = "SkylakeX" }
        else if flags.isSuperset(of: ["avx2", "fma"]) { family = "Haswell" }
        else { return }
        guard let quit = symbol("gotoblas_dynamic_quit", as: Hook.self), let initialise = symbol("gotoblas_dynamic_init", as: Hook.self) else { return }
        setenv("OPENBLAS_CORETYPE", family, 1)
        quit()
        initialise()
        unsetenv("OPENBLAS_CORETYPE")
    }
}
