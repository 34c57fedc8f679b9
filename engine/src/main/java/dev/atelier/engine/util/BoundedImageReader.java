package dev.atelier.engine.util;

import dev.atelier.engine.core.AtelierException.FormatException;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.FileImageInputStream;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * The one way Atelier decodes an image file (PNG, JPEG, anything javax.imageio reads): the
 * header's width and height are checked against {@link #MAX_PIXELS} before a pixel is decoded,
 * so a small file that declares a huge image (a decompression bomb: a 1 MB PNG of one colour can
 * declare 50,000 x 50,000 pixels, 10 GB decoded) is refused at the cost of reading its header.
 * Metadata (PNG text chunks, which may be compressed too) is not read. Every failure is a
 * {@link FormatException} naming the file.
 */
public final class BoundedImageReader {
    /**
     * The most pixels an image may have: 8192 x 8192 (67 million), twice the side of the largest
     * images Atelier generates and above a 60-megapixel camera photo. Decoded as 4-byte pixels
     * it takes 256 MiB, the most one image may cost.
     */
    public static final long MAX_PIXELS = 8192L * 8192;

    private BoundedImageReader() {}

    /** Decodes the first image of file, after checking its size; the message names the file. */
    public static BufferedImage read(Path file) {
        return decode(file, true);
    }

    /**
     * Checks file as {@link #read(Path)} does before it decodes (a readable image, not empty,
     * within {@link #MAX_PIXELS}) from its header alone: a command can refuse a bad image among
     * its inputs before it loads a model.
     */
    public static void checkHeader(Path file) {
        decode(file, false);
    }

    private static BufferedImage decode(Path file, boolean pixels) {
        if (!Files.isRegularFile(file)) {
            throw new FormatException(file + (Files.exists(file) ? ": not a regular file" : ": no such file"));
        }
        // A file-backed stream: ImageIO's default for InputStreams caches them in temporary files.
        try (ImageInputStream stream = new FileImageInputStream(file.toFile())) {
            return decode(stream, file.toString(), pixels);
        } catch (IOException e) {
            throw new FormatException(file + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** Decodes the first image in bytes, after checking its size; name stands for the source in messages. */
    public static BufferedImage read(byte[] bytes, String name) {
        try (ImageInputStream stream = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            return decode(stream, name, true);
        } catch (IOException e) {
            throw new FormatException(name + ": cannot read: " + e.getMessage(), e);
        }
    }

    /** The first image of stream once its header passes the checks; null without decoding when pixels is false. */
    private static BufferedImage decode(ImageInputStream stream, String name, boolean pixels) {
        BufferedImage image;
        try {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(stream);
            if (!readers.hasNext()) {
                throw new FormatException(name + ": not a readable image (expected PNG or JPEG)");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(stream, true, true);
                long width = reader.getWidth(0);
                long height = reader.getHeight(0);
                if (width <= 0 || height <= 0) {
                    throw new FormatException(name + ": the image is empty (" + width + " x " + height + ")");
                }
                if (width * height > MAX_PIXELS) {
                    throw new FormatException(name + ": the image is " + width + " x " + height + " pixels, more than the "
                            + MAX_PIXELS + " (8192 x 8192) decoded");
                }
                if (!pixels) {
                    return null;
                }
                image = reader.read(0);
            } finally {
                reader.dispose();
            }
        } catch (IOException | RuntimeException e) {
            if (e instanceof FormatException f) {
                throw f;
            }
            // ImageIO throws IIOException, and for some broken files IllegalArgumentException,
            // ArrayIndexOutOfBoundsException or NegativeArraySizeException: all of them mean
            // "this file cannot be decoded".
            throw new FormatException(name + ": cannot decode image: " + e.getMessage(), e);
        }
        if (image == null || image.getWidth() <= 0 || image.getHeight() <= 0) {
            throw new FormatException(name + ": the image is empty");
        }
        return image;
    }
}
