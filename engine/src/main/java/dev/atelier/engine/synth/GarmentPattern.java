package dev.atelier.engine.synth;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * How a garment's secondary colour is laid over its primary one. The repeats are large (a stripe
 * period is about a sixth of a shirt's width) so that they survive a 64 px image encoded by a
 * VAE that downsamples 8 times. {@link #word()} is the caption word.
 */
public enum GarmentPattern {
    /** The primary colour only; trims and buttons in the secondary. */
    PLAIN,
    /** Horizontal bands of the two colours. */
    STRIPED,
    /** Gingham: bands of the secondary both ways, solid where they cross. */
    CHECKED,
    /** Staggered dots of the secondary. */
    DOTTED,
    /** Sleeves, trims and the lower part of the body in the secondary colour. */
    COLORBLOCK;

    /** The caption word: "plain", "striped", ... */
    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The pattern named by its caption word, or an IllegalArgumentException listing the known words. */
    public static GarmentPattern fromWord(String word) {
        for (GarmentPattern p : values()) {
            if (p.word().equals(word)) {
                return p;
            }
        }
        throw new IllegalArgumentException("unknown pattern \"" + word + "\" (known: " + words() + ")");
    }

    /** The caption words, comma-separated. */
    public static String words() {
        return Arrays.stream(values()).map(GarmentPattern::word).collect(Collectors.joining(", "));
    }
}
