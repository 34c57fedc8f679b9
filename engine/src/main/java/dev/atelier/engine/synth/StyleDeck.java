package dev.atelier.engine.synth;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.util.StagedDirectory;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * Garment styles spread evenly over every type x colour x pattern: each run of 495 consecutive
 * garments holds each combination once, in a seeded order; the secondary colour is any other
 * colour, at random. Also the checks and the parallel loop the data set writers share.
 */
final class StyleDeck {
    private StyleDeck() {}

    static GarmentSpec[] deal(int count, long seed) {
        GarmentType[] types = GarmentType.values();
        GarmentColour[] colours = GarmentColour.values();
        GarmentPattern[] patterns = GarmentPattern.values();
        int combos = types.length * colours.length * patterns.length;
        GarmentSpec[] specs = new GarmentSpec[count];
        int[] order = new int[combos];
        for (int start = 0; start < count; start += combos) {
            SplittableRandom shuffle = Seeds.random(seed, -1 - start / combos);
            for (int i = 0; i < combos; i++) {
                order[i] = i;
            }
            for (int i = combos - 1; i > 0; i--) { // Fisher-Yates
                int j = shuffle.nextInt(i + 1), t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            for (int k = 0; k < combos && start + k < count; k++) {
                int c = order[k];
                GarmentType type = types[c % types.length];
                GarmentColour colour = colours[(c / types.length) % colours.length];
                GarmentPattern pattern = patterns[c / (types.length * colours.length)];
                int other = Seeds.random(seed, start + k).nextInt(colours.length - 1);
                GarmentColour secondary = colours[other >= colour.ordinal() ? other + 1 : other];
                specs[start + k] = new GarmentSpec(type, colour, secondary, pattern);
            }
        }
        return specs;
    }

    static void checkCount(String what, int value, int max) {
        if (value < 1 || value > max) {
            throw new InvalidInputException(what + " must be between 1 and " + max + ", got " + value);
        }
    }

    /** Runs body(0..n-1) on all cores; an I/O error in any comes out as a FormatException naming `dir`. */
    static void parallel(int n, Path dir, IntConsumer body) {
        try {
            IntStream.range(0, n).parallel().forEach(body);
        } catch (UncheckedIOException e) {
            throw StagedDirectory.io(dir, e.getCause());
        }
    }
}
