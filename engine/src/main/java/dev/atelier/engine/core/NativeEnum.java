package dev.atelier.engine.core;

import dev.atelier.engine.util.EnumNames;
import java.util.List;
import java.util.Locale;

/**
 * A Java enum mirroring a C enum of {@code atelier.h}: each constant holds its C value, taken
 * from the generated bindings' constants.
 */
public interface NativeEnum {
    /** The C value. */
    int code();

    /**
     * The library's name for the value ({@code atl_*_name}): the constant's name in lower case,
     * unless the enum says otherwise.
     */
    default String nativeName() {
        return ((Enum<?>) this).name().toLowerCase(Locale.ROOT);
    }

    /**
     * The one of values whose {@link #nativeName()} is name, ignoring case and surrounding blanks;
     * anything else is bad input that names what ("op kernels") and lists the names
     * ({@link EnumNames#parse}).
     */
    static <E extends NativeEnum> E fromName(E[] values, String name, String what) {
        return EnumNames.parse(values, e -> List.of(e.nativeName()), name, what);
    }

    /** The {@link #nativeName()}s of values, comma-separated, for messages and help texts. */
    static String names(NativeEnum[] values) {
        return EnumNames.known(values, e -> List.of(e.nativeName()));
    }

    /**
     * The one of values whose {@link #code()} is code. Another value means the library and the
     * bindings disagree: IllegalArgumentException naming cType ("atl_dtype").
     */
    static <E extends NativeEnum> E fromCode(E[] values, int code, String cType) {
        for (E e : values) {
            if (e.code() == code) {
                return e;
            }
        }
        throw new IllegalArgumentException("unknown " + cType + " " + code);
    }
}
