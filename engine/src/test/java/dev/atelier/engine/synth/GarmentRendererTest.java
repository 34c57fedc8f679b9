package dev.atelier.engine.synth;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.embed.BoundingBox;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.awt.image.BufferedImage;
import org.junit.jupiter.api.Test;

class GarmentRendererTest {
    private static int[] pixels(BufferedImage image) {
        return image.getRGB(0, 0, image.getWidth(), image.getHeight(), null, 0, image.getWidth());
    }

    @Test
    void theSameSeedGivesTheSamePixels() {
        GarmentSpec spec = new GarmentSpec(GarmentType.JACKET, GarmentColour.BURGUNDY, GarmentColour.CREAM, GarmentPattern.STRIPED);
        for (GarmentRenderer.View view : GarmentRenderer.View.values()) {
            BufferedImage a = GarmentRenderer.render(spec, 64, 42, view).image();
            BufferedImage b = GarmentRenderer.render(spec, 64, 42, view).image();
            assertArrayEquals(pixels(a), pixels(b), view.name());
        }
        assertFalse(java.util.Arrays.equals(pixels(GarmentRenderer.render(spec, 64, 42).image()),
                pixels(GarmentRenderer.render(spec, 64, 43).image())), "another seed draws another garment");
        assertFalse(java.util.Arrays.equals(pixels(GarmentRenderer.render(spec, 64, 42).image()),
                pixels(GarmentRenderer.render(spec, 64, 42, GarmentRenderer.View.SIDE).image())), "the side view differs");
    }

    @Test
    void everyTypeFillsMostOfALightFrame() {
        int seed = 0;
        for (GarmentType type : GarmentType.values()) {
            for (int size : new int[] {64, 128}) {
                GarmentSpec spec = new GarmentSpec(type, GarmentColour.NAVY, GarmentColour.MUSTARD, GarmentPattern.values()[seed % 5]);
                RenderedGarment g = GarmentRenderer.render(spec, size, seed++);
                BufferedImage image = g.image();
                assertEquals(size, image.getWidth());
                assertEquals(size, image.getHeight());
                assertEquals(BufferedImage.TYPE_INT_RGB, image.getType());
                BoundingBox b = g.box();
                double extent = Math.max(b.right() - b.left(), b.bottom() - b.top()) / (double) size;
                assertTrue(extent > 0.68 && extent < 0.88, type + " at " + size + ": extent " + extent);
                double cx = (b.left() + b.right()) / 2.0 / size, cy = (b.top() + b.bottom()) / 2.0 / size;
                assertTrue(Math.abs(cx - 0.5) < 0.06 && Math.abs(cy - 0.5) < 0.06, type + ": centre " + cx + "," + cy);
                // Corners are background: light and nearly grey.
                for (int[] c : new int[][] {{1, 1}, {size - 2, 1}, {1, size - 2}, {size - 2, size - 2}}) {
                    int p = image.getRGB(c[0], c[1]), r = (p >> 16) & 255, gg = (p >> 8) & 255, bb = p & 255;
                    assertTrue(Math.min(r, Math.min(gg, bb)) > 200 && Math.abs(r - bb) < 20, type + ": corner " + Integer.toHexString(p));
                }
                // The garment is there: a dark navy takes a good part of the box.
                int navy = 0, area = 0;
                for (int y = b.top(); y <= b.bottom(); y++) {
                    for (int x = b.left(); x <= b.right(); x++, area++) {
                        int p = image.getRGB(x, y);
                        if (((p >> 16) & 255) < 90 && (p & 255) > ((p >> 16) & 255) + 15) {
                            navy++;
                        }
                    }
                }
                assertTrue(navy > area / 10, type + ": " + navy + " navy pixels of " + area);
            }
        }
    }

    @Test
    void sizeOutOfRangeIsRejected() {
        GarmentSpec spec = new GarmentSpec(GarmentType.SKIRT, GarmentColour.RED, GarmentColour.BLACK, GarmentPattern.PLAIN);
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> GarmentRenderer.render(spec, 8, 1));
        assertEquals("image size must be between 32 and 1024 pixels, got 8", e.getMessage());
    }

    @Test
    void captionsAreColourPatternType() {
        assertEquals("navy checked tshirt",
                new GarmentSpec(GarmentType.TSHIRT, GarmentColour.NAVY, GarmentColour.RED, GarmentPattern.CHECKED).caption());
        assertEquals(GarmentType.HOODIE, GarmentType.fromWord("hoodie"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GarmentColour.fromWord("teal"));
        assertTrue(e.getMessage().startsWith("unknown colour \"teal\" (known: red, burgundy"), e.getMessage());
    }

    @Test
    void stylesAreDealtEvenly() {
        int combos = GarmentType.values().length * GarmentColour.values().length * GarmentPattern.values().length;
        GarmentSpec[] specs = StyleDeck.deal(2 * combos, 5);
        java.util.Map<String, Integer> seen = new java.util.HashMap<>();
        for (GarmentSpec s : specs) {
            assertNotEquals(s.colour(), s.secondary(), s.toString());
            seen.merge(s.caption(), 1, Integer::sum);
        }
        assertEquals(combos, seen.size());
        assertTrue(seen.values().stream().allMatch(n -> n == 2), seen.toString());
        assertArrayEquals(specs, StyleDeck.deal(2 * combos, 5));
    }
}
