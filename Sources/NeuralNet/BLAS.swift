import COpenBLAS
import Foundation

/// Every matrix product in NeuralNet goes through `BLAS.sgemm` (row-major cblas_sgemm).
public enum BLAS {
    /// OpenBLAS otherwise picks its thread count from the environment at load time;
    /// setting it once, explicitly, makes benchmarks and training reproducible in speed.
    /// Also repairs OpenBLAS's kernel choice on CPUs newer than the library (see `selectKernels`).
    public static func setThreads(_ count: Int = 2) {
        selectKernels()
        openblas_set_num_threads(Int32(count))
    }

    /// Threads OpenBLAS uses for one product (set without re-selecting kernels, for switching during training).
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(newValue)) }
    }

    /// Runs `body` with `count` threads, then restores the previous count.
    public static func withThreads<T>(_ count: Int, _ body: () throws -> T) rethrows -> T {
        let previous = threadCount
        threadCount = count
        defer { threadCount = previous }
        return try body()
    }

    /// The kernel family OpenBLAS is using, e.g. "SkylakeX", "Haswell", "Prescott".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// A DYNAMIC_ARCH OpenBLAS that does not recognise the CPU model (0.3.21 and a 2023 Xeon)
    /// falls back to its SSE3 "Prescott" kernels, 5× slower than AVX-512 ones. When that
    /// happened and the user did not choose a core type, re-run its dispatcher with the best
    /// family the CPU's feature flags allow. Only touches OpenBLAS before any product is in flight.
    public static func selectKernels() {
        guard coreName.lowercased() == "prescott", ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] == nil,
              let cpuInfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuInfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let family: String
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl", "avx512dq"]) { family = "SkylakeX" }
        else if flags.isSuperset(of: ["avx2", "fma"]) { family = "Haswell" }
        else { return }
        typealias Hook = @convention(c) () -> Void
        guard let quit = dlsym(nil, "gotoblas_dynamic_quit"), let initialise = dlsym(nil, "gotoblas_dynamic_init") else { return }
        setenv("OPENBLAS_CORETYPE", family, 1)
        unsafeBitCast(quit, to: Hook.self)()
        unsafeBitCast(initialise, to: Hook.self)()
        unsetenv("OPENBLAS_CORETYPE")
    }

    /// C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C, all row-major.
    @inline(__always)
    public static func sgemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        cblas_sgemm(CblasRowMajor,
                    transposeA ? CblasTrans : CblasNoTrans,
                    transposeB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb),
                    beta, c, Int32(ldc))
    }

    /// Best-of-`repeats` throughput of a square-ish sgemm, in GFLOP/s (2·m·n·k flops per call).
    public static func measureSgemmGFLOPS(m: Int = 1024, n: Int = 1024, k: Int = 1024, repeats: Int = 10) -> Double {
        let a = [Float](repeating: 0.5, count: m * k)
        let b = [Float](repeating: 0.25, count: k * n)
        var c = [Float](repeating: 0, count: m * n)
        var best = Double.infinity
        for _ in 0..<(repeats + 1) {  // the first call warms up threads and caches
            let start = DispatchTime.now().uptimeNanoseconds
            c.withUnsafeMutableBufferPointer { cp in
                sgemm(transposeA: false, transposeB: false, m: m, n: n, k: k,
                      a: a, lda: k, b: b, ldb: n, beta: 0, c: cp.baseAddress!, ldc: n)
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
            best = min(best, seconds)
        }
        return 2.0 * Double(m) * Double(n) * Double(k) / best * 1e-9
    }
}
