package dev.atelier.engine.sd;

import java.util.Locale;

/** A1111's generation-parameters text ("infotext"), stored in the PNG {@code parameters} chunk. */
public final class Infotext {
    private Infotext() {}

    /**
     * "prompt\nNegative prompt: neg\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512,
     * Model hash: 0123456789, Model: name[, Clip skip: 2][, Schedule source: checkpoint]"; the negative
     * line only when there is one, settings at their default left out (A1111 processing.py
     * create_infotext).
     */
    public static String of(GenerationRequest r, long seed, String modelHash, String modelName, ScheduleSource schedule) {
        StringBuilder sb = new StringBuilder(r.prompt());
        if (!r.negative().isEmpty()) {
            sb.append("\nNegative prompt: ").append(r.negative());
        }
        sb.append("\nSteps: ").append(r.steps());
        sb.append(", Sampler: ").append(r.sampler().displayName());
        sb.append(", CFG scale: ").append(number(r.cfg()));
        sb.append(", Seed: ").append(seed);
        sb.append(", Size: ").append(r.width()).append('x').append(r.height());
        if (modelHash != null) {
            sb.append(", Model hash: ").append(modelHash);
        }
        if (modelName != null) {
            sb.append(", Model: ").append(modelName);
        }
        if (r.eta() >= 0) {
            sb.append(", Eta: ").append(number(r.eta()));
        }
        if (r.clipSkip() > 1) {
            sb.append(", Clip skip: ").append(r.clipSkip());
        }
        if (schedule != ScheduleSource.CONFIG) {
            sb.append(", Schedule source: ").append(schedule.id());
        }
        return sb.toString();
    }

    /** 7 -> "7", 7.5 -> "7.5". */
    static String number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%s", v);
    }
}
