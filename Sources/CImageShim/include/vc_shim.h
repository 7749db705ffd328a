#ifndef VC_SHIM_H
#define VC_SHIM_H
// The only code that calls libpng and libjpeg. Both report errors by longjmp (libjpeg's default handler even
// calls exit()); Swift frames must never be jumped over, so every setjmp lives here and every failure comes
// back as a status code plus the library's own message.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
    VC_OK = 0,
    VC_ERROR = 1,     // the library rejected the data; message says why
    VC_TOO_LARGE = 2, // dimensions exceed the caller's limits; checked before any pixel buffer is allocated
    VC_NO_MEMORY = 3,
};

/// A decoded image: 8 bits per sample, rows top to bottom, samples interleaved.
/// channels: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA. CMYK JPEGs arrive already converted to RGB.
typedef struct {
    uint8_t *pixels; // malloc'd; release with vc_free
    uint32_t width;
    uint32_t height;
    uint32_t channels;
    uint32_t source_bit_depth;  // bits per sample in the file (PNG 1..16, JPEG 8 or 12)
    uint32_t source_color_type; // PNG colour type, or JPEG's J_COLOR_SPACE
    uint32_t progressive;       // JPEG: 1 if progressive; PNG: 1 if interlaced
} vc_image;

/// An encoded file in memory.
typedef struct {
    uint8_t *bytes; // malloc'd; release with vc_free
    size_t size;
} vc_buffer;

enum { VC_MESSAGE_SIZE = 200 };

/// Interlaced PNGs are read whole before their rows go out, so they have a lower limit.
enum { VC_INTERLACED_MAX_PIXELS = 1 << 24 };
/// libjpeg's working memory for one image (a progressive file keeps all its coefficients): 256 MiB.
#define VC_JPEG_MAX_MEMORY (256L << 20)

/// Where a row decoder sends the image: `start` once with its shape, after the limits are checked (a non-zero
/// return stops the decoder and is its status); then `row` for each row, top to bottom, width x channels samples
/// that are only valid during the call. A decoder may still fail after the last row (a file cut after the pixels).
typedef struct {
    void *context;
    int (*start)(void *context, uint32_t width, uint32_t height, uint32_t channels);
    void (*row)(void *context, const uint8_t *samples, uint32_t y);
} vc_row_sink;

/// Decode row by row, holding one row at a time (all rows for interlaced PNG). `out` gets the shape and the source
/// description; its pixels stay NULL.
int vc_png_decode_rows(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels, const vc_row_sink *sink,
                       vc_image *out, char message[VC_MESSAGE_SIZE]);
int vc_jpeg_decode_rows(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels, const vc_row_sink *sink,
                        vc_image *out, char message[VC_MESSAGE_SIZE]);

/// The whole image in one buffer (`out->pixels`).
int vc_png_decode(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels, vc_image *out,
                  char message[VC_MESSAGE_SIZE]);
int vc_jpeg_decode(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels, vc_image *out,
                   char message[VC_MESSAGE_SIZE]);

/// channels 1..4 as in vc_image. text_key/text_value may be NULL; otherwise one tEXt chunk is written.
int vc_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                  const char *text_key, const char *text_value, vc_buffer *out, char message[VC_MESSAGE_SIZE]);

/// channels 1 (gray) or 3 (RGB); quality 1..100; optimize != 0 computes optimal Huffman tables.
int vc_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels, int quality,
                   int optimize, vc_buffer *out, char message[VC_MESSAGE_SIZE]);

void vc_free(void *pointer);

#ifdef __cplusplus
}
#endif
#endif
