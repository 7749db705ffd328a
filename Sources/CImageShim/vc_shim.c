#include "vc_shim.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>
#include <jpeglib.h>
#include <jerror.h>

void vc_free(void *pointer) { free(pointer); }

static void set_message(char *message, const char *text) {
    snprintf(message, VC_MESSAGE_SIZE, "%s", text);
}

static int exceeds(uint32_t width, uint32_t height, uint32_t max_side, uint64_t max_pixels) {
    return width == 0 || height == 0 || width > max_side || height > max_side ||
           (uint64_t)width * height > max_pixels;
}

// MARK: - PNG

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    char *message;
} png_source;

static void png_fail(png_structp png, png_const_charp text) {
    png_source *source = png_get_error_ptr(png);
    set_message(source->message, text);
    png_longjmp(png, 1);
}

// Ancillary-chunk problems (bad CRC in tEXt, say) are warnings in libpng; they don't affect pixels.
static void png_warn(png_structp png, png_const_charp text) { (void)png; (void)text; }

static void png_read_memory(png_structp png, png_bytep out, size_t count) {
    png_source *source = png_get_io_ptr(png);
    if (count > source->size - source->offset) png_error(png, "file is truncated");
    memcpy(out, source->data + source->offset, count);
    source->offset += count;
}

// libpng allocates a chunk's declared length before reading it (png_set_chunk_malloc_max does not cover text
// chunks in 1.6.39), so a 61-byte file that declares a 2 GB chunk would take 2 GB. The whole file is in memory:
// walk its chunks first and refuse one that claims more bytes than remain.
static int png_chunks_fit(const uint8_t *data, size_t size, char *message) {
    size_t offset = 8;
    while (offset + 8 <= size) {
        uint32_t length = (uint32_t)data[offset] << 24 | (uint32_t)data[offset + 1] << 16 | (uint32_t)data[offset + 2] << 8 | data[offset + 3];
        const uint8_t *type = data + offset + 4;
        if ((uint64_t)length + 12 > size - offset) {
            snprintf(message, VC_MESSAGE_SIZE, "file is truncated (chunk %c%c%c%c declares %u bytes, %zu remain)",
                     type[0] & 0x7f, type[1] & 0x7f, type[2] & 0x7f, type[3] & 0x7f, length, size - offset - 8);
            return 0;
        }
        offset += (size_t)length + 12;
        if (memcmp(type, "IEND", 4) == 0) break;
    }
    return 1;
}

// A sink that keeps every row: the whole-image decoders are the row decoders with this sink.
typedef struct {
    uint8_t *pixels;
    size_t row_bytes;
} image_sink;

static int image_start(void *context, uint32_t width, uint32_t height, uint32_t channels) {
    image_sink *sink = context;
    sink->row_bytes = (size_t)width * channels;
    sink->pixels = malloc(sink->row_bytes * height);
    return sink->pixels ? VC_OK : VC_NO_MEMORY;
}

static void image_row(void *context, const uint8_t *samples, uint32_t y) {
    image_sink *sink = context;
    memcpy(sink->pixels + (size_t)y * sink->row_bytes, samples, sink->row_bytes);
}

static int decode_whole(int (*decode)(const uint8_t *, size_t, uint32_t, uint64_t, const vc_row_sink *, vc_image *, char *),
                        const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels, vc_image *out,
                        char message[VC_MESSAGE_SIZE]) {
    image_sink sink = {NULL, 0};
    vc_row_sink rows = {&sink, image_start, image_row};
    int status = decode(data, size, max_side, max_pixels, &rows, out, message);
    if (status == VC_NO_MEMORY && !message[0]) set_message(message, "out of memory");
    if (status == VC_OK) out->pixels = sink.pixels;
    else free(sink.pixels);
    return status;
}

