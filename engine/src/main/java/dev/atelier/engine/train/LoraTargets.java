package dev.atelier.engine.train;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.names.KohyaTargets;
import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.names.NameConverter;
import dev.atelier.engine.sd.StableDiffusionWeights;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * The layers a LoRA trains, as kohya's sd-scripts chooses them ({@code networks/lora.py}):
 * <ul>
 *   <li>always: every Linear and 1x1 conv inside the UNet's transformer blocks ({@link KohyaTargets});
 *   <li>with the text encoder: the CLIP layers' attention and MLP Linears;
 *   <li>with conv LoRA (conv rank &gt; 0, kohya's {@code conv_dim}, "LoCon"): the modules of the
 *       res blocks, downsamplers and upsamplers too: their 3x3 convs at the conv rank and alpha,
 *       their Linear (time embedding projection) and 1x1 conv (skip connection) at the rank and
 *       alpha, as kohya does for {@code ResnetBlock2D}, {@code Downsample2D}, {@code Upsample2D}.
 * </ul>
 */
public final class LoraTargets {
    private LoraTargets() {}

    // The res block / resampler layers below input_blocks, middle_block and output_blocks.
    private static final Pattern CONV_BLOCK_LAYER = Pattern.compile(
            "model\\.diffusion_model\\.(input_blocks|middle_block|output_blocks)\\..*\\."
                    + "(in_layers\\.2|out_layers\\.3|emb_layers\\.1|skip_connection|op|conv)\\.weight");

    /**
     * The modules to train, UNet first, in a fixed order (the order of the flat training state).
     *
     * @param tensors          every tensor of the checkpoint under its LDM name (for shapes)
     * @param layout           the block layout
     * @param transformerDepth transformer blocks per attention block
     * @param textLayers       CLIP layers; 0 when the text encoder is not trained
     * @param rank             rank of Linear / 1x1 modules
     * @param alpha            their alpha
     * @param convRank         rank of 3x3 conv modules; 0 = no conv LoRA
     * @param convAlpha        their alpha
     */
    public static List<LoraModule> select(Map<String, TensorView> tensors, ModelLayout layout, int transformerDepth,
            int textLayers, int rank, float alpha, int convRank, float convAlpha) {
        NameConverter names = new NameConverter(layout);
        List<LoraModule> out = new ArrayList<>();
        Map<String, String> defaults = KohyaTargets.defaults(layout, transformerDepth, textLayers);
        List<LoraModule> text = new ArrayList<>();
        for (Map.Entry<String, String> e : defaults.entrySet()) {
            String ldm = e.getValue();
            if (!tensors.containsKey(ldm + ".weight")) {
                throw new FormatException("LoRA target " + ldm + " is not in the checkpoint");
            }
            if (ldm.startsWith(StableDiffusionWeights.UNET_PREFIX)) {
                out.add(new LoraModule(e.getKey(), ldm.substring(StableDiffusionWeights.UNET_PREFIX.length()), false,
                        rank, alpha));
            } else {
                text.add(new LoraModule(e.getKey(), ldm.substring(StableDiffusionWeights.TEXT_PREFIX.length()), true,
                        rank, alpha));
            }
        }
        if (convRank > 0) {
            // Sorted by name so that the order is the same on every run.
            Map<String, TensorView> convs = new TreeMap<>();
            tensors.forEach((n, v) -> {
                if (CONV_BLOCK_LAYER.matcher(n).matches()) {
                    convs.put(n, v);
                }
            });
            for (Map.Entry<String, TensorView> e : convs.entrySet()) {
                String ldm = e.getKey().substring(0, e.getKey().length() - ".weight".length());
                String kohya = names.kohyaName(ldm)
                        .orElseThrow(() -> new FormatException("no kohya name for " + ldm));
                long[] shape = e.getValue().shape();
                boolean spatial = shape.length == 4 && (shape[2] > 1 || shape[3] > 1);
                out.add(new LoraModule(kohya, ldm.substring(StableDiffusionWeights.UNET_PREFIX.length()), false,
                        spatial ? convRank : rank, spatial ? convAlpha : alpha));
            }
        }
        out.addAll(text);
        return out;
    }
}
