package dev.atelier.engine.names;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.TensorInfo;
import dev.atelier.engine.testing.Fixtures;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class NameConverterTest {
    private static SafeTensorsFile model;
    private static NameConverter names;

    @BeforeAll
    static void open() {
        model = SafeTensorsFile.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"));
        names = new NameConverter(ModelLayout.fromLdmNames(model.tensors().keySet()));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void layoutIsReadFromTheNames() {
        // The tiny fixture: SD1.5's UNet structure, a VAE with one res block per level.
        assertEquals(new ModelLayout(4, 2, Set.of(0, 1, 2), 4, 1), names.layout());
    }

    @Test
    void everyTensorRoundTrips() {
        Map<String, String> seen = new HashMap<>();
        int mapped = 0;
        for (TensorInfo info : model.tensors().values()) {
            String ldm = info.name();
            Optional<MappedName> d = names.toDiffusers(ldm);
            if (ldm.equals("alphas_cumprod")) {
                assertTrue(d.isEmpty(), "a schedule buffer has no diffusers name");
                continue;
            }
            assertTrue(d.isPresent(), "no diffusers name for " + ldm);
            String previous = seen.put(d.get().name(), ldm);
            assertEquals(null, previous, "two LDM names map to " + d.get().name());
            assertEquals(Optional.of(new MappedName(ldm, d.get().reshape())), names.toLdm(d.get().name()));
            mapped++;
        }
        assertEquals(model.tensors().size() - 1, mapped);
        // Exactly the VAE attention's four 1x1 convs (weights) per mid block change shape.
        long reshaped = model.tensors().keySet().stream().map(names::toDiffusers).flatMap(Optional::stream)
                .filter(m -> m.reshape() != Reshape.NONE).count();
        assertEquals(8, reshaped);
    }

    @Test
    void knownNames() {
        Map<String, String> expected = new HashMap<>();
        expected.put("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q",
                "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q");
        expected.put("model.diffusion_model.input_blocks.0.0.weight", "unet.conv_in.weight");
        expected.put("model.diffusion_model.time_embed.2.bias", "unet.time_embedding.linear_2.bias");
        expected.put("model.diffusion_model.input_blocks.4.0.skip_connection.weight",
                "unet.down_blocks.1.resnets.0.conv_shortcut.weight");
        expected.put("model.diffusion_model.input_blocks.6.0.op.weight", "unet.down_blocks.1.downsamplers.0.conv.weight");
        expected.put("model.diffusion_model.input_blocks.11.0.emb_layers.1.weight",
                "unet.down_blocks.3.resnets.1.time_emb_proj.weight");
        expected.put("model.diffusion_model.middle_block.1.proj_in.weight", "unet.mid_block.attentions.0.proj_in.weight");
        expected.put("model.diffusion_model.middle_block.2.out_layers.3.weight", "unet.mid_block.resnets.1.conv2.weight");
        expected.put("model.diffusion_model.output_blocks.2.1.conv.weight", "unet.up_blocks.0.upsamplers.0.conv.weight");
        expected.put("model.diffusion_model.output_blocks.5.2.conv.bias", "unet.up_blocks.1.upsamplers.0.conv.bias");
        expected.put("model.diffusion_model.output_blocks.9.1.norm.weight", "unet.up_blocks.3.attentions.0.norm.weight");
        expected.put("model.diffusion_model.output_blocks.11.0.in_layers.0.bias", "unet.up_blocks.3.resnets.2.norm1.bias");
        expected.put("model.diffusion_model.out.0.weight", "unet.conv_norm_out.weight");
        expected.put("model.diffusion_model.out.2.bias", "unet.conv_out.bias");
        expected.put("cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj",
                "text_encoder.text_model.encoder.layers.0.self_attn.q_proj");
        expected.put("first_stage_model.encoder.down.0.block.0.conv1", "vae.encoder.down_blocks.0.resnets.0.conv1");
        expected.put("first_stage_model.encoder.down.2.downsample.conv.weight",
                "vae.encoder.down_blocks.2.downsamplers.0.conv.weight");
        expected.put("first_stage_model.decoder.up.3.block.0.nin_shortcut.weight",
                "vae.decoder.up_blocks.0.resnets.0.conv_shortcut.weight");
        expected.put("first_stage_model.decoder.up.1.upsample.conv.weight", "vae.decoder.up_blocks.2.upsamplers.0.conv.weight");
        expected.put("first_stage_model.decoder.mid.attn_1.norm.weight", "vae.decoder.mid_block.attentions.0.group_norm.weight");
        expected.put("first_stage_model.encoder.mid.block_2.norm1.bias", "vae.encoder.mid_block.resnets.1.norm1.bias");
        expected.put("first_stage_model.encoder.norm_out.weight", "vae.encoder.conv_norm_out.weight");
        expected.put("first_stage_model.post_quant_conv.weight", "vae.post_quant_conv.weight");
        expected.forEach((ldm, diffusers) -> {
            assertEquals(diffusers, names.toDiffusers(ldm).orElseThrow().name(), ldm);
            assertEquals(ldm, names.toLdm(diffusers).orElseThrow().name(), diffusers);
        });
        MappedName q = names.toDiffusers("first_stage_model.encoder.mid.attn_1.q.weight").orElseThrow();
        assertEquals(new MappedName("vae.encoder.mid_block.attentions.0.to_q.weight", Reshape.CONV1X1_TO_LINEAR), q);
        assertEquals(Reshape.NONE, names.toDiffusers("first_stage_model.encoder.mid.attn_1.q.bias").orElseThrow().reshape());
        assertEquals("vae.decoder.mid_block.attentions.0.to_out.0.weight",
                names.toDiffusers("first_stage_model.decoder.mid.attn_1.proj_out.weight").orElseThrow().name());
        // diffusers before 0.14 named the VAE attention query/key/value/proj_attn: read, never written.
        assertEquals(new MappedName("first_stage_model.decoder.mid.attn_1.proj_out.weight", Reshape.CONV1X1_TO_LINEAR),
                names.toLdm("vae.decoder.mid_block.attentions.0.proj_attn.weight").orElseThrow());
        assertEquals("first_stage_model.encoder.mid.attn_1.k.bias",
                names.toLdm("vae.encoder.mid_block.attentions.0.key.bias").orElseThrow().name());
        assertArrayEquals(new long[] {64, 64}, Reshape.CONV1X1_TO_LINEAR.toDiffusers(new long[] {64, 64, 1, 1}));
        assertArrayEquals(new long[] {64, 64, 1, 1}, Reshape.CONV1X1_TO_LINEAR.toLdm(new long[] {64, 64}));
    }

    private static void assertArrayEquals(long[] expected, long[] actual) {
        org.junit.jupiter.api.Assertions.assertArrayEquals(expected, actual);
    }

    @Test
    void unknownNamesConvertToNothing() {
        for (String bad : List.of("alphas_cumprod", "model_ema.decay", "model.diffusion_model.input_blocks.99.0.in_layers.0.weight",
                "model.diffusion_model.input_blocks.1.0.bogus.weight", "first_stage_model.encoder.mid.attn_1.query.weight",
                "unet.down_blocks.9.resnets.0.conv1.weight", "vae.encoder.mid_block.attentions.0.bogus.weight", "other.x")) {
            assertTrue(names.toDiffusers(bad).isEmpty() && names.toLdm(bad).isEmpty(), bad);
        }
    }

    @Test
    void fullSizeLayoutMatchesDiffusersBlockCounts() {
        NameConverter sd15 = NameConverter.sd15();
        assertEquals("unet.up_blocks.3.attentions.2.proj_out",
                sd15.toDiffusers("model.diffusion_model.output_blocks.11.1.proj_out").orElseThrow().name());
        assertEquals("vae.decoder.up_blocks.3.resnets.2.conv1",
                sd15.toDiffusers("first_stage_model.decoder.up.0.block.2.conv1").orElseThrow().name());
        assertEquals("vae.encoder.down_blocks.3.resnets.1.conv2",
                sd15.toDiffusers("first_stage_model.encoder.down.3.block.1.conv2").orElseThrow().name());
        assertTrue(sd15.toDiffusers("first_stage_model.encoder.down.3.downsample.conv").isEmpty(), "last level has none");
    }

    @Test
    void kohyaNamesMatchTheReferenceLora() {
        Set<String> reference;
        try (SafeTensorsFile lora = SafeTensorsFile.open(Fixtures.sd15Tiny().resolve("lora_kohya.safetensors"))) {
            reference = lora.tensors().keySet().stream().map(n -> n.substring(0, n.indexOf('.')))
                    .collect(Collectors.toCollection(TreeSet::new));
        }
        // kohya's default targets: every Linear and 1x1 conv inside the UNet's transformers, and
        // the CLIP attention and MLP Linears.
        Set<String> ours = new TreeSet<>();
        for (TensorInfo info : model.tensors().values()) {
            String n = info.name();
            long[] s = info.shape();
            boolean linearOr1x1 = s.length == 2 || (s.length == 4 && s[2] == 1 && s[3] == 1);
            boolean inTransformer = n.matches("model\\.diffusion_model\\.(input_blocks\\.\\d+\\.1|middle_block\\.1|output_blocks\\.\\d+\\.1)\\..*");
            boolean inClipLayer = n.matches("cond_stage_model\\.transformer\\.text_model\\.encoder\\.layers\\..*");
            if (n.endsWith(".weight") && linearOr1x1 && (inTransformer || inClipLayer)) {
                ours.add(names.kohyaName(n).orElseThrow());
            }
        }
        assertEquals(reference, ours);
        Map<String, String> defaults = KohyaTargets.defaults(names.layout(), 1, 2);
        assertEquals(reference, new TreeSet<>(defaults.keySet()));
        defaults.forEach((kohya, ldm) -> assertTrue(model.contains(ldm + ".weight"), ldm));
        Map<String, String> sd15 = KohyaTargets.defaults(ModelLayout.SD15, 1, 12);
        assertEquals(192, sd15.keySet().stream().filter(k -> k.startsWith("lora_unet_")).count());
        assertEquals(72, sd15.keySet().stream().filter(k -> k.startsWith("lora_te_")).count());
        assertEquals(192, ours.stream().filter(k -> k.startsWith("lora_unet_")).count());
        assertEquals(12, ours.stream().filter(k -> k.startsWith("lora_te_")).count());
        assertEquals(Optional.of("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"),
                names.kohyaName("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight"));
        assertEquals(Optional.of("lora_te_text_model_encoder_layers_0_self_attn_q_proj"),
                names.kohyaName("cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj"));
        assertTrue(names.kohyaName("first_stage_model.encoder.conv_in").isEmpty());

        Map<String, String> index = names.kohyaIndex(model.tensors().keySet());
        for (String k : reference) {
            assertTrue(index.containsKey(k), "kohya name not resolved: " + k);
        }
        assertEquals("model.diffusion_model.output_blocks.9.1.transformer_blocks.0.ff.net.0.proj",
                index.get("lora_unet_up_blocks_3_attentions_0_transformer_blocks_0_ff_net_0_proj"));
        // The LDM-style spelling some kohya tools write resolves to the same module.
        assertEquals("model.diffusion_model.input_blocks.1.1.proj_in", index.get("lora_unet_input_blocks_1_1_proj_in"));
    }
}
