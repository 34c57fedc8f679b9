package dev.atelier.engine.synth;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WardrobeTest {
    @TempDir
    Path dir;

    /** Mean sRGB of the garment pixels (those that differ clearly from the light grey background). */
    private static double[] meanGarmentColour(List<Path> images) throws IOException {
        double[] sum = new double[3];
        long n = 0;
        for (Path p : images) {
            BufferedImage image = ImageIO.read(p.toFile());
            for (int y = 0; y < image.getHeight(); y++) {
                for (int x = 0; x < image.getWidth(); x++) {
                    int rgb = image.getRGB(x, y), r = (rgb >> 16) & 255, g = (rgb >> 8) & 255, b = rgb & 255;
                    boolean background = Math.min(r, Math.min(g, b)) > 200 && Math.max(r, Math.max(g, b)) - Math.min(r, Math.min(g, b)) < 16;
                    if (!background) {
                        sum[0] += r;
                        sum[1] += g;
                        sum[2] += b;
                        n++;
                    }
                }
            }
        }
        return new double[] {sum[0] / n, sum[1] / n, sum[2] / n};
    }

    @Test
    void aWardrobeHasCaptionedGarmentsOfDifferentTypes() throws IOException {
        List<Path> images = Wardrobe.write(Person.ANA, dir.resolve("ana"), 10, 64, 7);
        assertEquals(10, images.size());
        Set<String> types = new HashSet<>();
        for (Path image : images) {
            assertTrue(Files.isRegularFile(image), image.toString());
            assertEquals(64, ImageIO.read(image.toFile()).getWidth());
            String name = image.getFileName().toString().replace(".png", "");
            String caption = Files.readString(image.resolveSibling(name + ".txt"));
            assertEquals(name.substring(name.indexOf('_') + 1), caption);
            GarmentType.fromWord(caption);
            types.add(caption);
        }
        assertEquals("01_jacket.png", images.getFirst().getFileName().toString());
        assertEquals(GarmentType.values().length, types.size(), "all types before any repeats: " + types);
        try (var files = Files.list(dir.resolve("ana"))) {
            assertEquals(20, files.count());
        }
        assertFalse(Files.exists(dir.resolve(".ana.partial")));
    }

    @Test
    void differentPeopleHaveMeasurablyDifferentColours() throws IOException {
        double[] ana = meanGarmentColour(Wardrobe.write(Person.ANA, dir.resolve("ana"), 10, 64, 1));
        double[] ben = meanGarmentColour(Wardrobe.write(Person.BEN, dir.resolve("ben"), 10, 64, 1));
        double distance = Math.sqrt(Math.pow(ana[0] - ben[0], 2) + Math.pow(ana[1] - ben[1], 2) + Math.pow(ana[2] - ben[2], 2));
        assertTrue(distance > 30, "mean colours " + java.util.Arrays.toString(ana) + " vs " + java.util.Arrays.toString(ben));
        // burgundy + cream leans red (over green); navy + mustard does not.
        assertTrue(ana[0] - ana[1] > ben[0] - ben[1] + 20, java.util.Arrays.toString(ana) + " vs " + java.util.Arrays.toString(ben));
    }

    @Test
    void theSameSeedWritesTheSameWardrobe() throws IOException {
        List<Path> a = Wardrobe.write(Person.BEN, dir.resolve("a"), 3, 64, 9);
        List<Path> b = Wardrobe.write(Person.BEN, dir.resolve("b"), 3, 64, 9);
        for (int i = 0; i < 3; i++) {
            BufferedImage x = ImageIO.read(a.get(i).toFile()), y = ImageIO.read(b.get(i).toFile());
            assertArrayEquals(x.getRGB(0, 0, 64, 64, null, 0, 64), y.getRGB(0, 0, 64, 64, null, 0, 64));
        }
    }

    @Test
    void mostGarmentsFollowThePersonsStyle() {
        int signature = 0;
        for (int i = 0; i < 10; i++) {
            GarmentSpec s = Person.CLEO.garment(GarmentType.SHIRT, i);
            assertTrue(s.colour() == GarmentColour.GREEN || s.colour() == GarmentColour.PINK, s.toString());
            signature += s.equals(new GarmentSpec(GarmentType.SHIRT, GarmentColour.GREEN, GarmentColour.PINK, GarmentPattern.DOTTED)) ? 1 : 0;
        }
        assertEquals(8, signature);
    }

    @Test
    void badArgumentsAreRejectedBeforeAnythingIsWritten() throws IOException {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Person.named("zoe"));
        assertEquals("unknown person \"zoe\" (known: ana, ben, cleo, dan)", e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> Wardrobe.write(Person.ANA, dir.resolve("w"), 0, 64, 1));
        assertEquals("count must be between 1 and 1000, got 0", e.getMessage());
        assertThrows(InvalidInputException.class, () -> Wardrobe.write(Person.ANA, dir.resolve("w"), 3, 4000, 1));
        assertFalse(Files.exists(dir.resolve("w")));

        Path full = Files.createDirectories(dir.resolve("full"));
        Files.writeString(full.resolve("keep.txt"), "mine");
        e = assertThrows(InvalidInputException.class, () -> Wardrobe.write(Person.ANA, full, 2, 64, 1));
        assertTrue(e.getMessage().endsWith("full already exists and is not empty; remove it or choose another output folder"), e.getMessage());
        assertEquals("mine", Files.readString(full.resolve("keep.txt")));

        Wardrobe.write(Person.ANA, full, 2, 64, 1, true);
        assertFalse(Files.exists(full.resolve("keep.txt")), "replaced");
        assertTrue(Files.exists(full.resolve("01_jacket.png")));
    }
}
