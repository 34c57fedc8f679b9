package dev.atelier.engine.train;

import dev.atelier.engine.util.EnumNames;
import java.util.List;
import java.util.Locale;

/**
 * Learning-rate schedules with linear warm-up, as diffusers' {@code optimization.py}
 * ({@code get_constant_schedule_with_warmup}, {@code get_cosine_schedule_with_warmup} with half a
 * cycle, {@code get_linear_schedule_with_warmup}), which kohya's sd-scripts uses.
 */
public enum LrSchedule {
    CONSTANT, COSINE, LINEAR;

    /** The schedule whose {@link #displayName()} is name: "constant", "cosine" or "linear" ({@link EnumNames#parse}). */
    public static LrSchedule fromName(String name) {
        return EnumNames.parse(values(), s -> List.of(s.displayName()), name, "learning-rate schedule");
    }

    public String displayName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The multiplier of the base learning rate for the update at 0-based index step (diffusers
     * evaluates its lambda at the scheduler's step count before each optimizer step).
     *
     * @param step   0-based index of the update
     * @param total  number of updates of the run
     * @param warmup warm-up updates (linear from 0)
     */
    public double factor(long step, long total, long warmup) {
        if (step < warmup) {
            return (double) step / Math.max(1, warmup);
        }
        double progress = (double) (step - warmup) / Math.max(1, total - warmup);
        return switch (this) {
            case CONSTANT -> 1.0;
            // diffusers: 0.5 * (1 + cos(pi * 2 * num_cycles * progress)), num_cycles = 0.5
            case COSINE -> Math.max(0.0, 0.5 * (1.0 + Math.cos(Math.PI * progress)));
            // diffusers: (total - step) / (total - warmup), not below 0
            case LINEAR -> Math.max(0.0, (double) (total - step) / Math.max(1, total - warmup));
        };
    }
}
