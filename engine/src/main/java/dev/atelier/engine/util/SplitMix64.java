package dev.atelier.engine.util;

/**
 * SplitMix64 (Steele, Lea, Flood, OOPSLA 2014): a tiny, fully specified 64-bit generator, and its
 * finaliser as a hash for independent, reproducible seeds.
 */
public final class SplitMix64 {
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;

    private long state;

    public SplitMix64(long seed) {
        state = seed;
    }

    /** The next 64 random bits. */
    public long next() {
        state += GOLDEN_GAMMA;
        return mix(state);
    }

    /** SplitMix64's finaliser: every input bit affects every output bit. */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** The seed of stream {@code index} of {@code seed}: output {@code index + 1} of a generator seeded with {@code seed}. */
    public static long stream(long seed, long index) {
        return mix(seed + (index + 1) * GOLDEN_GAMMA);
    }
}
