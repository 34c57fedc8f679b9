package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.util.BoundedImageReader;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.Raster;
import java.nio.file.Path;

/**
 * Decodes PNG and JPEG files (anything javax.imageio reads) into 8-bit RGB, as PIL's
 * {@code Image.open(path).convert("RGB")} would give for the common cases:
 * <ul>
 *   <li>Grayscale becomes RGB by repeating the gray value (PIL "L" to "RGB").</li>
 *   <li>Samples are taken from the raster as stored, without colour management: Java's
 *       {@code getRGB} would push linear-gray images through a gamma curve that PIL does not
 *       apply. 16-bit samples keep their high byte (PIL's "RGB;16B" unpacking).</li>
 *   <li>Transparency is composited on white: {@code c' = round((c * a + 255 * (255 - a)) / 255)}.
 *       PIL's {@code convert("RGB")} would instead drop the alpha channel, revealing whatever
 *       colour the transparent pixels hold (often black); white matches how product photos on a
 *       transparent background are shown.</li>
 *   <li>CMYK (JPEG) becomes RGB as PIL converts it, without colour management:
 *       {@code r = (255 - k) - (c * (255 - k)) / 255} with PIL's rounded division by 255, and so
 *       for g (m) and b (y). The samples are those both readers give (Adobe-inverted files come
 *       back uninverted from each).</li>
 *   <li>EXIF orientation is not applied, as PIL does not apply it on open.</li>
 * </ul>
 * Every failure is a {@link FormatException} whose message names the file.
 */
public final class ImageDecoder {
    private ImageDecoder() {}

    /**
     * Decodes the first image of file, refusing one whose header declares more than
     * {@link BoundedImageReader#MAX_PIXELS} pixels before decoding it.
     */
    public static RgbImage decode(Path file) {
        return toRgb(BoundedImageReader.read(file), file);
    }

    /** image as 8-bit RGB (see the class comment for the rules). */
    static RgbImage toRgb(BufferedImage image, Path file) {
        int w = image.getWidth();
        int h = image.getHeight();
        Raster raster = image.getRaster();
        ColorModel cm = image.getColorModel();
        int transfer = raster.getTransferType();
        boolean raw = cm instanceof ComponentColorModel && !cm.isAlphaPremultiplied()
                && (transfer == DataBuffer.TYPE_BYTE || transfer == DataBuffer.TYPE_USHORT)
                && (cm.getNumColorComponents() == 1 || cm.getNumColorComponents() == 3)
                && raster.getNumBands() == cm.getNumComponents();
        byte[] rgb = new byte[w * h * 3];
        if (cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_CMYK && raster.getNumBands() == 4
                && transfer == DataBuffer.TYPE_BYTE) {
            int[] row = new int[w * 4];
            for (int y = 0; y < h; y++) {
                raster.getPixels(0, y, w, 1, row);
                for (int x = 0; x < w; x++) {
                    int nk = 255 - row[4 * x + 3];
                    put(rgb, (y * w + x) * 3, nk - mulDiv255(row[4 * x], nk), nk - mulDiv255(row[4 * x + 1], nk),
                            nk - mulDiv255(row[4 * x + 2], nk), 255);
                }
            }
        } else if (raw) {
            int shift = transfer == DataBuffer.TYPE_USHORT ? 8 : 0;
            int colours = cm.getNumColorComponents();
            boolean alpha = cm.hasAlpha();
            int[] row = new int[w * raster.getNumBands()];
            for (int y = 0; y < h; y++) {
                raster.getPixels(0, y, w, 1, row);
                for (int x = 0; x < w; x++) {
                    int p = x * raster.getNumBands();
                    int r = row[p] >> shift;
                    int g = colours == 3 ? row[p + 1] >> shift : r;
                    int b = colours == 3 ? row[p + 2] >> shift : r;
                    int a = alpha ? row[p + colours] >> shift : 255;
                    put(rgb, (y * w + x) * 3, r, g, b, a);
                }
            }
        } else {
            // Palette and packed images: their colour model maps samples to sRGB without
            // a colour-space conversion.
            if (cm.getColorSpace().getType() != java.awt.color.ColorSpace.TYPE_RGB
                    && cm.getColorSpace().getType() != java.awt.color.ColorSpace.TYPE_GRAY) {
                String space = cm.getColorSpace().getType() == java.awt.color.ColorSpace.TYPE_CMYK ? "CMYK"
                        : "colour space type " + cm.getColorSpace().getType();
                throw new FormatException(file + ": a " + space + " image; only RGB, grayscale and 8-bit CMYK images are "
                        + "read (convert it to RGB)");
            }
            int[] row = new int[w];
            for (int y = 0; y < h; y++) {
                image.getRGB(0, y, w, 1, row, 0, w);
                for (int x = 0; x < w; x++) {
                    int argb = row[x];
                    put(rgb, (y * w + x) * 3, (argb >> 16) & 0xff, (argb >> 8) & 0xff, argb & 0xff, argb >>> 24);
                }
            }
        }
        return new RgbImage(w, h, rgb);
    }

    private static void put(byte[] rgb, int at, int r, int g, int b, int a) {
        if (a != 255) {
            r = onWhite(r, a);
            g = onWhite(g, a);
            b = onWhite(b, a);
        }
        rgb[at] = (byte) r;
        rgb[at + 1] = (byte) g;
        rgb[at + 2] = (byte) b;
    }

    /** a * b / 255 rounded as PIL's MULDIV255 does it. */
    private static int mulDiv255(int a, int b) {
        int t = a * b + 128;
        return (t + (t >> 8)) >> 8;
    }

    /** Alpha compositing over white, rounded to nearest. */
    private static int onWhite(int c, int a) {
        return (c * a + 255 * (255 - a) + 127) / 255;
    }
}
