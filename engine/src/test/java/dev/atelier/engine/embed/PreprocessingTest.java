package dev.atelier.engine.embed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PreprocessingTest {
    private static final MobilenetFixture FIXTURE = new MobilenetFixture();

    @Test
    void matchesTorchvisionTransformsWithinTolerance() {
        ImageTransform t = ImagenetWeights.IMAGENET1K_V1.transform();
        for (int i = 0; i < FIXTURE.count(); i++) {
            float[] ours = t.apply(ImageDecoder.decode(FIXTURE.images.get(i)));
            float[] ref = MobilenetFixture.row(FIXTURE.input, i, MobilenetFixture.PIXELS);
            double err = MobilenetFixture.maxAbsDiff(ours, ref);
            System.out.printf("preprocess %s: max abs error %.3g (tolerance 2e-2)%n", FIXTURE.images.get(i).getFileName(), err);
            assertTrue(err <= 2e-2, FIXTURE.images.get(i) + ": max abs error " + err);
        }
    }

    @Test
    void parallelBatchEqualsOneByOne() {
        try (Preprocessor p = new Preprocessor(ImagenetWeights.IMAGENET1K_V1.transform(), 3)) {
            List<ImageInput> inputs = FIXTURE.images.stream().map(ImageInput::of).toList();
            float[] batch = p.preprocessAll(inputs);
            for (int i = 0; i < inputs.size(); i++) {
                assertArrayEquals(p.preprocess(inputs.get(i)), MobilenetFixture.row(batch, i, MobilenetFixture.PIXELS));
            }
        }
    }

    @Test
    void resizedSizeTruncatesTheLongSideAsTorchvision() {
        ImageTransform v1 = ImagenetWeights.IMAGENET1K_V1.transform();
        assertArrayEquals(new int[] {256, 341}, v1.resizedSize(300, 400)); // 256 * 400 / 300 = 341.33
        assertArrayEquals(new int[] {341, 256}, v1.resizedSize(640, 480));
        assertArrayEquals(new int[] {256, 640}, v1.resizedSize(200, 500));
        assertArrayEquals(new int[] {256, 256}, v1.resizedSize(224, 224));
        assertArrayEquals(new int[] {232, 309}, ImagenetWeights.IMAGENET1K_V2.transform().resizedSize(300, 400));
        assertEquals(ImagenetWeights.IMAGENET1K_V2, ImagenetWeights.fromName("v2"));
    }

    @Test
    void boundingBoxCropsBeforeResizing() {
        RgbImage image = ImageDecoder.decode(FIXTURE.images.get(2)); // 640x480
        BoundingBox box = new BoundingBox(100, 50, 400, 450);
        ImageTransform t = ImagenetWeights.IMAGENET1K_V1.transform();
        float[] viaBox = new float[t.outputSize()];
        t.apply(image, Optional.of(box), viaBox, 0);
        assertArrayEquals(t.apply(image.crop(box)), viaBox);
    }

    /**
     * CMYK JPEGs (one with Adobe's marker, written by PIL; one without, written by the JDK) decode
     * to the RGB that PIL 9.4's {@code Image.open(f).convert("RGB")} gave for them, byte for byte
     * (the .rgb files beside them).
     */
    @Test
    void cmykJpegsBecomeThePixelsPilGives() throws Exception {
        for (String name : List.of("adobe", "plain")) {
            Path jpg = Path.of(PreprocessingTest.class.getResource("cmyk/" + name + ".jpg").toURI());
            byte[] pil = Files.readAllBytes(jpg.resolveSibling(name + ".rgb"));
            RgbImage image = ImageDecoder.decode(jpg);
            assertEquals(pil.length, image.rgb().length, name);
            assertArrayEquals(pil, image.rgb(), name);
        }
    }

    @Test
    void transparentPixelsAreCompositedOnWhiteAndGrayIsRepeated(@TempDir Path dir) throws IOException {
        BufferedImage argb = new BufferedImage(2, 1, BufferedImage.TYPE_INT_ARGB);
        argb.setRGB(0, 0, 0x00000000); // fully transparent black
        argb.setRGB(1, 0, 0x80FF0000); // half-transparent red
        Path png = dir.resolve("alpha.png");
        ImageIO.write(argb, "png", png.toFile());
        RgbImage rgb = ImageDecoder.decode(png);
        assertEquals(255, rgb.get(0, 0, 0));
        assertEquals(255, rgb.get(0, 0, 2));
        assertEquals(255, rgb.get(1, 0, 0));
        assertEquals(127, rgb.get(1, 0, 1)); // (0 * 128 + 255 * 127 + 127) / 255
        BufferedImage gray = new BufferedImage(1, 1, BufferedImage.TYPE_BYTE_GRAY);
        gray.getRaster().setSample(0, 0, 0, 100);
        Path grayPng = dir.resolve("gray.png");
        ImageIO.write(gray, "png", grayPng.toFile());
        RgbImage g = ImageDecoder.decode(grayPng);
        assertEquals(100, g.get(0, 0, 0)); // raw value: no gamma conversion of linear gray
        assertEquals(100, g.get(0, 0, 1));
        assertEquals(100, g.get(0, 0, 2));
    }

    @Test
    void paletteImagesDecodeThroughTheirPalette(@TempDir Path dir) throws IOException {
        BufferedImage indexed = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_INDEXED);
        indexed.setRGB(0, 0, 0xFF3366CC);
        indexed.setRGB(1, 0, 0xFFFFFFFF);
        Path png = dir.resolve("palette.png");
        ImageIO.write(indexed, "png", png.toFile());
        RgbImage rgb = ImageDecoder.decode(png);
        int expected = indexed.getRGB(0, 0); // the palette's nearest colour
        assertEquals((expected >> 16) & 0xff, rgb.get(0, 0, 0));
        assertEquals((expected >> 8) & 0xff, rgb.get(0, 0, 1));
        assertEquals(expected & 0xff, rgb.get(0, 0, 2));
        assertEquals(255, rgb.get(1, 0, 1));
    }

    @Test
    void unreadableImagesNameTheFile(@TempDir Path dir) throws IOException {
        Path garbage = dir.resolve("broken.jpg");
        Files.write(garbage, new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF, 1, 2, 3});
        FormatException e = assertThrows(FormatException.class, () -> ImageDecoder.decode(garbage));
        assertTrue(e.getMessage().contains("broken.jpg"), e.getMessage());
        Path text = dir.resolve("notes.png");
        Files.writeString(text, "not an image");
        e = assertThrows(FormatException.class, () -> ImageDecoder.decode(text));
        assertTrue(e.getMessage().contains("notes.png") && e.getMessage().contains("not a readable image"), e.getMessage());
        Path missing = dir.resolve("missing.png");
        e = assertThrows(FormatException.class, () -> ImageDecoder.decode(missing));
        assertTrue(e.getMessage().contains("missing.png: no such file"), e.getMessage());
    }
}
