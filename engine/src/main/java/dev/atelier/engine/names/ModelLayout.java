package dev.atelier.engine.names;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.util.Collection;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The block structure the SD1.x name mapping depends on: how many resolution levels and res
 * blocks the UNet and VAE have, and which UNet levels carry attention. Channel widths and
 * head counts do not change names, so they are not here.
 *
 * @param unetLevels          UNet resolution levels (len(channel_mult); SD1.5: 4)
 * @param unetResBlocks       res blocks per UNet level on the way down (num_res_blocks; SD1.5: 2)
 * @param unetAttentionLevels UNet levels (0 = full resolution) with transformers (SD1.5: 0, 1, 2)
 * @param vaeLevels           VAE levels (len(ch_mult); SD1.5: 4)
 * @param vaeResBlocks        VAE encoder res blocks per level (num_res_blocks; SD1.5: 2; the decoder has one more)
 */
public record ModelLayout(int unetLevels, int unetResBlocks, Set<Integer> unetAttentionLevels, int vaeLevels,
        int vaeResBlocks) {
    /** Stable Diffusion 1.x (v1-inference.yaml). */
    public static final ModelLayout SD15 = new ModelLayout(4, 2, Set.of(0, 1, 2), 4, 2);

    private static final Pattern LDM_INPUT = Pattern.compile("model\\.diffusion_model\\.input_blocks\\.(\\d+)\\.(\\d+)\\.(\\w+)");
    private static final Pattern DIFFUSERS_DOWN = Pattern.compile("unet\\.down_blocks\\.(\\d+)\\.(resnets|attentions)\\.(\\d+)\\.");
    private static final Pattern DIFFUSERS_VAE_BLOCK = Pattern.compile("vae\\.encoder\\.down_blocks\\.(\\d+)\\.resnets\\.(\\d+)\\.");
    private static final Pattern LDM_VAE_BLOCK = Pattern.compile("first_stage_model\\.encoder\\.down\\.(\\d+)\\.block\\.(\\d+)\\.");

    public ModelLayout {
        if (unetLevels < 1 || unetResBlocks < 1 || vaeLevels < 1 || vaeResBlocks < 1) {
            throw new InvalidInputException("model layout: levels and res blocks must be at least 1, got " + unetLevels
                    + "/" + unetResBlocks + " (UNet) and " + vaeLevels + "/" + vaeResBlocks + " (VAE)");
        }
        unetAttentionLevels = Set.copyOf(unetAttentionLevels);
    }

    public boolean unetAttentionAt(int level) {
        return unetAttentionLevels.contains(level);
    }

    /**
     * Reads the layout from the tensor names of an LDM checkpoint: the first downsampler's index
     * gives the res blocks per level, the last input block the number of levels. Parts with no
     * tensors keep the SD1.5 value.
     */
    public static ModelLayout fromLdmNames(Collection<String> names) {
        int maxInput = -1;
        int firstDownsampler = -1;
        Set<Integer> attentionBlocks = new TreeSet<>();
        int vaeLevels = 0;
        int vaeRes = 0;
        for (String name : names) {
            Matcher m = LDM_INPUT.matcher(name);
            if (m.lookingAt()) {
                int block = Integer.parseInt(m.group(1));
                maxInput = Math.max(maxInput, block);
                if (m.group(3).equals("op") && (firstDownsampler < 0 || block < firstDownsampler)) {
                    firstDownsampler = block;
                }
                if (m.group(2).equals("1")) {
                    attentionBlocks.add(block);
                }
            }
            Matcher v = LDM_VAE_BLOCK.matcher(name);
            if (v.lookingAt()) {
                vaeLevels = Math.max(vaeLevels, Integer.parseInt(v.group(1)) + 1);
                vaeRes = Math.max(vaeRes, Integer.parseInt(v.group(2)) + 1);
            }
        }
        int levels = SD15.unetLevels;
        int res = SD15.unetResBlocks;
        Set<Integer> attention = SD15.unetAttentionLevels;
        if (maxInput > 0) {
            // input_blocks: conv_in, then per level R res blocks and (except the last level) a downsampler.
            res = firstDownsampler > 0 ? firstDownsampler - 1 : maxInput;
            levels = (maxInput + 1) / (res + 1);
            Set<Integer> found = new TreeSet<>();
            for (int block : attentionBlocks) {
                found.add((block - 1) / (res + 1));
            }
            attention = found;
        }
        return new ModelLayout(levels, res, attention, vaeLevels > 0 ? vaeLevels : SD15.vaeLevels,
                vaeRes > 0 ? vaeRes : SD15.vaeResBlocks);
    }

    /**
     * Reads the layout from folder-prefixed diffusers names ({@code unet.down_blocks...},
     * {@code vae.encoder.down_blocks...}). Parts with no tensors keep the SD1.5 value.
     */
    public static ModelLayout fromDiffusersNames(Collection<String> names) {
        int levels = 0;
        int res = 0;
        Set<Integer> attention = new TreeSet<>();
        int vaeLevels = 0;
        int vaeRes = 0;
        for (String name : names) {
            Matcher m = DIFFUSERS_DOWN.matcher(name);
            if (m.lookingAt()) {
                int level = Integer.parseInt(m.group(1));
                levels = Math.max(levels, level + 1);
                res = Math.max(res, Integer.parseInt(m.group(3)) + 1);
                if (m.group(2).equals("attentions")) {
                    attention.add(level);
                }
            }
            Matcher v = DIFFUSERS_VAE_BLOCK.matcher(name);
            if (v.lookingAt()) {
                vaeLevels = Math.max(vaeLevels, Integer.parseInt(v.group(1)) + 1);
                vaeRes = Math.max(vaeRes, Integer.parseInt(v.group(2)) + 1);
            }
        }
        return new ModelLayout(levels > 0 ? levels : SD15.unetLevels, res > 0 ? res : SD15.unetResBlocks,
                levels > 0 ? attention : SD15.unetAttentionLevels, vaeLevels > 0 ? vaeLevels : SD15.vaeLevels,
                vaeRes > 0 ? vaeRes : SD15.vaeResBlocks);
    }
}
