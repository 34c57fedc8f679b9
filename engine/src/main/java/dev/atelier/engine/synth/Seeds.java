package dev.atelier.engine.synth;

import java.util.SplittableRandom;

/** Independent random streams addressed by (seed, index), so parallel writers stay deterministic. */
final class Seeds {
    private Seeds() {}

    /** A well-mixed seed for stream `index` of `seed` (SplitMix64's finaliser, Steele et al. 2014). */
    static long mix(long seed, long index) {
        long z = seed + (index + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    static SplittableRandom random(long seed, long index) {
        return new SplittableRandom(mix(seed, index));
    }
}
