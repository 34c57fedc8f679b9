package dev.atelier.engine.sd;

import dev.atelier.bindings.atelier_h;
import dev.atelier.bindings.atl_unet_params;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Device;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Settings of the UNet, mirroring {@code atl_unet_params} (LDM {@code unet_config.params}).
 *
 * <p>Architecture fields set to 0 (and an empty {@code channelMult}) are read from the weights'
 * shapes; non-zero values must agree with them. Head counts cannot be read from shapes.
 *
 * @param computeDtype     {@link DType#F32} or {@link DType#BF16} ({@link DType#F16} on CUDA)
 * @param numHeads         heads per attention layer when {@code numHeadChannels <= 0} (8 for SD1.x)
 * @param numHeadChannels  channels per head (> 0) instead of a fixed head count; -1 = use numHeads
 * @param inChannels       latent channels in (4), 0 = infer
 * @param outChannels      channels out (4), 0 = infer
 * @param modelChannels    base width (320), 0 = infer
 * @param numResBlocks     ResBlocks per level (2), 0 = infer
 * @param contextDim       cross-attention context width (768), 0 = infer
 * @param transformerDepth transformer blocks per SpatialTransformer (1), 0 = infer
 * @param channelMult      width multiplier per level ({1, 2, 4, 4}); empty = infer this and attentionLevels
 * @param attentionLevels  per level, whether it has attention ({true, true, true, false}); LDM's
 *                         attention_resolutions 4, 2, 1 are the levels with downsampling factor 4, 2, 1
 * @param kernels          which kernels run the network's operations ({@link OpKernel#AUTO})
 * @param device           where the weights live and the forward runs ({@link Device#CPU})
 */
public record UNetParams(DType computeDtype, int numHeads, int numHeadChannels, int inChannels, int outChannels,
        int modelChannels, int numResBlocks, int contextDim, int transformerDepth, int[] channelMult,
        boolean[] attentionLevels, OpKernel kernels, Device device) {

    public UNetParams {
        Placement.check("unet", computeDtype, kernels, device);
        int max = atelier_h.ATL_SD_MAX_LEVELS();
        if (channelMult.length != attentionLevels.length || channelMult.length > max) {
            throw new InvalidInputException("unet: channelMult and attentionLevels must have the same length, at most "
                    + max);
        }
        channelMult = channelMult.clone();
        attentionLevels = attentionLevels.clone();
    }

    /** SD1.x defaults: F32, 8 heads, the architecture inferred from the weights, {@link OpKernel#AUTO}. */
    public static UNetParams defaults() {
        return new UNetParams(DType.F32, 8, -1, 0, 0, 0, 0, 0, 0, new int[0], new boolean[0], OpKernel.AUTO, Device.CPU);
    }

    public UNetParams withComputeDtype(DType dtype) {
        return new UNetParams(dtype, numHeads, numHeadChannels, inChannels, outChannels, modelChannels, numResBlocks,
                contextDim, transformerDepth, channelMult, attentionLevels, kernels, device);
    }

    /** Heads as in LDM: a fixed count (numHeadChannels -1), or channels per head (numHeads ignored). */
    public UNetParams withHeads(int heads, int headChannels) {
        return new UNetParams(computeDtype, heads, headChannels, inChannels, outChannels, modelChannels, numResBlocks,
                contextDim, transformerDepth, channelMult, attentionLevels, kernels, device);
    }

    public UNetParams withKernels(OpKernel k) {
        return new UNetParams(computeDtype, numHeads, numHeadChannels, inChannels, outChannels, modelChannels,
                numResBlocks, contextDim, transformerDepth, channelMult, attentionLevels, k, device);
    }

    /** The same settings on another device ({@code cpu}, {@code cuda:N}). */
    public UNetParams withDevice(Device d) {
        return new UNetParams(computeDtype, numHeads, numHeadChannels, inChannels, outChannels, modelChannels,
                numResBlocks, contextDim, transformerDepth, channelMult, attentionLevels, kernels, d);
    }

    /** Number of resolution levels; 0 when left to inference. */
    public int numLevels() {
        return channelMult.length;
    }

    @Override
    public int[] channelMult() {
        return channelMult.clone();
    }

    @Override
    public boolean[] attentionLevels() {
        return attentionLevels.clone();
    }

    MemorySegment toNative(Arena arena) {
        MemorySegment p = atl_unet_params.allocate(arena);
        atl_unet_params.compute_dtype(p, computeDtype.code());
        atl_unet_params.num_heads(p, numHeads);
        atl_unet_params.num_head_channels(p, numHeadChannels);
        atl_unet_params.in_channels(p, inChannels);
        atl_unet_params.out_channels(p, outChannels);
        atl_unet_params.model_channels(p, modelChannels);
        atl_unet_params.num_res_blocks(p, numResBlocks);
        atl_unet_params.context_dim(p, contextDim);
        atl_unet_params.transformer_depth(p, transformerDepth);
        atl_unet_params.num_levels(p, channelMult.length);
        for (int i = 0; i < channelMult.length; i++) {
            atl_unet_params.channel_mult(p, i, channelMult[i]);
            atl_unet_params.attention_levels(p, i, attentionLevels[i] ? 1 : 0);
        }
        atl_unet_params.kernels(p, kernels.code());
        atl_unet_params.device(p, device.kind().code());
        atl_unet_params.device_index(p, device.index());
        return p;
    }

    static UNetParams fromNative(MemorySegment p) {
        int levels = atl_unet_params.num_levels(p);
        int[] mult = new int[levels];
        boolean[] attn = new boolean[levels];
        for (int i = 0; i < levels; i++) {
            mult[i] = atl_unet_params.channel_mult(p, i);
            attn[i] = atl_unet_params.attention_levels(p, i) != 0;
        }
        return new UNetParams(DType.fromCode(atl_unet_params.compute_dtype(p)), atl_unet_params.num_heads(p),
                atl_unet_params.num_head_channels(p), atl_unet_params.in_channels(p), atl_unet_params.out_channels(p),
                atl_unet_params.model_channels(p), atl_unet_params.num_res_blocks(p), atl_unet_params.context_dim(p),
                atl_unet_params.transformer_depth(p), mult, attn, OpKernel.fromCode(atl_unet_params.kernels(p)),
                new Device(Device.Kind.fromCode(atl_unet_params.device(p)), atl_unet_params.device_index(p)));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof UNetParams u && computeDtype == u.computeDtype && numHeads == u.numHeads
                && numHeadChannels == u.numHeadChannels && inChannels == u.inChannels && outChannels == u.outChannels
                && modelChannels == u.modelChannels && numResBlocks == u.numResBlocks && contextDim == u.contextDim
                && transformerDepth == u.transformerDepth && Arrays.equals(channelMult, u.channelMult)
                && Arrays.equals(attentionLevels, u.attentionLevels) && kernels == u.kernels && device.equals(u.device);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(channelMult) * 31 + modelChannels;
    }

    @Override
    public String toString() {
        return "UNetParams[" + computeDtype + ", heads " + numHeads + "/" + numHeadChannels + ", in " + inChannels
                + ", out " + outChannels + ", model_channels " + modelChannels + ", num_res_blocks " + numResBlocks
                + ", context_dim " + contextDim + ", depth " + transformerDepth + ", channel_mult "
                + Arrays.toString(channelMult) + ", attention " + Arrays.toString(attentionLevels) + ", kernels "
                + kernels.nativeName() + ", device " + device + "]";
    }
}
