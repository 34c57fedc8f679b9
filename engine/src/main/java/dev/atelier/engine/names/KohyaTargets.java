package dev.atelier.engine.names;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The modules kohya's sd-scripts ({@code networks/lora.py}) trains by default, named both ways:
 * every Linear and 1x1 conv inside the UNet's transformer blocks ({@code Transformer2DModel}:
 * proj_in, proj_out, the two attentions' q/k/v/out and the feed-forward's two Linears), and, with
 * the text encoder, the CLIP layers' attention and MLP Linears ({@code CLIPAttention}, {@code CLIPMLP}).
 * For SD1.5 that is 192 UNet and 72 text-encoder modules.
 */
public final class KohyaTargets {
    private KohyaTargets() {}

    // Below a transformer block (BasicTransformerBlock): names are the same in LDM and diffusers.
    private static final List<String> TRANSFORMER_BLOCK = List.of(
            "attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0",
            "attn2.to_q", "attn2.to_k", "attn2.to_v", "attn2.to_out.0",
            "ff.net.0.proj", "ff.net.2");
    private static final List<String> CLIP_LAYER = List.of(
            "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2");

    /**
     * kohya module name -> LDM module name, UNet modules first (in diffusers block order) then text
     * encoder modules.
     *
     * @param layout           the block layout
     * @param transformerDepth transformer blocks per attention block (transformer_depth; SD1.5: 1)
     * @param textLayers       CLIP layers to include (SD1.5: 12; 0 for a UNet-only LoRA)
     */
    public static Map<String, String> defaults(ModelLayout layout, int transformerDepth, int textLayers) {
        NameConverter names = new NameConverter(layout);
        List<String> ldmModules = new ArrayList<>();
        for (NameTables.Block block : NameTables.components(layout).get(0).blocks()) {
            if (block.diffusers().contains("attentions.")) {
                ldmModules.add(block.ldm() + ".proj_in");
                for (int d = 0; d < transformerDepth; d++) {
                    for (String leaf : TRANSFORMER_BLOCK) {
                        ldmModules.add(block.ldm() + ".transformer_blocks." + d + "." + leaf);
                    }
                }
                ldmModules.add(block.ldm() + ".proj_out");
            }
        }
        Map<String, String> out = new LinkedHashMap<>();
        String unetPrefix = NameTables.components(layout).get(0).ldmPrefix();
        for (String m : ldmModules) {
            String ldm = unetPrefix + m;
            out.put(names.kohyaName(ldm).orElseThrow(), ldm);
        }
        for (int i = 0; i < textLayers; i++) {
            for (String leaf : CLIP_LAYER) {
                String ldm = "cond_stage_model.transformer.text_model.encoder.layers." + i + "." + leaf;
                out.put(names.kohyaName(ldm).orElseThrow(), ldm);
            }
        }
        return out;
    }
}