int vc_png_decode_rows(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels, const vc_row_sink *sink,
                       vc_image *out, char message[VC_MESSAGE_SIZE]) {
    memset(out, 0, sizeof *out);
    message[0] = 0;
    if (!png_chunks_fit(data, size, message)) return VC_ERROR;
    png_source source = {data, size, 0, message};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &source, png_fail, png_warn);
    if (!png) { set_message(message, "out of memory"); return VC_NO_MEMORY; }
    png_infop info = png_create_info_struct(png);
    // Written after setjmp and read after longjmp: volatile so the values survive the jump.
    uint8_t *volatile stored_rows = NULL, *volatile expanded = NULL;
    volatile int status = VC_ERROR;
    if (!info) { set_message(message, "out of memory"); status = VC_NO_MEMORY; goto done; }
    if (setjmp(png_jmpbuf(png))) goto done;

    png_set_read_fn(png, &source, png_read_memory);
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff); // our own limit below names the size
    // Belt and braces beside png_chunks_fit: no chunk allocation beyond the file's size, at most 128 ancillary chunks.
    png_set_chunk_malloc_max(png, size + 1);
    png_set_chunk_cache_max(png, 128);
    png_read_info(png, info);
    uint32_t width = png_get_image_width(png, info), height = png_get_image_height(png, info);
    if (exceeds(width, height, max_side, max_pixels)) {
        snprintf(message, VC_MESSAGE_SIZE, "image is %ux%u, over the limit", width, height);
        status = VC_TOO_LARGE;
        goto done;
    }
    int color_type = png_get_color_type(png, info);
    int interlaced = png_get_interlace_type(png, info) != PNG_INTERLACE_NONE;
    out->source_bit_depth = png_get_bit_depth(png, info);
    out->source_color_type = (uint32_t)color_type;
    out->progressive = (uint32_t)interlaced;
    // An interlaced image arrives in seven passes over the whole picture, so it is read whole before its rows go out.
    if (interlaced && (uint64_t)width * height > VC_INTERLACED_MAX_PIXELS) {
        snprintf(message, VC_MESSAGE_SIZE, "interlaced image is %ux%u, over the limit for interlaced PNGs (%u pixels)", width,
                 height, VC_INTERLACED_MAX_PIXELS);
        status = VC_TOO_LARGE;
        goto done;
    }

    // Normalise every variant to 8-bit gray, gray+alpha, RGB or RGBA on the stored values (no gamma change).
    // Palette images are read as one index a byte and expanded here: libpng would read an index past the palette
    // as black and say nothing, and such a file is damaged.
    int palette = color_type == PNG_COLOR_TYPE_PALETTE;
    int transparency = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    if (palette) png_set_packing(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && out->source_bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (transparency && !palette) png_set_tRNS_to_alpha(png);
    if (out->source_bit_depth == 16) png_set_scale_16(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    uint32_t stored = png_get_channels(png, info), channels = palette ? (transparency ? 4 : 3) : stored;
    size_t row_bytes = png_get_rowbytes(png, info);
    if (row_bytes != (size_t)width * stored) png_error(png, "unexpected row layout");
    png_colorp colours = NULL;
    int entries = 0, opaque = 0;
    png_bytep alphas = NULL;
    if (palette) {
        png_get_PLTE(png, info, &colours, &entries);
        if (transparency) png_get_tRNS(png, info, &alphas, &opaque, NULL);
    }
    stored_rows = malloc(row_bytes * (interlaced ? height : 1));
    expanded = palette ? malloc((size_t)width * channels) : NULL;
    if (!stored_rows || (palette && !expanded)) { set_message(message, "out of memory"); status = VC_NO_MEMORY; goto done; }
    if (interlaced) {
        for (int pass = 0; pass < passes; pass++)
            for (uint32_t y = 0; y < height; y++) png_read_row(png, stored_rows + (size_t)y * row_bytes, NULL);
    }
    out->width = width;
    out->height = height;
    out->channels = channels;
    int started = sink->start(sink->context, width, height, channels);
    if (started != VC_OK) { status = started; goto done; }
    for (uint32_t y = 0; y < height; y++) {
        uint8_t *row = stored_rows + (interlaced ? (size_t)y * row_bytes : 0);
        if (!interlaced) png_read_row(png, row, NULL);
        if (palette) {
            for (uint32_t x = 0; x < width; x++) {
                int index = row[x];
                if (index >= entries) {
                    snprintf(message, VC_MESSAGE_SIZE, "palette index %d is past the palette's %d entries", index, entries);
                    goto done;
                }
                uint8_t *target = expanded + (size_t)x * channels;
                target[0] = colours[index].red;
                target[1] = colours[index].green;
                target[2] = colours[index].blue;
                if (transparency) target[3] = index < opaque ? alphas[index] : 255;
            }
            row = expanded;
        }
        sink->row(sink->context, row, y);
    }
    png_read_end(png, NULL); // reaches IEND, so a file cut after the pixel data is still caught
    status = VC_OK;
done:
    free(stored_rows);
    free(expanded);
    png_destroy_read_struct(&png, info ? &info : NULL, NULL);
    return status;
}

int vc_png_decode(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels, vc_image *out,
                  char message[VC_MESSAGE_SIZE]) {
    return decode_whole(vc_png_decode_rows, data, size, max_side, max_pixels, out, message);
}

typedef struct {
    vc_buffer buffer;
    size_t capacity;
    char *message;
} png_sink;

static void png_write_memory(png_structp png, png_bytep bytes, size_t count) {
    png_sink *sink = png_get_io_ptr(png);
    if (sink->buffer.size + count > sink->capacity) {
        size_t capacity = sink->capacity ? sink->capacity : 4096;
        while (capacity < sink->buffer.size + count) capacity *= 2;
        uint8_t *grown = realloc(sink->buffer.bytes, capacity);
        if (!grown) png_error(png, "out of memory");
        sink->buffer.bytes = grown;
        sink->capacity = capacity;
    }
    memcpy(sink->buffer.bytes + sink->buffer.size, bytes, count);
    sink->buffer.size += count;
}

static void png_flush_memory(png_structp png) { (void)png; }

static void png_sink_fail(png_structp png, png_const_charp text) {
    png_sink *sink = png_get_error_ptr(png);
    set_message(sink->message, text);
    png_longjmp(png, 1);
}

int vc_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels,
                  const char *text_key, const char *text_value, vc_buffer *out, char message[VC_MESSAGE_SIZE]) {
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                       PNG_COLOR_TYPE_RGBA};
    out->bytes = NULL;
    out->size = 0;
    message[0] = 0;
    if (channels < 1 || channels > 4 || width == 0 || height == 0) {
        set_message(message, "invalid image shape");
        return VC_ERROR;
    }
    png_sink sink = {{NULL, 0}, 0, message};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, png_sink_fail, png_warn);
    if (!png) { set_message(message, "out of memory"); return VC_NO_MEMORY; }
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    volatile int status = VC_ERROR;
    if (!info) { set_message(message, "out of memory"); status = VC_NO_MEMORY; goto done; }
    if (setjmp(png_jmpbuf(png))) goto done;

    png_set_write_fn(png, &sink, png_write_memory, png_flush_memory);
    png_set_IHDR(png, info, width, height, 8, color_types[channels], PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (text_key && text_value) {
        png_text text;
        memset(&text, 0, sizeof text);
        text.compression = PNG_TEXT_COMPRESSION_NONE;
        text.key = (png_charp)text_key;
        text.text = (png_charp)text_value;
        png_set_text(png, info, &text, 1);
    }
    rows = malloc(sizeof(png_bytep) * height);
    if (!rows) { set_message(message, "out of memory"); status = VC_NO_MEMORY; goto done; }
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)pixels + (size_t)y * width * channels;
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    *out = sink.buffer;
    sink.buffer.bytes = NULL;
    status = VC_OK;
