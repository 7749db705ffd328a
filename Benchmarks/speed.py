#!/usr/bin/env python3
"""Speed suite: vaecodec's wall time, peak memory and core use against libjpeg-turbo, libwebp and BM3D.

Every number comes from one run of this script, references included, because the machine is noisy: each ratio
compares tools measured within minutes of each other, under the same load. Each tool runs as a whole process
(start-up, model loading and file I/O included), timed with time.perf_counter around Popen + os.wait4, which also
gives that child's CPU time and peak RSS (a peak below this script's own is re-measured afterwards with GNU time,
see run_timed). Single-image rows take the median wall time and the largest peak RSS of
--repeats rounds (the tools alternate within a round, after one untimed warm-up round); batch rows time one
vaecodec command over many files against a loop of one reference process per image, as a user's script would.
Ratios are vaecodec's time per image over the reference's (above 1: vaecodec is slower).

Faces: --faces DIR (64x64 gray PNGs), else `vaecodec bench ... --export-held-out` writes --count held-out LFW
faces to a temporary folder. cjpeg/djpeg (libjpeg-turbo-progs), cwebp/dwebp (webp) and GNU time (time) are
installed with apt-get when missing; BM3D is timed in-process when the `bm3d` and `numpy` packages import. Stdlib only.

Usage: python3 Benchmarks/speed.py [--faces DIR | --data DIR --count N] [--repeats R] [--skip-best] [--out FILE]
"""
import argparse
import datetime
import os
import random
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE_TOOLS = {"cjpeg": "libjpeg-turbo-progs", "djpeg": "libjpeg-turbo-progs", "cwebp": "webp", "dwebp": "webp",
                   "time": "time"}
GNU_TIME = "/usr/bin/time"
BEST_COUNT, DENOISE_COUNT, REFERENCE_COUNT, BM3D_COUNT, SIGMA = 50, 50, 100, 10, 25


def log(message):
    """Progress goes to stderr so that stdout carries only the markdown report."""
    print(message, file=sys.stderr, flush=True)


def sig3(x):
    """x to 3 significant figures, without exponents (1234.5 -> '1230', 0.01234 -> '0.0123')."""
    if x == 0:
        return "0"
    text = f"{x:.3g}"
    return f"{float(text):.0f}" if "e+" in text or abs(x) >= 100 else text


def short(cmd, keep=2):
    """A command line for the report, with long file lists cut to the first `keep` files, '...' and the last."""
    args = [("vaecodec" if i == 0 and a.endswith("vaecodec") else a) for i, a in enumerate(cmd)]
    files = [i for i, a in enumerate(args) if "." in a and not a.startswith("-") and i > 0]
    if len(files) > keep + 1 and files == list(range(files[0], files[0] + len(files))):
        args = args[: files[0] + keep] + ["..."] + args[files[-1]:]
    return " ".join(args)


# ---------------------------------------------------------------- timing

class Run:
    """One timed process, or a loop of them: wall seconds, peak RSS in KB, CPU seconds (user + system).

    rss_exact is False when rss_kb is only an upper bound (see run_timed)."""

    def __init__(self, wall, rss_kb, cpu, rss_exact=True):
        self.wall, self.rss_kb, self.cpu, self.rss_exact = wall, rss_kb, cpu, rss_exact


def peak_rss_gnu_time(cmd, cwd, stdout_path):
    """The child's own peak RSS in KB, measured by GNU time (`time -f %M`) from its own small process (None if
    GNU time reports nothing)."""
    with tempfile.NamedTemporaryFile(suffix=".txt") as report, open(stdout_path or os.devnull, "wb") as out:
        subprocess.run([GNU_TIME, "-f", "%M", "-o", report.name] + cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=out, stderr=subprocess.DEVNULL)
        words = Path(report.name).read_text().split()
        return int(words[-1]) if words and words[-1].isdigit() else None


