package dev.atelier.engine.sd;

import dev.atelier.bindings.atl_text_encoder_params;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Settings of the CLIP text encoder, mirroring {@code atl_text_encoder_params}.
 *
 * <p>The architecture fields set to 0 are read from the weights' shapes; a non-zero value must
 * agree with them. The head count cannot be read from shapes.
 *
 * @param computeDtype  {@link DType#F32} or {@link DType#BF16}
 * @param numHeads      attention heads (12 for SD1.x)
 * @param vocabSize     token embedding rows (49408), 0 = infer
 * @param width         hidden size (768), 0 = infer
 * @param layers        transformer layers (12), 0 = infer
 * @param intermediate  MLP size (3072), 0 = infer
 * @param maxPositions  tokens per chunk (77), 0 = infer
 * @param kernels       which kernels run the network's operations ({@link OpKernel#AUTO})
 */
public record TextEncoderParams(DType computeDtype, int numHeads, int vocabSize, int width, int layers,
        int intermediate, int maxPositions, OpKernel kernels) {

    public TextEncoderParams {
        if (computeDtype != DType.F32 && computeDtype != DType.BF16) {
            throw new InvalidInputException("text encoder: compute dtype must be F32 or BF16, got " + computeDtype);
        }
        java.util.Objects.requireNonNull(kernels, "kernels");
    }

    /** SD1.x defaults: F32, 12 heads, the rest inferred from the weights, {@link OpKernel#AUTO}. */
    public static TextEncoderParams defaults() {
        return new TextEncoderParams(DType.F32, 12, 0, 0, 0, 0, 0, OpKernel.AUTO);
    }

    public TextEncoderParams withComputeDtype(DType dtype) {
        return new TextEncoderParams(dtype, numHeads, vocabSize, width, layers, intermediate, maxPositions, kernels);
    }

    public TextEncoderParams withNumHeads(int heads) {
        return new TextEncoderParams(computeDtype, heads, vocabSize, width, layers, intermediate, maxPositions, kernels);
    }

    public TextEncoderParams withKernels(OpKernel k) {
        return new TextEncoderParams(computeDtype, numHeads, vocabSize, width, layers, intermediate, maxPositions, k);
    }

    MemorySegment toNative(Arena arena) {
        MemorySegment p = atl_text_encoder_params.allocate(arena);
        atl_text_encoder_params.compute_dtype(p, computeDtype.code());
        atl_text_encoder_params.num_heads(p, numHeads);
        atl_text_encoder_params.vocab_size(p, vocabSize);
        atl_text_encoder_params.width(p, width);
        atl_text_encoder_params.layers(p, layers);
        atl_text_encoder_params.intermediate(p, intermediate);
        atl_text_encoder_params.max_positions(p, maxPositions);
        atl_text_encoder_params.kernels(p, kernels.code());
        return p;
    }

    static TextEncoderParams fromNative(MemorySegment p) {
        return new TextEncoderParams(DType.fromCode(atl_text_encoder_params.compute_dtype(p)),
                atl_text_encoder_params.num_heads(p), atl_text_encoder_params.vocab_size(p),
                atl_text_encoder_params.width(p), atl_text_encoder_params.layers(p),
                atl_text_encoder_params.intermediate(p), atl_text_encoder_params.max_positions(p),
                OpKernel.fromCode(atl_text_encoder_params.kernels(p)));
    }
}
