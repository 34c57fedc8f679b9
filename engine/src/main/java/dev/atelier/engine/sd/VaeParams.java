package dev.atelier.engine.sd;

import dev.atelier.bindings.atelier_h;
import dev.atelier.bindings.atl_vae_params;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Device;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Settings of the VAE, mirroring {@code atl_vae_params} (LDM {@code first_stage_config} ddconfig).
 * Architecture fields set to 0 (and an empty {@code chMult}) are read from the weights' shapes;
 * non-zero values must agree with them.
 *
 * @param computeDtype {@link DType#F32} or {@link DType#BF16} ({@link DType#F16} on CUDA)
 * @param inChannels   image channels in (3), 0 = infer
 * @param outChannels  image channels out (3), 0 = infer
 * @param ch           base width (128), 0 = infer
 * @param zChannels    encoder output channels per moment (4), 0 = infer
 * @param embedDim     latent channels (4), 0 = infer
 * @param numResBlocks ResnetBlocks per encoder level (2), 0 = infer
 * @param chMult       width multiplier per level ({1, 2, 4, 4}); empty = infer
 * @param kernels      which kernels run the network's operations ({@link OpKernel#AUTO})
 * @param device       where the weights live and the forward runs ({@link Device#CPU})
 */
public record VaeParams(DType computeDtype, int inChannels, int outChannels, int ch, int zChannels, int embedDim,
        int numResBlocks, int[] chMult, OpKernel kernels, Device device) {

    public VaeParams {
        Placement.check("vae", computeDtype, kernels, device);
        if (chMult.length > atelier_h.ATL_SD_MAX_LEVELS()) {
            throw new InvalidInputException("vae: at most " + atelier_h.ATL_SD_MAX_LEVELS() + " levels");
        }
        chMult = chMult.clone();
    }

    /** F32, the architecture inferred from the weights, {@link OpKernel#AUTO}. */
    public static VaeParams defaults() {
        return new VaeParams(DType.F32, 0, 0, 0, 0, 0, 0, new int[0], OpKernel.AUTO, Device.CPU);
    }

    public VaeParams withComputeDtype(DType dtype) {
        return new VaeParams(dtype, inChannels, outChannels, ch, zChannels, embedDim, numResBlocks, chMult, kernels, device);
    }

    public VaeParams withKernels(OpKernel k) {
        return new VaeParams(computeDtype, inChannels, outChannels, ch, zChannels, embedDim, numResBlocks, chMult, k, device);
    }

    /** The same settings on another device ({@code cpu}, {@code cuda:N}). */
    public VaeParams withDevice(Device d) {
        return new VaeParams(computeDtype, inChannels, outChannels, ch, zChannels, embedDim, numResBlocks, chMult, kernels, d);
    }

    /** Spatial factor between images and latents: 2^(levels-1) (8 for SD1.x). */
    public int downscale() {
        return chMult.length == 0 ? 0 : 1 << (chMult.length - 1);
    }

    @Override
    public int[] chMult() {
        return chMult.clone();
    }

    MemorySegment toNative(Arena arena) {
        MemorySegment p = atl_vae_params.allocate(arena);
        atl_vae_params.compute_dtype(p, computeDtype.code());
        atl_vae_params.in_channels(p, inChannels);
        atl_vae_params.out_channels(p, outChannels);
        atl_vae_params.ch(p, ch);
        atl_vae_params.z_channels(p, zChannels);
        atl_vae_params.embed_dim(p, embedDim);
        atl_vae_params.num_res_blocks(p, numResBlocks);
        atl_vae_params.num_levels(p, chMult.length);
        for (int i = 0; i < chMult.length; i++) {
            atl_vae_params.ch_mult(p, i, chMult[i]);
        }
        atl_vae_params.kernels(p, kernels.code());
        atl_vae_params.device(p, device.kind().code());
        atl_vae_params.device_index(p, device.index());
        return p;
    }

    static VaeParams fromNative(MemorySegment p) {
        int[] mult = new int[atl_vae_params.num_levels(p)];
        for (int i = 0; i < mult.length; i++) {
            mult[i] = atl_vae_params.ch_mult(p, i);
        }
        return new VaeParams(DType.fromCode(atl_vae_params.compute_dtype(p)), atl_vae_params.in_channels(p),
                atl_vae_params.out_channels(p), atl_vae_params.ch(p), atl_vae_params.z_channels(p),
                atl_vae_params.embed_dim(p), atl_vae_params.num_res_blocks(p), mult,
                OpKernel.fromCode(atl_vae_params.kernels(p)),
                new Device(Device.Kind.fromCode(atl_vae_params.device(p)), atl_vae_params.device_index(p)));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof VaeParams v && computeDtype == v.computeDtype && inChannels == v.inChannels
                && outChannels == v.outChannels && ch == v.ch && zChannels == v.zChannels && embedDim == v.embedDim
                && numResBlocks == v.numResBlocks && Arrays.equals(chMult, v.chMult)
                && kernels == v.kernels && device.equals(v.device);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(chMult) * 31 + ch;
    }

    @Override
    public String toString() {
        return "VaeParams[" + computeDtype + ", in " + inChannels + ", out " + outChannels + ", ch " + ch + ", z "
                + zChannels + ", embed " + embedDim + ", num_res_blocks " + numResBlocks + ", ch_mult "
                + Arrays.toString(chMult) + ", kernels " + kernels.nativeName() + ", device " + device + "]";
    }
}
