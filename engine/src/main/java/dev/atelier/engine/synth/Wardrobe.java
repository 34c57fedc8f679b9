package dev.atelier.engine.synth;

import dev.atelier.engine.util.SplitMix64;
import dev.atelier.engine.util.StagedDirectory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A person's wardrobe as a LoRA training folder: PNG photos of garments of different types in the
 * person's style ({@link Person#garment}), each with a kohya-style caption file beside it
 * ({@code 01_jacket.png}, {@code 01_jacket.txt} holding "jacket"). The captions name only the
 * type, so a LoRA trained on the folder learns the style, not the words.
 */
public final class Wardrobe {
    /** The most garments one wardrobe holds. */
    public static final int MAX_COUNT = 1000;

    private Wardrobe() {}

    /** Writes a wardrobe into dir (which must be missing or empty), atomically; returns the images written. */
    public static List<Path> write(Person person, Path dir, int count, int size, long seed) {
        return write(person, dir, count, size, seed, false);
    }

    /** As {@link #write(Person, Path, int, int, long)}; with `replace`, an existing dir is replaced. */
    public static List<Path> write(Person person, Path dir, int count, int size, long seed, boolean replace) {
        StyleDeck.checkCount("count", count, MAX_COUNT);
        GarmentRenderer.checkSize(size);
        GarmentType[] types = types(count, SplitMix64.stream(seed, person.name().hashCode()));
        List<String> names = new ArrayList<>();
        try (StagedDirectory staged = StagedDirectory.begin(dir, replace)) {
            for (int i = 0; i < count; i++) {
                names.add(String.format("%02d_%s", i + 1, types[i].word()));
            }
            StyleDeck.parallel(count, dir, i -> {
                GarmentSpec spec = person.garment(types[i], i);
                long garmentSeed = SplitMix64.stream(seed, ((long) person.name().hashCode() << 20) + i);
                RenderedGarment g = GarmentRenderer.render(spec, size, garmentSeed);
                ImageFiles.png(g.image(), staged.path().resolve(names.get(i) + ".png"));
                ImageFiles.text(staged.path().resolve(names.get(i) + ".txt"), types[i].word());
            });
            staged.commit();
        }
        Path absolute = dir.toAbsolutePath().normalize();
        return names.stream().map(n -> absolute.resolve(n + ".png")).toList();
    }

    /** A jacket first (the demo generates jackets), then every other type once in a seeded order, repeating. */
    static GarmentType[] types(int count, long seed) {
        List<GarmentType> others = new ArrayList<>(Arrays.asList(GarmentType.values()));
        others.remove(GarmentType.JACKET);
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = others.size() - 1; i > 0; i--) { // Fisher-Yates
            int j = r.nextInt(i + 1);
            others.set(i, others.set(j, others.get(i)));
        }
        others.addFirst(GarmentType.JACKET);
        GarmentType[] types = new GarmentType[count];
        for (int i = 0; i < count; i++) {
            types[i] = others.get(i % others.size());
        }
        return types;
    }
}
