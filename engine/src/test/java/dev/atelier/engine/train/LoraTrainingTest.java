package dev.atelier.engine.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.names.KohyaTargets;
import dev.atelier.engine.names.ModelLayout;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.testing.Fixtures;
import dev.atelier.engine.testing.OneNativeThread;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * LoRA training on the sd15-tiny fixture model with synthetic 64x64 photos:
 * training lowers the loss; the saved file reproduces the trained adapters; resuming continues
 * the same loss curve; bad input gives clear errors and keeps earlier checkpoints).
 */
@ExtendWith(OneNativeThread.class)
class LoraTrainingTest {
    @TempDir
    Path tmp;

    static Path model() {
        return Fixtures.sd15Tiny().resolve("model/model.safetensors");
    }

    LoraTrainingConfig.Builder config(Path images, String out) {
        return LoraTrainingConfig.builder(model(), images, tmp.resolve(out))
                .ldm(LdmConfig.load(Fixtures.sd15Tiny().resolve("model/model.yaml")))
                .tokenizer(Fixtures.sd15Tiny().resolve("model/tokenizer"))
                .caption("photo of sks jacket")
                .resolution(64)
                .step(LoraTrainer.StepOptions.defaults(42));
    }

    Path photos(int count) throws IOException {
        Path dir = tmp.resolve("photos");
        TrainingPhotos.write(dir, count, 64, 64, 7);
        return dir;
    }

    private static double mean(List<Float> v, int from, int to) {
        double s = 0;
        for (int i = from; i < to; i++) {
            s += v.get(i);
        }
        return s / (to - from);
    }

    @Test
    void trainingLowersTheLoss() throws IOException {
        LoraTraining.Result r = LoraTraining.run(config(photos(4), "lora.safetensors").maxSteps(30).batchSize(4)
                .rank(4).alpha(4).unetLr(1e-2f).build(), null);
        List<Float> l = r.losses();
        assertEquals(30, l.size());
        double first = mean(l, 0, 5), last = mean(l, 25, 30);
        System.out.printf("loss: first 5 steps %.5f, last 5 steps %.5f, curve %s%n", first, last, l);
        assertTrue(last < first, "loss did not go down: first 5 " + first + ", last 5 " + last);
    }

    /**
     * Samples during training render with the adapters trained so far: one PNG per sampleEvery
     * updates, at the request's size, and they change as the LoRA trains (same seed each time).
     */
    @Test
    void samplesShowTheLoraTrainedSoFar() throws IOException {
        List<Path> samples = new java.util.ArrayList<>();
        TrainingListener listener = new TrainingListener() {
            @Override
            public void onSampleImage(long step, Path png) {
                samples.add(png);
            }
        };
        dev.atelier.engine.sd.GenerationRequest request = dev.atelier.engine.sd.GenerationRequest
                .of("photo of sks jacket", "", 5).withSampler(dev.atelier.engine.sd.Sampler.EULER, 4).withSize(64, 64);
        LoraTraining.run(config(photos(2), "lora.safetensors").maxSteps(4).sampleEvery(2).sample(request).unetLr(1e-2f)
                .build(), listener);
        assertEquals(List.of(tmp.resolve("lora-sample-step000002.png"), tmp.resolve("lora-sample-step000004.png")), samples);
        int[][] pixels = new int[2][];
        for (int i = 0; i < 2; i++) {
            java.awt.image.BufferedImage image = javax.imageio.ImageIO.read(samples.get(i).toFile());
            assertEquals(64, image.getWidth());
            assertEquals(64, image.getHeight());
            pixels[i] = image.getRGB(0, 0, 64, 64, null, 0, 64);
        }
        assertFalse(java.util.Arrays.equals(pixels[0], pixels[1]), "the samples did not change while the LoRA trained");
    }

    @Test
    void savedFileHoldsKohyaKeysAndTheTrainedTensors() throws IOException {
        LoraTrainingConfig c = config(photos(2), "lora.safetensors").maxSteps(3).rank(2).alpha(1).build();
        LoraTraining.Result r = LoraTraining.run(c, null);
        try (SafeTensorsFile f = SafeTensorsFile.open(r.output())) {
            Map<String, String> meta = f.metadata();
            assertEquals("networks.lora", meta.get("ss_network_module"));
            assertEquals("2", meta.get("ss_network_dim"));
            assertEquals("1", meta.get("ss_network_alpha"));
            assertEquals("sd_v1", meta.get("ss_base_model_version"));
            assertEquals("3", meta.get("ss_steps"));
            assertEquals("(64, 64)", meta.get("ss_resolution"));
            assertEquals(64, meta.get("ss_new_sd_model_hash").length());
            assertTrue(meta.get("ss_tag_frequency").contains("\"photo of sks jacket\": 2"), meta.get("ss_tag_frequency"));
            // Every module of the kohya defaults for this layout, three tensors each, nothing else.
            Set<String> expected = new TreeSet<>();
            ModelLayout layout;
            try (SafeTensorsFile m = SafeTensorsFile.open(model())) {
                layout = ModelLayout.fromLdmNames(m.tensors().keySet());
            }
            KohyaTargets.defaults(layout, 1, 0).keySet().forEach(k -> {
                expected.add(k + ".lora_down.weight");
                expected.add(k + ".lora_up.weight");
                expected.add(k + ".alpha");
            });
            assertEquals(expected, new TreeSet<>(f.tensors().keySet()));
            TensorView up = f.view("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q.lora_up.weight");
            assertArrayEquals(new long[] {32, 2}, up.shape());
            float[] u = up.toFloatArray();
            assertTrue(maxAbs(u) > 0, "lora_up is still zero after training");
        }
    }

