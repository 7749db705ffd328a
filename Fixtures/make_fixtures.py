#!/usr/bin/env python3
"""Regenerates Fixtures/images and Fixtures/broken from public-domain sources (see Fixtures/README.md).

Needs Pillow and scikit-image (for its bundled public-domain photographs):
    python3 -m venv /tmp/fx && /tmp/fx/bin/pip install pillow scikit-image && /tmp/fx/bin/python Fixtures/make_fixtures.py
"""
import io, os, struct, zlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont
import skimage.data

here = os.path.dirname(os.path.abspath(__file__))
images, broken = os.path.join(here, "images"), os.path.join(here, "broken")

def save(img, name, **options):
    img.save(os.path.join(images, name), **options)

astronaut = Image.fromarray(skimage.data.astronaut())          # NASA, public domain, 512x512 RGB
face = astronaut.crop((150, 20, 330, 200))                     # 180x180 around Eileen Collins' face
camera = Image.fromarray(skimage.data.camera())                # CC0, 512x512 gray

save(face, "face-rgb.png")
save(face.convert("L").resize((64, 64), Image.BOX), "face-gray-64.png")
# The same face framed as the face model sees LFW (the central 110 of 250: the face fills the square).
save(astronaut.crop((180, 45, 290, 155)).convert("L").resize((64, 64), Image.BOX), "face-lfw-64.png")
save(face.crop((0, 0, 177, 151)), "face-odd-177x151.jpg", quality=90)
save(face.convert("L").resize((90, 90), Image.BOX), "face-gray-90.jpg", quality=92)
save(face.resize((120, 120), Image.BOX), "face-progressive.jpg", quality=90, progressive=True)
save(face.resize((100, 100), Image.BOX).convert("CMYK"), "face-cmyk.jpg", quality=92)
save(camera.resize((97, 83), Image.BOX), "camera-gray-97x83.png")
save(face.resize((72, 72), Image.BOX).convert("RGBA"), "face-rgba.png")
save(face.resize((48, 48), Image.BOX).convert("P", palette=Image.ADAPTIVE, colors=64), "face-palette.png")

# Gray + alpha: a left-to-right alpha ramp over the face.
gray = face.convert("L").resize((40, 30), Image.BOX)
alpha = Image.fromarray(np.tile(np.linspace(0, 255, 40).astype(np.uint8), (30, 1)))
save(Image.merge("LA", (gray, alpha)), "gray-alpha-40x30.png")

# 16-bit gray: a smooth ramp whose high bytes are known exactly (value = 257 * (x + y) for a 33x31 image).
# Written by hand: Pillow has no 16-bit gray PNG writer from arrays.
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

ramp = np.fromfunction(lambda y, x: 257 * (x + y), (31, 33)).astype(">u2")
raw = b"".join(b"\x00" + row.tobytes() for row in ramp)
with open(os.path.join(images, "ramp-16bit-33x31.png"), "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 33, 31, 16, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))

# 1-bit gray checkerboard, 8x8 squares on 32x32.
checker = (np.indices((32, 32)).sum(axis=0) // 8 % 2 * 255).astype(np.uint8)
save(Image.fromarray(checker).convert("1"), "checker-1bit-32.png")

# A digit drawn with Pillow's bundled font: white on black, like MNIST, at the 64x64 canvas.
digit = Image.new("L", (64, 64), 0)
ImageDraw.Draw(digit).text((32, 32), "7", fill=255, font=ImageFont.load_default(size=52), anchor="mm")
save(digit, "digit-7.png")

# Broken files.
def write(name, data):
    with open(os.path.join(broken, name), "wb") as f:
        f.write(data)

png = open(os.path.join(images, "face-gray-64.png"), "rb").read()
jpg = open(os.path.join(images, "face-gray-90.jpg"), "rb").read()
write("empty.png", b"")
write("truncated.png", png[: len(png) // 2])
write("truncated-header.png", png[:20])
write("truncated.jpg", jpg[: len(jpg) // 2])
write("wrong-magic.png", b"GIF89a" + png[6:])
write("text.jpg", b"This is a text file, not an image.\n")
write("jpeg-named.png", jpg)
corrupt = bytearray(png)
idat = corrupt.find(b"IDAT")
corrupt[idat + 10] ^= 0xFF                                     # damages the compressed data; CRC no longer matches
write("bad-crc.png", bytes(corrupt))
corrupt_jpg = bytearray(jpg)
sos = corrupt_jpg.find(b"\xff\xda")
corrupt_jpg[sos + 2: sos + 40] = b"\xff\xd9" * 19               # markers inside the scan header
write("corrupt-scan.jpg", bytes(corrupt_jpg))

# A valid PNG header that claims 100000 x 100000 pixels: must be refused before allocating.
write("huge-dimensions.png", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0))
      + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
# A JPEG whose frame header claims 60000 x 60000.
sof = jpg.find(b"\xff\xc0")
huge = bytearray(jpg)
huge[sof + 5: sof + 9] = struct.pack(">HH", 60000, 60000)
write("huge-dimensions.jpg", bytes(huge))

# A tiny MNIST-format file (IDX3, gzip): 6 generated 12x12 bars and rings, for the dataset reader.
import gzip
idx_images = np.zeros((6, 12, 12), np.uint8)
for i in range(6):
    idx_images[i, 2 + i : 4 + i, 1:11] = 255 if i % 2 == 0 else 128
os.makedirs(os.path.join(here, "idx"), exist_ok=True)
with gzip.GzipFile(os.path.join(here, "idx", "bars-6x12x12-idx3-ubyte.gz"), "wb", mtime=0) as f:
    f.write(struct.pack(">IIII", 2051, 6, 12, 12) + idx_images.tobytes())
print("fixtures written")
