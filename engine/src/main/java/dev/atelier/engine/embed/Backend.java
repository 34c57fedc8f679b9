package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.util.Locale;

/** Where the embedding network runs. */
public enum Backend {
    /** libatelier's MobileNetV3 on libtorch. */
    TORCH,
    /** ONNX Runtime, on an .onnx file (exported by Atelier from the weights when needed). */
    ONNX;

    public static Backend fromName(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new InvalidInputException("unknown backend \"" + name + "\" (known: torch, onnx)");
        }
    }
}