    static float maxAbs(float[] v) {
        float m = 0;
        for (float x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    @Test
    void resumingContinuesTheSameLossCurve() throws IOException {
        Path images = photos(3);
        LoraTrainingConfig full = config(images, "full.safetensors").maxSteps(8).batchSize(2).gradAccum(2)
                .flip(true).repeats(2).saveEvery(4).unetLr(3e-3f).schedule(LrSchedule.COSINE).warmupSteps(2).build();
        List<Float> a = LoraTraining.run(full, null).losses();
        Path state = TrainingCheckpoints.paths(full.output(), 4)[1];
        assertTrue(Files.isRegularFile(state));
        LoraTrainingConfig resumed = full.toBuilder().output(tmp.resolve("resumed.safetensors")).resume(state).build();
        List<Float> b = LoraTraining.run(resumed, null).losses();
        System.out.println("uninterrupted " + a + "\nresumed at 4  " + b);
        assertEquals(4, b.size());
        for (int i = 0; i < 4; i++) {
            assertEquals(a.get(4 + i), b.get(i), 1e-6 * Math.abs(a.get(4 + i)), "loss of step " + (5 + i));
        }
        try (SafeTensorsFile x = SafeTensorsFile.open(full.output());
                SafeTensorsFile y = SafeTensorsFile.open(resumed.output())) {
            for (String name : x.tensors().keySet()) {
                assertArrayEquals(x.view(name).toFloatArray(), y.view(name).toFloatArray(), 1e-6f, name);
            }
        }
    }

    @Test
    void convLoraTextEncoderAndBuckets() throws IOException {
        Path dir = tmp.resolve("wide");
        TrainingPhotos.write(dir, 2, 128, 64, 3);
        TrainingPhotos.write(dir.resolve("unused"), 1, 64, 64, 4);
        Files.writeString(dir.resolve("photo00.txt"), "sks jacket, red, studio");
        LoraTraining.Result r = LoraTraining.run(config(dir, "locon.safetensors").maxSteps(2).buckets(true)
                .convRank(2).convAlpha(1).trainTextEncoder(true).textLr(1e-3f).build(), null);
        r.losses().forEach(l -> assertTrue(Float.isFinite(l)));
        try (SafeTensorsFile f = SafeTensorsFile.open(r.output())) {
            assertEquals(2 * 6 * 3, f.tensors().keySet().stream().filter(n -> n.startsWith("lora_te_")).count());
            TensorView conv = f.view("lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight");
            assertArrayEquals(new long[] {2, 32, 3, 3}, conv.shape());
            assertTrue(f.contains("lora_unet_down_blocks_0_resnets_0_time_emb_proj.lora_up.weight"));
            assertTrue(f.contains("lora_unet_down_blocks_0_downsamplers_0_conv.alpha"));
            assertTrue(f.contains("lora_unet_up_blocks_0_upsamplers_0_conv.alpha"));
            assertTrue(maxAbs(f.view("lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight").toFloatArray()) > 0);
            assertEquals("{\"wide\": {\"photo of sks jacket\": 1, \"red\": 1, \"sks jacket\": 1, \"studio\": 1}}",
                    f.metadata().get("ss_tag_frequency"));
            assertEquals("False", f.metadata().get("ss_network_train_unet_only"));
        }
    }

    @Test
    void bf16WithMinSnrAndNoiseOffset() throws IOException {
        Path images = photos(2);
        LoraTrainer.StepOptions o = LoraTrainer.StepOptions.defaults(3);
        LoraTrainer.StepOptions snr = new LoraTrainer.StepOptions(3, o.beta1(), o.beta2(), o.eps(), o.weightDecay(), 5f,
                0.05f, 1, false, true);
        List<Float> plain = LoraTraining.run(config(images, "p.safetensors").maxSteps(3).step(o).build(), null).losses();
        LoraTraining.Result r = LoraTraining.run(config(images, "bf16.safetensors").maxSteps(3).bf16(true).step(snr).build(), null);
        System.out.println("f32 plain " + plain + "\nbf16, min-SNR 5, noise offset 0.05 " + r.losses());
        r.losses().forEach(l -> assertTrue(Float.isFinite(l) && l > 0));
        // min-SNR-gamma only lowers weights (min(SNR, gamma) / SNR <= 1).
        assertTrue(r.losses().get(0) <= plain.get(0) * 1.1, r.losses() + " vs " + plain);
        assertEquals("bf16", r.metadata().get("ss_mixed_precision"));
        assertEquals("5", r.metadata().get("ss_min_snr_gamma"));
    }

    @Test
    void sd15KeyNamesAreKohyas() {
        Map<String, String> targets = KohyaTargets.defaults(ModelLayout.SD15, 1, 12);
        List<String> keys = new ArrayList<>();
        targets.forEach((kohya, ldm) -> keys.addAll(KohyaLoraWriter.tensorNames(
                new LoraModule(kohya, ldm, ldm.startsWith("cond_stage_model."), 4, 1))));
        assertEquals(192 * 3, keys.stream().filter(k -> k.startsWith("lora_unet_")).count());
        assertEquals(72 * 3, keys.stream().filter(k -> k.startsWith("lora_te_")).count());
        assertTrue(keys.contains("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight"));
        assertTrue(keys.contains("lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_2.lora_up.weight"));
        assertTrue(keys.contains("lora_unet_up_blocks_3_attentions_2_transformer_blocks_0_attn2_to_out_0.alpha"));
        assertTrue(keys.contains("lora_te_text_model_encoder_layers_11_self_attn_out_proj.lora_down.weight"));
        assertTrue(keys.contains("lora_te_text_model_encoder_layers_0_mlp_fc1.alpha"));
    }

    // ---- bad input

    @Test
    void imageThatDoesNotDecodeIsNamed() throws IOException {
        Path dir = photos(2);
        Files.write(dir.resolve("broken.png"), new byte[] {1, 2, 3, 4, 5});
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> LoraTraining.run(config(dir, "x.safetensors").maxSteps(1).build(), null));
        assertTrue(e.getMessage().contains("broken.png") && e.getMessage().contains("does not decode"), e.getMessage());
    }

    @Test
    void emptyFolderIsAnError() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("empty"));
        Files.writeString(dir.resolve("notes.txt"), "no photos here");
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> LoraTraining.run(config(dir, "x.safetensors").maxSteps(1).build(), null));
        assertTrue(e.getMessage().contains("no training images"), e.getMessage());
    }

    @Test
    void rankZeroIsAnError() throws IOException {
        Path dir = photos(1);
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> config(dir, "x.safetensors").rank(0).build());
        assertTrue(e.getMessage().contains("rank must be at least 1"), e.getMessage());
    }

    @Test
    void nanLossStopsWithAClearErrorAndKeepsTheCheckpoint() throws IOException {
        LoraTrainingConfig c = config(photos(2), "nan.safetensors").maxSteps(5).saveEvery(1).unetLr(1e30f).build();
        AtelierException e = assertThrows(AtelierException.class, () -> LoraTraining.run(c, null));
        System.out.println("NaN run: " + e.getMessage());
        assertTrue(e.getMessage().contains("LoRA training stopped at step"), e.getMessage());
        assertTrue(e.getMessage().matches("(?s).*(NaN|infinite|overflow|not finite).*"), e.getMessage());
        assertFalse(Files.exists(c.output()), "no final file after a failed run");
        Path[] first = TrainingCheckpoints.paths(c.output(), 1);
        assertTrue(e.getMessage().contains(first[1].toString()), e.getMessage());
        try (SafeTensorsFile lora = SafeTensorsFile.open(first[0]); SafeTensorsFile state = SafeTensorsFile.open(first[1])) {
            assertEquals("1", state.metadata().get(TrainingCheckpoints.STATE_STEP));
            assertEquals("1", lora.metadata().get("ss_steps"));
        }
    }

    @Test
    void gradientCheckpointingGivesTheSameLosses() throws IOException {
        Path images = photos(2);
        LoraTrainer.StepOptions o = LoraTrainer.StepOptions.defaults(1);
        LoraTrainer.StepOptions gc = new LoraTrainer.StepOptions(1, o.beta1(), o.beta2(), o.eps(), o.weightDecay(), 0, 0, 1, true, true);
        List<Float> plain = LoraTraining.run(config(images, "a.safetensors").maxSteps(4).unetLr(1e-2f).step(o).build(), null).losses();
        List<Float> checkpointed = LoraTraining.run(config(images, "b.safetensors").maxSteps(4).unetLr(1e-2f).step(gc).build(), null).losses();
        System.out.println("plain " + plain + "\ncheckpointed " + checkpointed);
        for (int i = 0; i < plain.size(); i++) {
            assertEquals(plain.get(i), checkpointed.get(i), 1e-5 * Math.abs(plain.get(i)), "step " + (i + 1));
        }
    }
}
