package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.NativeEnum;
import dev.atelier.engine.util.EnumNames;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;

/**
 * The samplers ({@code atl_sampler}, codes from the bindings), named as A1111 users know them
 * ({@link #displayName()}, written into the PNG {@code parameters} chunk) and as the CLI and the
 * native library spell them ({@link #id()}, {@code atl_sampler_name}).
 */
public enum Sampler implements NativeEnum {
    DDIM(ATL_SAMPLER_DDIM(), "ddim", "DDIM"),
    EULER(ATL_SAMPLER_EULER(), "euler", "Euler"),
    EULER_A(ATL_SAMPLER_EULER_A(), "euler_a", "Euler a"),
    HEUN(ATL_SAMPLER_HEUN(), "heun", "Heun"),
    DPMPP_2M(ATL_SAMPLER_DPMPP_2M(), "dpmpp_2m", "DPM++ 2M"),
    DPMPP_2M_KARRAS(ATL_SAMPLER_DPMPP_2M_KARRAS(), "dpmpp_2m_karras", "DPM++ 2M Karras"),
    DPMPP_SDE_KARRAS(ATL_SAMPLER_DPMPP_SDE_KARRAS(), "dpmpp_sde_karras", "DPM++ SDE Karras");

    private final int code;
    private final String id;
    private final String displayName;

    Sampler(int code, String id, String displayName) {
        this.code = code;
        this.id = id;
        this.displayName = displayName;
    }

    /** The CLI / native name: {@code euler_a}. */
    public String id() {
        return id;
    }

    /** {@link #id()}, as {@code atl_sampler_name} spells it. */
    @Override
    public String nativeName() {
        return id;
    }

    /** The A1111 name: {@code Euler a}. */
    public String displayName() {
        return displayName;
    }

    /** The {@code atl_sampler} value. */
    @Override
    public int code() {
        return code;
    }

    /** The sampler with the given {@link #code()}. */
    public static Sampler fromCode(int code) {
        return NativeEnum.fromCode(values(), code, "atl_sampler");
    }

    /**
     * The sampler named name, by its id ({@code dpmpp_2m_karras}) or its A1111 name
     * ({@code DPM++ 2M Karras}), ignoring case; anything else is an InvalidInputException that
     * lists the known names.
     */
    public static Sampler fromName(String name) {
        // The message lists the ids only: each A1111 name is its id spelt for display.
        return EnumNames.find(values(), s -> List.of(s.id, s.displayName), name)
                .orElseThrow(() -> new InvalidInputException("unknown sampler \"" + name + "\"; known: " + ids()));
    }

    /** The ids, comma-separated, for help texts. */
    public static String ids() {
        return Arrays.stream(values()).map(Sampler::id).collect(Collectors.joining(", "));
    }
}
