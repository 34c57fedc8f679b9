package dev.atelier.engine.sd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.testing.Fixtures;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Profiles of a generation on the sd15-tiny fixture: every network is recorded, the UNet's
 * convolution FLOPs are the count computed here from the weights' shapes and the latent size,
 * and only the thread that started the profile is recorded. No assertion on times beyond "> 0".
 */
class ProfileTest {
    private static final int STEPS = 2;
    private static Pipeline pipeline;
    private static StableDiffusionWeights weights;

    @BeforeAll
    static void open() {
        Path root = Fixtures.sd15Tiny();
        // The fixture's text model has 2 heads, its UNet 4 (model.yaml).
        pipeline = Pipeline.load(root.resolve("model/model.safetensors"), Pipeline.Options.defaults()
                .withConfig(root.resolve("model/model.yaml")).withTokenizer(root.resolve("model/tokenizer")));
        weights = StableDiffusionWeights.open(root.resolve("model/model.safetensors"));
    }

    @AfterAll
    static void close() {
        weights.close();
        pipeline.close();
    }

    /** Euler: one UNet evaluation per step; cfg != 1: each evaluation runs cond and uncond as one batch of 2. */
    private static GenerationRequest request() {
        return new GenerationRequest("a denim jacket", "blurry", Sampler.EULER, STEPS, 5.0, 7, 64, 64, 1, 1, 1, -1, null);
    }

    @Test
    void aGenerationIsRecordedPerNetworkAndClass() {
        List<Profile.Entry> entries;
        try (Profile profile = Profile.start()) {
            assertTrue(profile.recording());
            pipeline.generate(request(), Progress.NONE);
            profile.stop();
            assertFalse(profile.recording());
            entries = profile.entries();
            pipeline.generate(request(), Progress.NONE);
            assertEquals(entries, profile.entries(), "nothing is recorded after stop");
        }
        assertEquals(List.of("text_encoder", "unet", "vae"),
                entries.stream().map(Profile.Entry::network).distinct().toList(), "every network, in order");
        // Forward calls: prompt and negative prompt, one UNet call per step, one decode.
        assertEquals(2, entry(entries, "text_encoder", "other").calls());
        assertEquals(STEPS, entry(entries, "unet", "other").calls());
        assertEquals(1, entry(entries, "vae", "other").calls());

        Profile.Entry conv = entry(entries, "unet", "convolution");
        assertEquals(STEPS * unetConvolutionFlops(2, 64 / 8, 64 / 8), conv.flops(), 1e-9 * conv.flops());
        assertTrue(conv.seconds() > 0, conv.toString());
        assertTrue(entry(entries, "unet", "linear").flops() > 0);
        assertTrue(entry(entries, "unet", "attention").flops() > 0);
        assertEquals(0, entry(entries, "unet", "normalisation").flops());

        String table = Profile.table(entries, 100);
        System.out.print(table);
        for (String network : List.of("text_encoder", "unet", "vae")) {
            assertTrue(table.contains("| " + network + " | **total** |"), table);
        }
        // The convolution row has every column: time, share, GFLOP, GFLOP/s, % of peak.
        String number = "[0-9.]+";
        Matcher m = Pattern.compile("\\| unet \\| convolution \\| \\d+ \\| " + number + " \\| " + number + " % \\| ("
                + number + ") \\| " + number + " \\| " + number + " % \\|").matcher(table);
        assertTrue(m.find(), table);
        assertEquals(conv.gflop(), Double.parseDouble(m.group(1)), 1e-3);
    }

    private static Profile.Entry entry(List<Profile.Entry> entries, String network, String opClass) {
        return entries.stream().filter(e -> e.network().equals(network) && e.opClass().equals(opClass)).findFirst()
                .orElseThrow(() -> new AssertionError("no " + network + "/" + opClass + " in " + entries));
    }

