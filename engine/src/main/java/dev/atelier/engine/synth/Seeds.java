package dev.atelier.engine.synth;

import dev.atelier.engine.util.SplitMix64;
import java.util.SplittableRandom;

/** Independent random streams addressed by (seed, index), so parallel writers stay deterministic. */
final class Seeds {
    private Seeds() {}

    static SplittableRandom random(long seed, long index) {
        return new SplittableRandom(SplitMix64.stream(seed, index));
    }
}
