package dev.atelier.engine.core;

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