def run_timed(cmd, cwd, stdout_path=None, check=True):
    """Runs cmd as a child process and returns its Run; stdout goes to stdout_path or /dev/null.

    A non-zero exit raises with the command line and the end of the child's stderr when check is set.
    Linux counts the parent's resident pages at spawn into the child's ru_maxrss (exec keeps the old mm's high-water
    mark), so a child that stays below this script's own peak RSS (~15 MB: cjpeg, djpeg...) reads as that floor: such
    a Run comes back with rss_exact False, for true_rss to measure afterwards, outside the timings."""
    with tempfile.TemporaryFile() as err, open(stdout_path or os.devnull, "wb") as out:
        floor_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0 and check:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise SystemExit(f"error: exit status {proc.returncode} from\n  {' '.join(cmd)}\n(in {cwd})\n{tail}")
    return Run(wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime, usage.ru_maxrss > floor_kb + 1024)


def true_rss(run, cmds, cwd):
    """Replaces a floored peak RSS (rss_exact False) by the largest GNU time figure over cmds, when GNU time exists;
    otherwise the figure stays an upper bound."""
    if not run.rss_exact and os.access(GNU_TIME, os.X_OK):
        figures = [peak_rss_gnu_time(cmd, cwd, out) for cmd, out in cmds]
        if None not in figures:
            run.rss_kb, run.rss_exact = max(figures), True
    return run


def repeat_round_robin(jobs, cwd, repeats):
    """Runs each job (name -> (cmd, stdout_path)) once untimed, then `repeats` rounds in turn.

    Returns name -> Run with the median wall time, the largest peak RSS and the median CPU time."""
    runs = {name: [] for name in jobs}
    for round_index in range(repeats + 1):
        for name, (cmd, stdout_path) in jobs.items():
            run = run_timed(cmd, cwd, stdout_path)
            if round_index > 0:
                runs[name].append(run)
    return {name: true_rss(Run(statistics.median(r.wall for r in rs), max(r.rss_kb for r in rs),
                               statistics.median(r.cpu for r in rs), all(r.rss_exact for r in rs)), [jobs[name]], cwd)
            for name, rs in runs.items()}


def loop_timed(cmds, cwd):
    """Runs (cmd, stdout_path) pairs one process after another; one Run for the whole loop (wall of the loop,
    largest peak RSS, summed CPU)."""
    start = time.perf_counter()
    runs = [run_timed(cmd, cwd, out) for cmd, out in cmds]
    loop = Run(time.perf_counter() - start, max(r.rss_kb for r in runs), sum(r.cpu for r in runs),
               all(r.rss_exact for r in runs))
    return true_rss(loop, cmds, cwd)


# ---------------------------------------------------------------- PNG / PGM

def read_png_gray(path):
    """Decodes an 8-bit grayscale (color type 0), non-interlaced PNG; returns (width, height, pixel bytes)."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG file")
    pos, idat, header = 8, [], None
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if header is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color != 0 or interlace != 0:
        raise ValueError(f"{path}: only 8-bit grayscale non-interlaced PNGs are supported "
                         f"(bit depth {depth}, color type {color}, interlace {interlace})")
    raw = zlib.decompress(b"".join(idat))
    pixels, prev = bytearray(), bytearray(width)
    for y in range(height):
        ftype, line = raw[y * (width + 1)], bytearray(raw[y * (width + 1) + 1:(y + 1) * (width + 1)])
        for x in range(width):
            left = line[x - 1] if x else 0
            up, up_left = prev[x], (prev[x - 1] if x else 0)
            if ftype == 1:
                pred = left
            elif ftype == 2:
                pred = up
            elif ftype == 3:
                pred = (left + up) >> 1
            elif ftype == 4:
                p = left + up - up_left
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - up_left)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else up_left)
            elif ftype == 0:
                pred = 0
            else:
                raise ValueError(f"{path}: bad PNG filter type {ftype} on row {y}")
            line[x] = (line[x] + pred) & 0xFF
        pixels += line
        prev = line
    return width, height, bytes(pixels)


def write_png_gray(path, width, height, pixels):
    """Writes 8-bit grayscale pixels as a PNG (filter 0 on every row)."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def write_pgm(path, width, height, pixels):
    """Writes 8-bit grayscale pixels as a binary PGM (P5), which cjpeg reads."""
    Path(path).write_bytes(b"P5\n%d %d\n255\n" % (width, height) + pixels)


