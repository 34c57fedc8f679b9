package dev.atelier.engine.lora;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.atelier.engine.testing.FuzzSeeds;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the mapping of LoRA tensor names to layers ({@link LoraKeys#map}): a LoRA file's keys
 * are whatever its maker wrote, so any string maps to a layer of the checkpoint or to nothing,
 * and never throws. Seeds: {@code LoraKeysFuzzTestInputs/key/}, made by {@link #seeds()}.
 */
class LoraKeysFuzzTest {
    /** LDM names of one layer of each kind the kohya and diffusers keys point at. */
    private static final LoraKeys KEYS = LoraKeys.forCheckpoint(List.of(
            "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight",
            "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight",
            "model.diffusion_model.input_blocks.1.1.proj_in.weight",
            "model.diffusion_model.middle_block.1.transformer_blocks.0.ff.net.0.proj.weight",
            "model.diffusion_model.output_blocks.11.1.transformer_blocks.0.attn1.to_out.0.weight",
            "model.diffusion_model.input_blocks.1.0.in_layers.2.weight",
            "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight",
            "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight"));

    @FuzzTest(maxDuration = "60s")
    void key(byte[] bytes) {
        Optional<LoraKeys.Target> target = KEYS.map(new String(bytes, StandardCharsets.UTF_8));
        if (target.isPresent() && (target.get().network() == null || target.get().layer() == null || target.get().part() == null)) {
            throw new AssertionError("an incomplete target: " + target.get());
        }
    }

    static Map<String, byte[]> seeds() {
        Map<String, String> s = new LinkedHashMap<>();
        s.put("kohya-unet", "lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q.lora_down.weight");
        s.put("kohya-unet-diffusers-names", "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.lora_up.weight");
        s.put("kohya-text", "lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha");
        s.put("diffusers-peft", "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight");
        s.put("sdxl", "lora_te2_text_model_encoder_layers_0_mlp_fc1.lora_down.weight");
        s.put("unknown", "something.else.entirely");
        return s.entrySet().stream().collect(LinkedHashMap::new,
                (m, e) -> m.put(e.getKey(), e.getValue().getBytes(StandardCharsets.UTF_8)), Map::putAll);
    }

    @Test
    void committedSeedsAreGenerated() {
        FuzzSeeds.check(LoraKeysFuzzTest.class, "key", seeds());
    }
}
