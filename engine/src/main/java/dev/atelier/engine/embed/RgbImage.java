package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException.InvalidInputException;

/**
 * An 8-bit RGB image, pixels interleaved row by row ({@code r, g, b, r, g, b, ...}), the form
 * PIL's "RGB" mode holds before torchvision's transforms.
 *
 * @param width  columns
 * @param height rows
 * @param rgb    {@code width * height * 3} bytes (read as unsigned)
 */
public record RgbImage(int width, int height, byte[] rgb) {
    public RgbImage {
        if (width <= 0 || height <= 0 || rgb.length != (long) width * height * 3) {
            throw new InvalidInputException("RgbImage: " + width + "x" + height + " needs " + (long) width * height * 3
                    + " bytes, got " + rgb.length);
        }
    }

    /** The channel c (0 red, 1 green, 2 blue) of pixel (x, y), 0..255. */
    public int get(int x, int y, int c) {
        return rgb[(y * width + x) * 3 + c] & 0xff;
    }

    /** The pixels inside box (as PIL's {@code Image.crop} with a box inside the image). */
    public RgbImage crop(BoundingBox box) {
        if (box.right() > width || box.bottom() > height) {
            throw new InvalidInputException("bounding box " + box + " extends past the " + width + "x" + height + " image");
        }
        int w = box.width();
        int h = box.height();
        byte[] out = new byte[w * h * 3];
        for (int y = 0; y < h; y++) {
            System.arraycopy(rgb, ((box.top() + y) * width + box.left()) * 3, out, y * w * 3, w * 3);
        }
        return new RgbImage(w, h, out);
    }
}
