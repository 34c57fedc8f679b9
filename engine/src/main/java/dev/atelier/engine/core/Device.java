package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.ATL_DEVICE_CPU;
import static dev.atelier.bindings.atelier_h.ATL_DEVICE_CUDA;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.util.Locale;
import java.util.Objects;

/**
 * Where a network's weights live and its forward runs ({@code atl_device} and its CUDA ordinal):
 * written {@code cpu}, {@code cuda} (ordinal 0) or {@code cuda:N}.
 *
 * @param kind  the kind of device
 * @param index the CUDA ordinal (0 on the CPU)
 */
public record Device(Kind kind, int index) {
    /** The CPU: the default everywhere. */
    public static final Device CPU = new Device(Kind.CPU, 0);

    /** Mirrors {@code atl_device}. */
    public enum Kind implements NativeEnum {
        CPU(ATL_DEVICE_CPU()),
        CUDA(ATL_DEVICE_CUDA());

        private final int code;

        Kind(int code) {
            this.code = code;
        }

        @Override
        public int code() {
            return code;
        }

        public static Kind fromCode(int code) {
            return NativeEnum.fromCode(values(), code, "atl_device");
        }
    }

    public Device {
        Objects.requireNonNull(kind, "kind");
        if (index < 0 || (kind == Kind.CPU && index != 0)) {
            throw new InvalidInputException("device: " + kind.nativeName() + " ordinal " + index
                    + " is invalid (cuda:N takes N >= 0; cpu has none)");
        }
    }

    /** "cpu", "cuda" or "cuda:N", ignoring case and surrounding blanks. */
    public static Device parse(String text) {
        String s = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
        if (s.equals("cpu")) {
            return CPU;
        }
        if (s.equals("cuda")) {
            return new Device(Kind.CUDA, 0);
        }
        if (s.startsWith("cuda:") && s.length() > 5 && s.length() <= 9 && s.substring(5).chars().allMatch(Character::isDigit)) {
            return new Device(Kind.CUDA, Integer.parseInt(s.substring(5)));
        }
        throw new InvalidInputException("unknown device \"" + text + "\"; known: cpu, cuda, cuda:N");
    }

    public boolean isCuda() {
        return kind == Kind.CUDA;
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + index;
    }
}
