package dev.atelier.engine.synth;

import java.awt.Color;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The named colours of the synthetic garments. {@link #word()} is the caption word, one
 * lower-case token of the CLIP vocabulary. The sRGB values are chosen to stay apart from each
 * other and from the light backgrounds.
 */
public enum GarmentColour {
    RED(196, 32, 38),
    BURGUNDY(112, 22, 44),
    PINK(232, 128, 164),
    MUSTARD(214, 162, 30),
    CREAM(238, 222, 180),
    OLIVE(104, 112, 40),
    GREEN(28, 128, 72),
    BLUE(44, 112, 204),
    NAVY(26, 36, 88),
    GREY(126, 128, 132),
    BLACK(30, 30, 34);

    private final Color rgb;

    GarmentColour(int r, int g, int b) {
        this.rgb = new Color(r, g, b);
    }

    /** The caption word: "burgundy", "navy", ... */
    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The sRGB colour the renderer starts from (it varies the shade a little per garment). */
    public Color rgb() {
        return rgb;
    }

    /** The colour named by its caption word, or an IllegalArgumentException listing the known words. */
    public static GarmentColour fromWord(String word) {
        for (GarmentColour c : values()) {
            if (c.word().equals(word)) {
                return c;
            }
        }
        throw new IllegalArgumentException("unknown colour \"" + word + "\" (known: " + words() + ")");
    }

    /** The caption words, comma-separated. */
    public static String words() {
        return Arrays.stream(values()).map(GarmentColour::word).collect(Collectors.joining(", "));
    }
}
