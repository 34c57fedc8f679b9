package dev.atelier.engine.util;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.testing.FuzzSeeds;
import java.awt.image.BufferedImage;
import java.awt.image.IndexColorModel;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.Map;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes image decoding ({@link BoundedImageReader}, which every reader of user images goes
 * through): any bytes either decode to an image within the pixel limit or fail with a
 * {@link FormatException}; anything else (ImageIO's unchecked exceptions, an error, a hang) is a
 * finding.
 *
 * <p>In the normal test run Jazzer runs each seed of
 * {@code src/test/resources/dev/atelier/engine/util/ImageFuzzTestInputs/decode/} once (tiny PNG,
 * JPEG, GIF and BMP files made by {@link #seeds()}; {@link #committedSeedsAreGenerated()} keeps
 * them so). A longer, coverage-guided run; the decoders are the JDK's, which Jazzer instruments
 * only when told (without it the fuzzer sees 29 edges, with it some 1,400 after a minute):
 *
 * <pre>JAZZER_FUZZ=1 JAZZER_MAX_DURATION=10m \
 *     JAZZER_INSTRUMENTATION_INCLUDES='com.sun.imageio.**:javax.imageio.**:dev.atelier.**' \
 *     mvn -pl engine -am test -Dtest='ImageFuzzTest#decode' -Dsurefire.failIfNoSpecifiedTests=false</pre>
 *
 * A crashing input is written to {@code engine/crash-*}: copy it into the inputs folder and fix
 * the reader.
 */
class ImageFuzzTest {
    @FuzzTest(maxDuration = "60s")
    void decode(byte[] bytes) {
        try {
            BufferedImage image = BoundedImageReader.read(bytes, "fuzz");
            if ((long) image.getWidth() * image.getHeight() > BoundedImageReader.MAX_PIXELS) {
                throw new AssertionError("decoded " + image.getWidth() + " x " + image.getHeight() + " past the limit");
            }
        } catch (FormatException expected) {
            // the one way a bad file may fail
        }
    }

    private static byte[] encode(BufferedImage image, String format) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (!ImageIO.write(image, format, out)) {
            throw new IOException("no " + format + " writer");
        }
        return out.toByteArray();
    }

    private static BufferedImage pattern(int w, int h, int type) {
        BufferedImage image = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                image.setRGB(x, y, 0x80000000 | (x * 60) << 16 | (y * 80) << 8 | (x + y) * 30);
            }
        }
        return image;
    }

    static Map<String, byte[]> seeds() throws IOException {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("rgb.png", encode(pattern(4, 3, BufferedImage.TYPE_INT_RGB), "png"));
        s.put("rgba.png", encode(pattern(2, 2, BufferedImage.TYPE_INT_ARGB), "png"));
        s.put("gray.png", encode(pattern(3, 2, BufferedImage.TYPE_BYTE_GRAY), "png"));
        s.put("gray16.png", encode(pattern(2, 2, BufferedImage.TYPE_USHORT_GRAY), "png"));
        IndexColorModel palette = new IndexColorModel(2, 4, new byte[] {0, (byte) 255, 0, 0},
                new byte[] {0, 0, (byte) 255, 0}, new byte[] {0, 0, 0, (byte) 255});
        s.put("palette.png", encode(new BufferedImage(3, 3, BufferedImage.TYPE_BYTE_INDEXED, palette), "png"));
        s.put("rgb.jpg", encode(pattern(8, 8, BufferedImage.TYPE_INT_RGB), "jpg"));
        s.put("gray.jpg", encode(pattern(8, 8, BufferedImage.TYPE_BYTE_GRAY), "jpg"));
        s.put("image.gif", encode(pattern(3, 3, BufferedImage.TYPE_INT_RGB), "gif"));
        s.put("image.bmp", encode(pattern(3, 2, BufferedImage.TYPE_INT_RGB), "bmp"));
        return s;
    }

    @Test
    void committedSeedsAreGenerated() throws IOException {
        FuzzSeeds.check(ImageFuzzTest.class, "decode", seeds());
    }
}
