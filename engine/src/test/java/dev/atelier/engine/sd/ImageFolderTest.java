package dev.atelier.engine.sd;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A1111's numbering: images never overwrite what is in the folder. */
class ImageFolderTest {
    @TempDir
    Path dir;

    private static GeneratedImage image(long seed) {
        return new GeneratedImage(seed, 8, 8, new byte[8 * 8 * 3], "a jacket\nSteps: 1, Seed: " + seed);
    }

    private List<String> names() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void numbersFollowTheHighestInTheFolder() throws IOException {
        Files.writeString(dir.resolve("00000-1.png"), "earlier run");
        Files.writeString(dir.resolve("00011-3.png"), "earlier run");
        Files.writeString(dir.resolve("notes.txt"), "");
        ImageFolder folder = ImageFolder.open(dir);
        Path a = folder.write(image(42));
        Path b = folder.write(image(43));
        assertEquals("00012-42.png", a.getFileName().toString());
        assertEquals("00013-43.png", b.getFileName().toString());
        assertEquals("earlier run", Files.readString(dir.resolve("00000-1.png")));
        BufferedImage png = ImageIO.read(a.toFile());
        assertEquals(8, png.getWidth());
        assertEquals(List.of("00000-1.png", "00011-3.png", "00012-42.png", "00013-43.png", "notes.txt"), names());
    }

    @Test
    void anEmptyFolderStartsAtZeroAndAFileAppearingUnderANumberIsSkipped() throws IOException {
        ImageFolder folder = ImageFolder.open(dir.resolve("new"));
        assertEquals("00000-5.png", folder.write(image(5)).getFileName().toString());
        Files.writeString(dir.resolve("new/00001-6.png"), "another process's");
        assertEquals("00002-6.png", folder.write(image(6)).getFileName().toString());
        assertEquals("another process's", Files.readString(dir.resolve("new/00001-6.png")));
    }

    @Test
    void theOutputMustBeAWritableFolderAndStaleTemporaryFilesGo() throws IOException {
        Path file = Files.writeString(dir.resolve("out.png"), "");
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> ImageFolder.open(file));
        assertTrue(e.getMessage().contains("out.png") && e.getMessage().contains("is a file"), e.getMessage());
        assertThrows(InvalidInputException.class, () -> ImageFolder.open(file.resolve("sub")));

        Path out = Files.createDirectories(dir.resolve("out"));
        Files.writeString(out.resolve(".00004-9.png.0123456789abcdef.tmp"), "killed while writing");
        ImageFolder.open(out);
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(0, s.count(), "no temporary file left from the killed run");
        }
        assertEquals(0, ImageFolder.open(out).write(image(1)).getFileName().toString().indexOf("00000-"));
    }

    @Test
    void numbersAreReadAsA1111ReadsThem() {
        assertEquals(12, ImageFolder.number("00012-42.png"));
        assertEquals(7, ImageFolder.number("7.png"));
        assertEquals(123456, ImageFolder.number("123456-1-extra.png"));
        assertEquals(-1, ImageFolder.number("atelier-00000-1.png"));
        assertEquals(-1, ImageFolder.number(".00012-42.png.0123456789abcdef.tmp"));
        assertEquals(-1, ImageFolder.number("notes.txt"));
    }
}
