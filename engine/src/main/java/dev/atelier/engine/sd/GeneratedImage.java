package dev.atelier.engine.sd;

import java.nio.file.Path;

/**
 * One generated image.
 *
 * @param seed       the image's own seed
 * @param width      pixels
 * @param height     pixels
 * @param rgb        interleaved 8-bit RGB [height, width, 3]
 * @param parameters A1111's {@code parameters} text ("prompt\nNegative prompt: ...\nSteps: ...")
 */
public record GeneratedImage(long seed, int width, int height, byte[] rgb, String parameters) {
    /** Writes the PNG with the parameters chunk, atomically. */
    public void writePng(Path target) {
        PngFiles.write(target, rgb, width, height, "parameters", parameters);
    }
}
