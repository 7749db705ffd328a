#!/usr/bin/env python3
"""Writes Fixtures/hostile/: small crafted files that reproduce the findings of the hardening review (issue 17).

Standard library only, deterministic: `python3 Fixtures/make_hostile.py` rewrites the same bytes. Each file is
tiny; what it claims (a 2 GB chunk, a 16384x16384 image) is what makes it hostile. The .vae ones are edits of the
golden files in Fixtures/vae/, made by this script so the edit is written down.
"""
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "hostile"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind, data, length=None):
    """A PNG chunk; `length` overrides the declared length (the CRC still covers what is written)."""
    declared = len(data) if length is None else length
    return struct.pack(">I", declared) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def ihdr(width, height, depth, colour):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))


def interlaced_gray(width, height, value):
    """An 8-bit gray PNG in Adam7 order: seven passes, each a sub-image of filter-0 rows."""
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = bytearray()
    for x0, y0, dx, dy in passes:
        columns = range(x0, width, dx)
        if not columns:
            continue
        for y in range(y0, height, dy):
            raw.append(0)
            raw.extend(value(x, y) for x in columns)
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1))
    return PNG_SIGNATURE + header + chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b"")


def write(name, data):
    (OUT / name).write_bytes(data)
    print(f"{name}: {len(data)} bytes")


def leb128(value, pad_to=0):
    """Unsigned LEB128, optionally padded with 0x80 continuation groups to `pad_to` bytes (non-canonical)."""
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            break
    while len(out) < pad_to:
        out[-1] |= 0x80
        out.append(0)
    return bytes(out)


def main():
    OUT.mkdir(exist_ok=True)
    # Finding 3: an IHDR, then a text chunk that declares 0x7fffffff bytes and holds 20.
    write("png-chunk-bomb.png", PNG_SIGNATURE + ihdr(1, 1, 8, 0) + struct.pack(">I", 0x7FFFFFFF) + b"tEXt" + b"\0" * 20)

    # Finding 6: a 2x2 palette image whose palette has 2 entries and whose pixels use indices 0, 1, 5 and 7.
    rows = b"\x00\x00\x01" + b"\x00\x05\x07"  # filter byte 0, then two 8-bit indices per row
    write("png-palette-index.png", PNG_SIGNATURE + ihdr(2, 2, 8, 3) + chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff")
          + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))

    # Interlaced PNGs are read whole before their rows go out, so they have their own limit (2^24 pixels): a small
    # one whose pixel at (x, y) is 7x + 3y mod 256 (its rows must come out right), and a 4097x4097 one of zeros.
    write("png-interlaced-13x11.png", interlaced_gray(13, 11, lambda x, y: (7 * x + 3 * y) % 256))
    write("png-interlaced-4097x4097.png", interlaced_gray(4097, 4097, lambda x, y: 0))

    # Finding 1: a large image. `compress` reads it a row at a time; `denoise` refuses it (over 2048 x 2048).
    write("png-zeros-2049x2049.png", PNG_SIGNATURE + ihdr(2049, 2049, 8, 0)
          + chunk(b"IDAT", zlib.compress(bytes(2050 * 2049), 9)) + chunk(b"IEND", b""))

    # Finding 4: non-canonical headers for the same content as two golden files.
    square = (HERE / "vae" / "face-gray-64-q60.vae").read_bytes()  # 64x64: size implicit
    assert square[1] & 0x10 == 0
    write("vae-explicit-64x64.vae", square[:1] + bytes([square[1] | 0x10]) + square[2:3] + leb128(64) + leb128(64) + square[3:])
    odd = (HERE / "vae" / "face-odd-177x151-q60.vae").read_bytes()  # 177x151: 2 + 2 size bytes
    assert odd[1] & 0x10 and odd[3:7] == leb128(177) + leb128(151)
    write("vae-padded-size.vae", odd[:3] + leb128(177, pad_to=3) + leb128(151) + odd[7:])


if __name__ == "__main__":
    main()
