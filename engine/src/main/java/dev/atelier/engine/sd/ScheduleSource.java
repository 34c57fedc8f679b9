package dev.atelier.engine.sd;

import dev.atelier.engine.util.EnumNames;
import java.util.List;
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

    /** The source whose {@link #id()} is name ({@link EnumNames#parse}). */
    public static ScheduleSource fromName(String name) {
        return EnumNames.parse(values(), s -> List.of(s.id()), name, "schedule source");
    }
}
