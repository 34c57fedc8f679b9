package dev.atelier.engine.embed;

import dev.atelier.engine.util.EnumNames;
import java.util.List;
import java.util.Locale;

/** Where the embedding network runs. */
public enum Backend {
    /** libatelier's MobileNetV3 on libtorch. */
    TORCH,
    /** ONNX Runtime, on an .onnx file (exported by Atelier from the weights when needed). */
    ONNX;

    /** The backend named name: "torch" or "onnx" ({@link EnumNames#parse}). */
    public static Backend fromName(String name) {
        return EnumNames.parse(values(), b -> List.of(b.name().toLowerCase(Locale.ROOT)), name, "backend");
    }
}
