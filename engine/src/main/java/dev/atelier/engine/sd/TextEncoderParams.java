package dev.atelier.engine.sd;

import dev.atelier.bindings.atl_text_encoder_params;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Device;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Settings of the CLIP text encoder, mirroring {@code atl_text_encoder_params}.
 *
 * <p>The architecture fields set to 0 are read from the weights' shapes; a non-zero value must
 * agree with them. The head count cannot be read from shapes.
 *
 * @param computeDtype  {@link DType#F32} or {@link DType#BF16} ({@link DType#F16} on CUDA)
 * @param numHeads      attention heads (12 for SD1.x)
 * @param vocabSize     token embedding rows (49408), 0 = infer
 * @param width         hidden size (768), 0 = infer
 * @param layers        transformer layers (12), 0 = infer
 * @param intermediate  MLP size (3072), 0 = infer
 * @param maxPositions  tokens per chunk (77), 0 = infer
 * @param kernels       which kernels run the network's operations ({@link OpKernel#AUTO})
 * @param device        where the weights live and the forward runs ({@link Device#CPU})
 */
public record TextEncoderParams(DType computeDtype, int numHeads, int vocabSize, int width, int layers,
        int intermediate, int maxPositions, OpKernel kernels, Device device) {

    public TextEncoderParams {
        Placement.check("text encoder", computeDtype, kernels, device);
    }

    /** SD1.x defaults: F32, 12 heads, the rest inferred from the weights, {@link OpKernel#AUTO}. */
    public static TextEncoderParams defaults() {
        return new TextEncoderParams(DType.F32, 12, 0, 0, 0, 0, 0, OpKernel.AUTO, Device.CPU);
    }

    public TextEncoderParams withComputeDtype(DType dtype) {
        return new TextEncoderParams(dtype, numHeads, vocabSize, width, layers, intermediate, maxPositions, kernels, device);
    }

    public TextEncoderParams withNumHeads(int heads) {
        return new TextEncoderParams(computeDtype, heads, vocabSize, width, layers, intermediate, maxPositions, kernels, device);
    }

    public TextEncoderParams withKernels(OpKernel k) {
        return new TextEncoderParams(computeDtype, numHeads, vocabSize, width, layers, intermediate, maxPositions, k, device);
    }

    /** The same settings on another device ({@code cpu}, {@code cuda:N}). */
    public TextEncoderParams withDevice(Device d) {
        return new TextEncoderParams(computeDtype, numHeads, vocabSize, width, layers, intermediate, maxPositions, kernels, d);
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
        atl_text_encoder_params.device(p, device.kind().code());
        atl_text_encoder_params.device_index(p, device.index());
        return p;
    }

    static TextEncoderParams fromNative(MemorySegment p) {
        return new TextEncoderParams(DType.fromCode(atl_text_encoder_params.compute_dtype(p)),
                atl_text_encoder_params.num_heads(p), atl_text_encoder_params.vocab_size(p),
                atl_text_encoder_params.width(p), atl_text_encoder_params.layers(p),
                atl_text_encoder_params.intermediate(p), atl_text_encoder_params.max_positions(p),
                OpKernel.fromCode(atl_text_encoder_params.kernels(p)),
                new Device(Device.Kind.fromCode(atl_text_encoder_params.device(p)), atl_text_encoder_params.device_index(p)));
    }
}
