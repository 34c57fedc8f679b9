package dev.atelier.engine.sd;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.util.Locale;

/**
 * Where generation takes the noise schedule ({@code alphas_cumprod}) from. Recorded in the PNG
 * {@code parameters} chunk when it is not the default.
 */
public enum ScheduleSource {
    /**
     * Computed from the model config's betas in double precision ({@link Sampling#alphasCumprod}),
     * as CompVis, k-diffusion, diffusers and ComfyUI do; training uses the same schedule. The default.
     */
    CONFIG,
    /**
     * The {@code alphas_cumprod} tensor stored in the checkpoint, as A1111 samples with it: pruned
     * fp16 checkpoints store it rounded to fp16, which moves the sigmas and so the images.
     */
    CHECKPOINT;

    /** The CLI's and the infotext's name: "config", "checkpoint". */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The source named name, ignoring case; anything else lists the names. */
    public static ScheduleSource fromName(String name) {
        for (ScheduleSource s : values()) {
            if (name != null && s.id().equalsIgnoreCase(name.trim())) {
                return s;
            }
        }
        throw new InvalidInputException("unknown schedule source \"" + name + "\"; known: config, checkpoint");
    }
}
