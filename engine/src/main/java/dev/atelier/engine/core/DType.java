package dev.atelier.engine.core;

import java.util.Optional;

/** Element types, with the codes of {@code atl_dtype} and the names safetensors uses. */
public enum DType {
    F64(0, 8), F32(1, 4), F16(2, 2), BF16(3, 2), I64(4, 8), I32(5, 4), I16(6, 2), I8(7, 1), U8(8, 1), BOOL(9, 1);

    private final int code;
    private final int byteSize;

    DType(int code, int byteSize) {
        this.code = code;
        this.byteSize = byteSize;
    }

    /** The {@code atl_dtype} value. */
    public int code() {
        return code;
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
        for (DType d : values()) {
            if (d.code == code) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown atl_dtype " + code);
    }
}
