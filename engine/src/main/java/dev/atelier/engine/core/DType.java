package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.*;

import java.util.Optional;

/**
 * Element types, with the codes of {@code atl_dtype} (from the bindings) and the names
 * safetensors and {@code atl_dtype_name} use (the constant's name).
 */
public enum DType implements NativeEnum {
    F64(ATL_DTYPE_F64(), 8), F32(ATL_DTYPE_F32(), 4), F16(ATL_DTYPE_F16(), 2), BF16(ATL_DTYPE_BF16(), 2),
    I64(ATL_DTYPE_I64(), 8), I32(ATL_DTYPE_I32(), 4), I16(ATL_DTYPE_I16(), 2), I8(ATL_DTYPE_I8(), 1),
    U8(ATL_DTYPE_U8(), 1), BOOL(ATL_DTYPE_BOOL(), 1);

    private final int code;
    private final int byteSize;

    DType(int code, int byteSize) {
        this.code = code;
        this.byteSize = byteSize;
    }

    /** The {@code atl_dtype} value. */
    @Override
    public int code() {
        return code;
    }

    /** The library names dtypes as safetensors does: the constant's name ({@code F32}). */
    @Override
    public String nativeName() {
        return name();
    }

    public int byteSize() {
        return byteSize;
    }

    /** The dtype named as in a safetensors header ("F32", "BF16", ...), if known. */
    public static Optional<DType> fromName(String name) {
        for (DType d : values()) {
            if (d.name().equals(name)) {
                return Optional.of(d);
            }
        }
        return Optional.empty();
    }

    public static DType fromCode(int code) {
        return NativeEnum.fromCode(values(), code, "atl_dtype");
    }
}