    /**
     * FLOPs of the UNet's convolutions in one forward of batch samples of h x w latents: the sum
     * over its 4-D weights [out, in, k, k] of 2 * batch * out_h * out_w * out * in * k * k, where
     * out_h, out_w is the resolution of the block the convolution is in (LDM openaimodel.py:
     * input block 0 and level l's ResBlocks and transformers at h / 2^l, its Downsample's
     * stride-2 op at the next level's; the middle block at the lowest; an output block's
     * Upsample conv after the 2x nearest upsampling, at the next higher level's).
     */
    private static double unetConvolutionFlops(int batch, int h, int w) {
        UNetParams c = pipeline.unet().config();
        int levels = c.numLevels(), perLevel = c.numResBlocks() + 1;
        double flops = 0;
        int convolutions = 0;
        for (Map.Entry<String, TensorView> t : weights.checkpoint().tensors().entrySet()) {
            String name = t.getKey();
            long[] s = t.getValue().shape();
            if (!name.startsWith(StableDiffusionWeights.UNET_PREFIX) || s.length != 4) {
                continue;
            }
            String[] part = name.substring(StableDiffusionWeights.UNET_PREFIX.length()).split("\\.");
            int level = switch (part[0]) {
                case "input_blocks" -> {
                    int i = Integer.parseInt(part[1]);
                    int l = i == 0 ? 0 : (i - 1) / perLevel;
                    yield part[3].equals("op") ? l + 1 : l; // input_blocks.i.0.op: Downsample
                }
                case "middle_block" -> levels - 1;
                case "output_blocks" -> {
                    int l = levels - 1 - Integer.parseInt(part[1]) / perLevel;
                    yield part[3].equals("conv") ? l - 1 : l; // output_blocks.j.k.conv: Upsample
                }
                case "out" -> 0;
                default -> throw new AssertionError("a convolution outside the known blocks: " + name);
            };
            flops += 2.0 * batch * (h >> level) * (w >> level) * s[0] * s[1] * s[2] * s[3];
            convolutions++;
        }
        // 1 + 4 levels x 2 ResBlocks x (2 + proj_in/out) + 3 Downsamples + skips, middle, output side: > 40
        assertTrue(convolutions > 40, "convolutions found: " + convolutions);
        return flops;
    }

    @Test
    void onlyTheStartingThreadIsRecorded() throws Exception {
        Path root = Fixtures.sd15Tiny();
        ExecutorService other = Executors.newSingleThreadExecutor();
        try (SafeTensorsFile cases = SafeTensorsFile.open(root.resolve("cases.safetensors"));
                Arena arena = Arena.ofShared();
                Profile profile = Profile.start()) {
            TensorView t = TensorView.ofFloats(arena, new float[] {500f, 500f}, 2);
            other.submit(() -> pipeline.unet().forward(cases.view("unet.x"), t, cases.view("unet.context"), arena)).get();
            assertEquals(List.of(), profile.entries());
            ExecutionException e = assertThrows(ExecutionException.class, () -> other.submit(profile::stop).get());
            assertTrue(e.getCause() instanceof IllegalStateException, "stop belongs on the recording thread: " + e);
            assertTrue(profile.recording());
            pipeline.unet().forward(cases.view("unet.x"), t, cases.view("unet.context"), arena);
            assertEquals(1, entry(profile.entries(), "unet", "other").calls());
        } finally {
            other.shutdown();
        }
    }

    @Test
    void peakFlopsAreMeasuredForF32AndBf16Only() {
        PeakFlops peak = PeakFlops.measure(DType.F32, 0.2);
        assertEquals(DType.F32, peak.dtype());
        assertTrue(peak.gflops() > 0 && Double.isFinite(peak.gflops()), peak.toString());
        assertThrows(InvalidInputException.class, () -> PeakFlops.measure(DType.F16, 0.2));
        assertThrows(InvalidInputException.class, () -> PeakFlops.measure(DType.F32, 0));
    }
}
