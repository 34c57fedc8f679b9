package dev.atelier.engine.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.embed.ImageDecoder;
import dev.atelier.engine.train.TrainingImages;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Image files whose headers declare more pixels than {@link BoundedImageReader#MAX_PIXELS}: every
 * reader of user images (embedding, training, the report's thumbnails) goes through the one check,
 * which reads the header only. Without it, a PNG of a few kilobytes declaring 20,000 x 20,000 RGBA
 * pixels makes ImageIO allocate 1.6 GB before it finds the data missing.
 */
class BoundedImageReaderTest {
    @TempDir
    Path dir;

    /** A PNG whose IHDR declares width x height 8-bit RGBA and whose IDAT holds only its first row, all zero. */
    static byte[] pngHeaderBomb(int width, int height) {
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        png.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        chunk(png, "IHDR", ByteBuffer.allocate(13).putInt(width).putInt(height).put((byte) 8).put((byte) 6)
                .put((byte) 0).put((byte) 0).put((byte) 0).array());
        Deflater d = new Deflater();
        d.setInput(new byte[1 + 4 * Math.min(width, 1 << 16)]);
        d.finish();
        byte[] buf = new byte[1 << 16];
        int n = d.deflate(buf);
        d.end();
        chunk(png, "IDAT", java.util.Arrays.copyOf(buf, n));
        chunk(png, "IEND", new byte[0]);
        return png.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        out.writeBytes(ByteBuffer.allocate(4).putInt(data.length).array());
        out.writeBytes(t);
        out.writeBytes(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        out.writeBytes(ByteBuffer.allocate(4).putInt((int) crc.getValue()).array());
    }

    /** A real 16 x 8 JPEG whose SOF0 header is rewritten to declare width x height. */
    static byte[] jpegHeaderBomb(int width, int height) throws IOException {
        byte[] jpeg = jpeg(16, 8);
        for (int i = 2; i + 9 < jpeg.length; i++) {
            if ((jpeg[i] & 0xff) == 0xff && (jpeg[i + 1] & 0xff) == 0xc0) {
                ByteBuffer.wrap(jpeg, i + 5, 4).putShort((short) height).putShort((short) width);
                return jpeg;
            }
        }
        throw new AssertionError("no SOF0 marker");
    }

    static byte[] jpeg(int width, int height) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertTrue(ImageIO.write(new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB), "jpg", out));
        return out.toByteArray();
    }

    private Path write(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private static void refusedBeforeDecoding(FormatException e, Path file, String size) {
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains(size)
                && e.getMessage().contains("(8192 x 8192)"), e.getMessage());
    }

    @Test
    void aPngDeclaringMorePixelsThanTheLimitIsRefusedEverywhere() throws IOException {
        byte[] bomb = pngHeaderBomb(20_000, 20_000);
        assertTrue(bomb.length < 1000, "a few hundred bytes declaring 1.6 GB of pixels");
        Path file = write("bomb.png", bomb);
        refusedBeforeDecoding(assertThrows(FormatException.class, () -> BoundedImageReader.read(file)), file, "20000 x 20000");
        refusedBeforeDecoding(assertThrows(FormatException.class, () -> ImageDecoder.decode(file)), file, "20000 x 20000");
        refusedBeforeDecoding(assertThrows(FormatException.class, () -> BoundedImageReader.checkHeader(file)), file,
                "20000 x 20000");
        Path folder = Files.createDirectories(dir.resolve("photos"));
        Files.write(folder.resolve("bomb.png"), bomb);
        FormatException e = assertThrows(FormatException.class,
                () -> TrainingImages.load(folder, 64, false, Optional.of("a jacket")));
        refusedBeforeDecoding(e, folder.resolve("bomb.png"), "20000 x 20000");
        assertTrue(e.getMessage().startsWith("training image does not decode"), e.getMessage());
        // One pixel past the limit in one direction is refused too.
        Path wide = write("wide.png", pngHeaderBomb(8193, 8192));
        refusedBeforeDecoding(assertThrows(FormatException.class, () -> BoundedImageReader.read(wide)), wide, "8193 x 8192");
    }

    @Test
    void aJpegDeclaringMorePixelsThanTheLimitIsRefused() throws IOException {
        Path file = write("bomb.jpg", jpegHeaderBomb(60_000, 60_000));
        refusedBeforeDecoding(assertThrows(FormatException.class, () -> ImageDecoder.decode(file)), file, "60000 x 60000");
    }

    @Test
    void ordinaryImagesDecode() throws IOException {
        Path small = write("small.jpg", jpeg(40, 30));
        BoundedImageReader.checkHeader(small); // passes: nothing to refuse
        BufferedImage jpeg = BoundedImageReader.read(small);
        assertEquals(40, jpeg.getWidth());
        assertEquals(30, jpeg.getHeight());
        BufferedImage png = BoundedImageReader.read(jpeg(4, 3), "bytes");
        assertEquals(4, png.getWidth());
        Path notes = write("notes.png", "hello".getBytes(StandardCharsets.US_ASCII));
        FormatException e = assertThrows(FormatException.class, () -> BoundedImageReader.read(notes));
        assertTrue(e.getMessage().contains("notes.png") && e.getMessage().contains("not a readable image"), e.getMessage());
        e = assertThrows(FormatException.class, () -> BoundedImageReader.checkHeader(notes));
        assertTrue(e.getMessage().contains("notes.png") && e.getMessage().contains("not a readable image"), e.getMessage());
    }
}
