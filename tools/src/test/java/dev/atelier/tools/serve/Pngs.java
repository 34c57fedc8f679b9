package dev.atelier.tools.serve;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import javax.imageio.ImageIO;

/** Decoding the base64 PNGs of a txt2img answer: pixels, and the text of a tEXt chunk. */
final class Pngs {
    private Pngs() {}

    static byte[] bytes(String base64) {
        return Base64.getDecoder().decode(base64);
    }

    static BufferedImage image(byte[] png) {
        try {
            BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
            if (image == null) {
                throw new IllegalStateException("not an image ImageIO reads");
            }
            return image;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The text of the tEXt chunk with keyword, or null. */
    static String text(byte[] png, String keyword) {
        ByteBuffer b = ByteBuffer.wrap(png);
        b.position(8); // the signature
        while (b.remaining() >= 12) {
            int length = b.getInt();
            byte[] type = new byte[4];
            b.get(type);
            byte[] data = new byte[length];
            b.get(data);
            b.getInt(); // CRC
            if (new String(type, StandardCharsets.ISO_8859_1).equals("tEXt")) {
                String s = new String(data, StandardCharsets.ISO_8859_1);
                int nul = s.indexOf('\0');
                if (s.substring(0, nul).equals(keyword)) {
                    return s.substring(nul + 1);
                }
            }
        }
        return null;
    }

    /** The largest difference of one 8-bit channel between a and b (same size). */
    static int maxDifference(BufferedImage a, BufferedImage b) {
        int worst = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                int p = a.getRGB(x, y), q = b.getRGB(x, y);
                for (int shift = 0; shift < 24; shift += 8) {
                    worst = Math.max(worst, Math.abs(((p >> shift) & 0xff) - ((q >> shift) & 0xff)));
                }
            }
        }
        return worst;
    }
}