# ---------------------------------------------------------------- tools and machine

def ensure_tools():
    """Installs cjpeg/djpeg/cwebp/dwebp (and GNU time, for small peak RSS figures) with apt-get when missing;
    returns the set of tools available."""
    missing = sorted({pkg for tool, pkg in REFERENCE_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        log(f"installing {' '.join(missing)} ...")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "env": env}
        if subprocess.call(sudo + ["apt-get", "install", "-y", "-q"] + missing, **quiet) != 0:
            subprocess.call(sudo + ["apt-get", "update", "-q"], **quiet)
            subprocess.call(sudo + ["apt-get", "install", "-y", "-q"] + missing, **quiet)
    found = {tool for tool in REFERENCE_TOOLS if tool != "time" and shutil.which(tool)}
    for tool in sorted(set(REFERENCE_TOOLS) - found - {"time"}):
        log(f"note: {tool} is missing (apt-get install {REFERENCE_TOOLS[tool]} failed): its references are skipped")
    if not os.access(GNU_TIME, os.X_OK):
        log(f"note: no GNU time at {GNU_TIME}: peak RSS below this script's own shows as an upper bound (<=)")
    return found


def dwebp_args():
    """dwebp's flag for a gray-friendly uncompressed output, per `dwebp -h` (-pgm, else -ppm, else PNG)."""
    text = subprocess.run(["dwebp", "-h"], capture_output=True, text=True).stdout
    for flag, ext in (("-pgm", "pgm"), ("-ppm", "ppm")):
        if flag in text.split():
            return [flag], ext
    return [], "png"


def machine_info(binary):
    """Lines describing the machine, the binary and the moment of the run."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    refs = []
    for tool, flag in (("cjpeg", "-version"), ("cwebp", "-version")):
        if shutil.which(tool):
            out = subprocess.run([tool, flag], capture_output=True, text=True)
            refs.append(f"{tool} {(out.stdout + out.stderr).strip().splitlines()[0]}")
    resolved = Path(binary).resolve()
    return [f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
            f"- machine: {os.cpu_count()} cores (nproc {len(os.sched_getaffinity(0))}), {model}",
            f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            f"- vaecodec: {binary}" + (f" (-> {resolved})" if resolved != Path(binary) else "")
            + f", version {version or '?'}",
            f"- references: {'; '.join(refs) or 'none'}"]


# ---------------------------------------------------------------- cells

def mb(run):
    """Peak RSS in MB; '<=' marks an upper bound."""
    return ("" if run.rss_exact else "<=") + f"{sig3(run.rss_kb / 1024)} MB"


def single_cell(run):
    return f"{sig3(run.wall * 1000)} ms, {mb(run)}"


def batch_cell(run, count, unit="faces"):
    cores = run.cpu / run.wall
    busy = " (all busy)" if cores >= 0.75 * len(os.sched_getaffinity(0)) else ""
    return (f"{sig3(count / run.wall)} {unit}/s, {sig3(run.wall * 1000 / count)} ms each, "
            f"CPU {cores:.2f} cores{busy}, {mb(run)}")


def ratio(a, b):
    return f"{sig3(a / b)}x" if b > 0 else "—"


def cmd_cell(*cmds):
    return "<br>".join(f"`{c.replace('|', '/')}`" for c in cmds)


# ---------------------------------------------------------------- benchmarks

def single_image(binary, face, work, tools, repeats, skip_best):
    """One face: vaecodec compress (three efforts), decompress and info against cjpeg/djpeg and cwebp/dwebp."""
    shutil.copy(face, work / "face.png")
    write_pgm(work / "face.pgm", *read_png_gray(face))
    vae = str(binary)
    jobs = {"compress": ([vae, "compress", "face.png", "-o", "X.vae", "--force", "-q"], None),
            "fast": ([vae, "compress", "face.png", "-o", "Xfast.vae", "--effort", "fast", "--force", "-q"], None)}
    if not skip_best:
        jobs["best"] = ([vae, "compress", "face.png", "-o", "Xbest.vae", "--effort", "best", "--force", "-q"], None)
    jobs["decompress"] = ([vae, "decompress", "X.vae", "-o", "Y.png", "--force", "-q"], None)
    jobs["info"] = ([vae, "info", "X.vae"], None)
    if {"cjpeg", "djpeg"} <= tools:
        jobs["cjpeg"] = (["cjpeg", "-quality", "50", "face.pgm"], str(work / "F.jpg"))
        jobs["djpeg"] = (["djpeg", "F.jpg"], str(work / "F.pgm"))
    if {"cwebp", "dwebp"} <= tools:
        flag, ext = dwebp_args()
        jobs["cwebp"] = (["cwebp", "-quiet", "-q", "50", "face.png", "-o", "F.webp"], None)
        jobs["dwebp"] = (["dwebp", "-quiet", "F.webp"] + flag + ["-o", f"F2.{ext}"], None)
    log(f"single image: {len(jobs)} commands x {repeats} rounds (+1 warm-up) ...")
    res = repeat_round_robin(jobs, work, repeats)

    def show(name):
        cmd, out = jobs[name]
        return short(cmd) + (f" > {Path(out).name}" if out else "")

    def row(what, name, ref):
        if ref not in res:
            return (what, single_cell(res[name]), f"— ({ref} missing)", "—", cmd_cell(show(name)))
        return (what, single_cell(res[name]), f"{ref}: {single_cell(res[ref])}",
                ratio(res[name].wall, res[ref].wall), cmd_cell(show(name), show(ref)))

    rows = [row("decompress one file", "decompress", "djpeg"), row("decompress one file", "decompress", "dwebp"),
            (("info one file", single_cell(res["info"]), "—", "—", cmd_cell(show("info")))),
            row("compress one face (default)", "compress", "cjpeg"),
            row("compress one face (default)", "compress", "cwebp"),
            row("compress one face --effort fast", "fast", "cjpeg")]
    if "best" in res:
        rows.append(row("compress one face --effort best", "best", "cjpeg"))
    return rows


def reference_loop(work, names, make_cmd, label):
    """Times one reference process per image; returns (Run, shortened loop description)."""
    cmds = [make_cmd(n) for n in names]
    run = loop_timed(cmds, work)
    first, out = cmds[0]
    text = short(first) + (f" > {Path(out).name}" if out else "")
    return run, f"for each of {len(names)} {label}: {text}"


def bm3d_per_image(noisy_images):
    """Seconds per image of bm3d.bm3d on 0..1 images (after one untimed warm-up), or (None, note)."""
    try:
        import numpy as np
        import bm3d
    except ImportError as error:
        return None, f"skipped: {error.name} is not importable (pip install bm3d numpy)"
    arrays = [np.frombuffer(p, dtype=np.uint8).reshape(h, w).astype(np.float64) / 255.0 for w, h, p in noisy_images]
    bm3d.bm3d(arrays[0], sigma_psd=SIGMA / 255.0)
    start = time.perf_counter()
    for a in arrays:
        bm3d.bm3d(a, sigma_psd=SIGMA / 255.0)
    return (time.perf_counter() - start) / len(arrays), f"in-process, {len(arrays)} faces after a warm-up call"


def batch(binary, faces, work, tools, skip_best):
    """Throughput: one vaecodec command over many files against one reference process per image."""
    vae, n, rows = str(binary), len(faces), []
    names = [f"{i:05d}" for i in range(n)]
    refs = {}
    ref_dir = work / "ref"
    ref_dir.mkdir()
    m = min(REFERENCE_COUNT, n)
    for name, face in zip(names[:m], faces):
        shutil.copy(face, ref_dir / f"{name}.png")
        write_pgm(ref_dir / f"{name}.pgm", *read_png_gray(face))
    if {"cjpeg", "djpeg"} <= tools:
        log(f"batch: cjpeg/djpeg loops over {m} faces ...")
        refs["cjpeg"] = reference_loop(ref_dir, names[:m], lambda s: (["cjpeg", "-quality", "50", f"{s}.pgm"],
                                                                       str(ref_dir / f"{s}.jpg")), "faces")
        refs["djpeg"] = reference_loop(ref_dir, names[:m], lambda s: (["djpeg", f"{s}.jpg"],
                                                                       str(ref_dir / f"{s}.out.pgm")), "files")
    if {"cwebp", "dwebp"} <= tools:
        flag, ext = dwebp_args()
        log(f"batch: cwebp/dwebp loops over {m} faces ...")
        refs["cwebp"] = reference_loop(ref_dir, names[:m], lambda s: (["cwebp", "-quiet", "-q", "50", f"{s}.png",
                                                                        "-o", f"{s}.webp"], None), "faces")
        refs["dwebp"] = reference_loop(ref_dir, names[:m], lambda s: (["dwebp", "-quiet", f"{s}.webp"] + flag +
                                                                       ["-o", f"{s}.out.{ext}"], None), "files")

    def row(what, run, count, cmd, ref, unit="faces"):
        if ref not in refs:
            return (what, batch_cell(run, count, unit), f"— ({ref} missing)", "—", cmd_cell(short(cmd)))
        ref_run, ref_text = refs[ref]
        return (what, batch_cell(run, count, unit), f"{ref}: {batch_cell(ref_run, m, unit)}",
                ratio(run.wall / count, ref_run.wall / m), cmd_cell(short(cmd), ref_text))

    efforts = [("balanced", n, []), ("fast", n, ["--effort", "fast"])]
    if not skip_best:
        efforts.append(("best", min(BEST_COUNT, n), ["--effort", "best"]))
    for effort, count, flags in efforts:
        folder = work / f"compress-{effort}"
        folder.mkdir()
        for name, face in zip(names[:count], faces):
            shutil.copy(face, folder / f"{name}.png")
        cmd = [vae, "compress"] + [f"{s}.png" for s in names[:count]] + flags + ["--force", "-q"]
        log(f"batch: compress --effort {effort} over {count} faces ...")
        run = run_timed(cmd, folder)
        label = "default" if effort == "balanced" else effort
        rows.append(row(f"batch compress {label} ({count} faces)", run, count, cmd, "cjpeg"))
        if effort == "balanced":
            rows.append(row(f"batch compress {label} ({count} faces)", run, count, cmd, "cwebp"))

    dec = work / "decompress"
    dec.mkdir()
    for s in names:
        shutil.copy(work / "compress-balanced" / f"{s}.vae", dec / f"{s}.vae")
    cmd = [vae, "decompress"] + [f"{s}.vae" for s in names] + ["--force", "-q"]
    log(f"batch: decompress over {n} files ...")
    run = run_timed(cmd, dec)
    rows.append(row(f"batch decompress ({n} files)", run, n, cmd, "djpeg", "images"))
    rows.append(row(f"batch decompress ({n} files)", run, n, cmd, "dwebp", "images"))

    noisy_dir, k, rng, noisy = work / "noisy", min(DENOISE_COUNT, n), random.Random(1), []
    noisy_dir.mkdir()
    for s, face in zip(names[:k], faces):
        w, h, pixels = read_png_gray(face)
        pixels = bytes(min(255, max(0, round(p + rng.gauss(0, SIGMA)))) for p in pixels)
        write_png_gray(noisy_dir / f"{s}.png", w, h, pixels)
        noisy.append((w, h, pixels))
    cmd = [vae, "denoise"] + [f"{s}.png" for s in names[:k]] + ["--sigma", str(SIGMA), "--force", "-q"]
    log(f"batch: denoise over {k} noisy faces ...")
    run = run_timed(cmd, noisy_dir)
    log(f"batch: BM3D (if importable) on {min(BM3D_COUNT, k)} noisy faces ...")
    seconds, note = bm3d_per_image(noisy[:BM3D_COUNT])
    if seconds is None:
        rows.append((f"batch denoise sigma {SIGMA} ({k} faces)", batch_cell(run, k), f"BM3D {note}", "—",
                     cmd_cell(short(cmd))))
    else:
        rows.append((f"batch denoise sigma {SIGMA} ({k} faces)", batch_cell(run, k),
                     f"BM3D: {sig3(seconds * 1000)} ms each ({note})", ratio(run.wall / k, seconds),
                     cmd_cell(short(cmd), f"bm3d.bm3d(noisy / 255.0, sigma_psd={SIGMA} / 255.0)")))
    return rows


def export_faces(binary, data, crop, count, folder):
    """Writes `count` held-out faces with `vaecodec bench --export-held-out`; returns the folder of PNGs."""
    cmd = [str(binary), "bench", "--data", str(data), "--crop", str(crop), "--model", "faces", "--limit", str(count),
           "--export-held-out", "--out", str(folder), "--force", "-q"]
    log(f"exporting {count} held-out faces: {' '.join(cmd)}")
    run_timed(cmd, folder.parent)
    return folder / "held-out"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", type=Path, default=REPO / ".build" / "release" / "vaecodec", help="vaecodec binary")
    parser.add_argument("--faces", type=Path,
                        help="folder of 64x64 gray face PNGs (default: export held-out LFW faces)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "lfw",
                        help="LFW folder for the export when --faces is not given")
    parser.add_argument("--crop", type=int, default=110, help="--crop of the export (LFW: 110)")
    parser.add_argument("--count", type=int, default=1000, help="faces to export / to use (default 1000)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds of the single-image commands")
    parser.add_argument("--skip-best", action="store_true", help="skip --effort best (the slow one)")
    parser.add_argument("--out", type=Path, help="also write the markdown report to this file")
    args = parser.parse_args()
    binary = args.bin.absolute()
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"error: no vaecodec binary at {binary} (swift build -c release, or --bin PATH)")
    if args.repeats < 1 or args.count < 1:
        raise SystemExit("error: --repeats and --count must be at least 1")
    tools = ensure_tools()
    with tempfile.TemporaryDirectory(prefix="vaecodec-speed-") as tmp:
        tmp = Path(tmp)
        faces_dir = args.faces or export_faces(binary, args.data, args.crop, args.count, tmp / "export")
        faces = sorted(faces_dir.glob("*.png"))[: args.count]
        if not faces:
            raise SystemExit(f"error: no PNG files in {faces_dir}")
        source = faces_dir.resolve() if args.faces else f"a held-out export of {args.data} (--crop {args.crop})"
        header = machine_info(binary) + [f"- faces: {len(faces)} from {source}"]
        (tmp / "single").mkdir()
        (tmp / "batch").mkdir()
        rows = single_image(binary, faces[0], tmp / "single", tools, args.repeats, args.skip_best)
        rows += batch(binary, faces, tmp / "batch", tools, args.skip_best)
    lines = ["# vaecodec speed", ""] + header + [
        f"- single-image rows: median wall of {args.repeats} rounds (after a warm-up), largest peak RSS; "
        f"batch rows: one vaecodec process against one reference process per image",
        "- ratio: vaecodec's time per image / the reference's (above 1: vaecodec slower); "
        "CPU cores: (user + system CPU time) / wall", "",
        "| what | vaecodec | reference (same run) | ratio | command |", "| --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    report = "\n".join(lines) + "\n"
    print(report, end="")
    if args.out:
        args.out.write_text(report)
        log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
