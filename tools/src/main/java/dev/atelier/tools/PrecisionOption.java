package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import java.util.Locale;
import picocli.CommandLine.Option;

/** {@code --precision fp32|bf16|fp16}, the compute precision of the Stable Diffusion networks (fp16 on CUDA). */
final class PrecisionOption {
    @Option(names = "--precision", defaultValue = "fp32", paramLabel = "fp32|bf16|fp16",
            description = "Compute precision; bf16 converts the weights once and keeps norms in F32; fp16 runs on "
                    + "--device cuda only. Default: ${DEFAULT-VALUE}.")
    String precision;

    /** The precision as a dtype; an unknown name is bad input. */
    DType dtype() {
        return switch (precision.toLowerCase(Locale.ROOT)) {
            case "fp32" -> DType.F32;
            case "bf16" -> DType.BF16;
            case "fp16" -> DType.F16;
            default -> throw new InvalidInputException("unknown --precision \"" + precision + "\" (known: fp32, bf16, fp16)");
        };
    }
}