done:
    free(sink.buffer.bytes);
    free(rows);
    png_destroy_write_struct(&png, info ? &info : NULL);
    return status;
}

// MARK: - JPEG

typedef struct {
    struct jpeg_error_mgr manager; // first, so libjpeg's pointer to it is a pointer to this
    jmp_buf jump;
    char *message;
    int status; // VC_ERROR, or VC_NO_MEMORY when libjpeg ran out of its working memory
} jpeg_failure;

static void jpeg_fail(j_common_ptr cinfo) {
    jpeg_failure *failure = (jpeg_failure *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    if (cinfo->err->msg_code == JERR_NO_BACKING_STORE) {
        // libjpeg wanted more than VC_JPEG_MAX_MEMORY: a progressive file keeps every coefficient while it decodes.
        snprintf(failure->message, VC_MESSAGE_SIZE, "needs over %ld MiB of decoder memory (%s)", VC_JPEG_MAX_MEMORY >> 20, text);
        failure->status = VC_NO_MEMORY;
    } else {
        set_message(failure->message, text);
    }
    longjmp(failure->jump, 1);
}

// libjpeg only warns on corrupt or truncated data and then invents gray pixels; a codec must not accept that.
static void jpeg_message(j_common_ptr cinfo, int level) {
    if (level < 0) jpeg_fail(cinfo);
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

int vc_jpeg_decode_rows(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels, const vc_row_sink *sink,
                        vc_image *out, char message[VC_MESSAGE_SIZE]) {
    memset(out, 0, sizeof *out);
    message[0] = 0;
    struct jpeg_decompress_struct cinfo;
    jpeg_failure failure;
    cinfo.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_fail;
    failure.manager.emit_message = jpeg_message;
    failure.manager.output_message = jpeg_silent;
    failure.message = message;
    failure.status = VC_ERROR;
    JSAMPLE *volatile row = NULL, *volatile converted = NULL;
    volatile int status = VC_ERROR;
    if (setjmp(failure.jump)) {
        status = failure.status;
        goto done;
    }

    jpeg_create_decompress(&cinfo);
    // libjpeg's own working memory (a progressive file keeps every coefficient) stays within this, or it fails.
    cinfo.mem->max_memory_to_use = VC_JPEG_MAX_MEMORY;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (exceeds(cinfo.image_width, cinfo.image_height, max_side, max_pixels)) {
        snprintf(message, VC_MESSAGE_SIZE, "image is %ux%u, over the limit", cinfo.image_width,
                 cinfo.image_height);
        status = VC_TOO_LARGE;
        goto done;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    out->source_color_type = (uint32_t)cinfo.jpeg_color_space;
    out->source_bit_depth = (uint32_t)cinfo.data_precision;
    out->progressive = cinfo.progressive_mode ? 1 : 0;
    cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);

    uint32_t width = cinfo.output_width, height = cinfo.output_height;
    uint32_t channels = cmyk ? 3 : (uint32_t)cinfo.output_components;
    row = malloc((size_t)width * cinfo.output_components);
    converted = cmyk ? malloc((size_t)width * 3) : NULL;
    if (!row || (cmyk && !converted)) { set_message(message, "out of memory"); status = VC_NO_MEMORY; goto done; }
    out->width = width;
    out->height = height;
    out->channels = channels;
    int started = sink->start(sink->context, width, height, channels);
    if (started != VC_OK) { status = started; goto done; }
    // Adobe's CMYK JPEGs store inverted ink values; that is the common case for CMYK and YCCK files.
    int inverted = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < height) {
        uint32_t y = cinfo.output_scanline;
        JSAMPROW rows[1] = {row};
        jpeg_read_scanlines(&cinfo, rows, 1);
        if (cmyk) {
            for (uint32_t x = 0; x < width; x++) {
                unsigned c = row[4 * x], m = row[4 * x + 1], yellow = row[4 * x + 2], k = row[4 * x + 3];
                if (!inverted) { c = 255 - c; m = 255 - m; yellow = 255 - yellow; k = 255 - k; }
                converted[3 * x] = (uint8_t)((c * k + 127) / 255);
                converted[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
                converted[3 * x + 2] = (uint8_t)((yellow * k + 127) / 255);
            }
        }
        sink->row(sink->context, cmyk ? converted : row, y);
    }
    jpeg_finish_decompress(&cinfo);
    status = VC_OK;
done:
    free(row);
    free(converted);
    jpeg_destroy_decompress(&cinfo);
    return status;
}

int vc_jpeg_decode(const uint8_t *data, size_t size, uint32_t max_side, uint64_t max_pixels, vc_image *out,
                   char message[VC_MESSAGE_SIZE]) {
    return decode_whole(vc_jpeg_decode_rows, data, size, max_side, max_pixels, out, message);
}

int vc_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, uint32_t channels, int quality,
                   int optimize, vc_buffer *out, char message[VC_MESSAGE_SIZE]) {
    out->bytes = NULL;
    out->size = 0;
    message[0] = 0;
    if ((channels != 1 && channels != 3) || width == 0 || height == 0 || width > 65500 || height > 65500) {
        set_message(message, "invalid image shape for JPEG");
        return VC_ERROR;
    }
    struct jpeg_compress_struct cinfo;
    jpeg_failure failure;
    cinfo.err = jpeg_std_error(&failure.manager);
    failure.manager.error_exit = jpeg_fail;
    failure.manager.emit_message = jpeg_message;
    failure.manager.output_message = jpeg_silent;
    failure.message = message;
    // jpeg_mem_dest owns and grows this buffer; volatile so an error path can still free it.
    unsigned char *volatile bytes = NULL;
    unsigned long length = 0;
    volatile int status = VC_ERROR;
    if (setjmp(failure.jump)) goto done;

    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&bytes, &length);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = (int)channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : quality > 100 ? 100 : quality, TRUE);
    cinfo.optimize_coding = optimize ? TRUE : FALSE;
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < height) {
        JSAMPROW rows[1] = {(JSAMPROW)pixels + (size_t)cinfo.next_scanline * width * channels};
        jpeg_write_scanlines(&cinfo, rows, 1);
    }
    jpeg_finish_compress(&cinfo);
    out->bytes = bytes;
    out->size = length;
    bytes = NULL;
    status = VC_OK;
done:
    jpeg_destroy_compress(&cinfo);
    free(bytes);
    return status;
}
