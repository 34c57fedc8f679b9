package dev.atelier.engine.sd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.testing.Fixtures;
import dev.atelier.engine.text.LongPromptMode;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One noise schedule: computed from the config's betas in double precision, used by generation
 * (and training) whatever the checkpoint stores; the checkpoint's stored alphas_cumprod only on
 * request, and then recorded in the PNG parameters.
 */
class NoiseScheduleTest {
    private static final Path ROOT = Fixtures.sd15Tiny();
    private static final Path MODEL = ROOT.resolve("model/model.safetensors");
    private static final Path YAML = ROOT.resolve("model/model.yaml");
    // DPM++ 2M Karras at 7 steps: the reference implementations' setting the fp16 schedule moves most.
    private static final GenerationRequest REQUEST = GenerationRequest.of("a denim jacket", "blurry", 3)
            .withSampler(Sampler.DPMPP_2M_KARRAS, 7).withSize(64, 64);

    @TempDir
    Path tmp;

    /** torch.linspace(sqrt(start), sqrt(end), n, float64) ** 2, then the cumulative product of 1 - beta, in double. */
    private static double[] ldmLinearSchedule(double start, double end, int n) {
        double a = Math.sqrt(start), b = Math.sqrt(end), step = (b - a) / (n - 1), acc = 1;
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            // torch's linspace kernel: from the start for the first half, from the end for the second
            double v = i < n / 2 ? a + step * i : b - step * (n - 1 - i);
            acc *= 1 - v * v;
            out[i] = acc;
        }
        return out;
    }

    private Path yamlWithBetas(double start, double end) throws IOException {
        String text = Files.readString(YAML);
        assertTrue(text.contains("linear_start: 0.00085") && text.contains("linear_end: 0.0120"), text);
        Path yaml = tmp.resolve("betas-" + start + "-" + end + ".yaml");
        Files.writeString(yaml, text.replace("linear_start: 0.00085", "linear_start: " + start)
                .replace("linear_end: 0.0120", "linear_end: " + end));
        return yaml;
    }

    private static Pipeline.Options options(Path yaml) {
        return new Pipeline.Options(Optional.of(ROOT.resolve("model/tokenizer")), Optional.of(yaml), Optional.empty(),
                DType.F32, LongPromptMode.CHUNKED, OpKernel.AUTO, ScheduleSource.CONFIG);
    }

    private static float[] latents(Path model, Pipeline.Options options) {
        try (Pipeline p = Pipeline.load(model, options)) {
            return p.generate(REQUEST, null).latents();
        }
    }

    private static double maxAbs(float[] v) {
        double m = 0;
        for (float x : v) {
            m = Math.max(m, Math.abs(x));
        }
        return m;
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    @Test
    void theScheduleComesFromTheConfigsBetasInDoublePrecision() throws IOException {
        LdmConfig config = LdmConfig.load(yamlWithBetas(0.0015, 0.0195));
        assertEquals(0.0015, config.linearStart());
        assertEquals(0.0195, config.linearEnd());
        try (Arena arena = Arena.ofConfined()) {
            TensorView schedule = Sampling.alphasCumprod(config, arena);
            assertEquals(DType.F64, schedule.dtype());
            assertArrayEquals(new long[] {1000}, schedule.shape());
            double[] got = schedule.data().toArray(ValueLayout.JAVA_DOUBLE);
            double[] want = ldmLinearSchedule(0.0015, 0.0195, 1000);
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], got[i], 1e-15 * want[i], "alphas_cumprod[" + i + "]");
            }
            double[] sd15 = Sampling.alphasCumprod(LdmConfig.sd15(), arena).data().toArray(ValueLayout.JAVA_DOUBLE);
            assertTrue(Math.abs(sd15[999] - got[999]) > 1e-3, "the betas changed nothing: " + sd15[999] + " " + got[999]);
        }
    }

    @Test
    void generationSamplesWithTheYamlsBetas() throws IOException {
        Path yaml = yamlWithBetas(0.0015, 0.0195);
        float[] standard = latents(MODEL, options(YAML));
        try (Pipeline p = Pipeline.load(MODEL, options(yaml)); Arena arena = Arena.ofConfined()) {
            float[] other = p.generate(REQUEST, null).latents();
            double moved = maxAbsDiff(other, standard) / maxAbs(standard);
            System.out.printf("non-default betas move the latents by %.3g of max|latent|%n", moved);
            assertTrue(moved > 1e-2, "the YAML's betas were ignored: " + moved);
            // Exactly the sampling loop on the schedule computed from the YAML.
            TensorView[] ctx = p.encodePrompts(REQUEST.prompt(), REQUEST.negative(), REQUEST.clipSkip(), arena);
            float[] direct = Sampling.generate(p.unet(), Sampling.alphasCumprod(LdmConfig.load(yaml), arena),
                    SampleParams.of(REQUEST, 0), ctx[0], ctx[1], null, null, arena).toFloatArray();
            assertArrayEquals(direct, other);
        }
    }

    /** The fixture with its alphas_cumprod stored in fp16 (as pruned checkpoints store it), or without one. */
    private Path copyWithSchedule(DType dtype) {
        Path out = tmp.resolve("model-" + (dtype == null ? "none" : dtype.name()) + ".safetensors");
        try (SafeTensorsFile f = SafeTensorsFile.open(MODEL); Arena arena = Arena.ofConfined()) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (String name : f.tensors().keySet()) {
                if (!name.equals(StableDiffusionWeights.ALPHAS_CUMPROD)) {
                    w.add(name, f.view(name));
                } else if (dtype != null) {
                    TensorView acp = f.view(name);
                    assertEquals(DType.F32, acp.dtype());
                    float[] values = acp.toFloatArray();
                    MemorySegment half = arena.allocate(ValueLayout.JAVA_SHORT, values.length);
                    for (int i = 0; i < values.length; i++) {
                        half.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16(values[i]));
                    }
                    w.add(name, TensorView.of(half, DType.F16, values.length));
                }
            }
            w.write(out);
        }
        return out;
    }

    @Test
    void anFp16StoredScheduleGivesTheFullPrecisionResultUnlessAskedFor() {
        Path fp16 = copyWithSchedule(DType.F16);
        float[] reference = latents(MODEL, options(YAML)); // the fixture stores its schedule in F32
        float[] fromFp16Checkpoint = latents(fp16, options(YAML));
        assertArrayEquals(reference, fromFp16Checkpoint, "the fp16 alphas_cumprod was used by default");

        try (Pipeline p = Pipeline.load(fp16, options(YAML).withSchedule(ScheduleSource.CHECKPOINT))) {
            assertEquals(DType.F16, p.alphasCumprod().dtype());
            Generation g = p.generate(REQUEST, null);
            double moved = maxAbsDiff(g.latents(), reference) / maxAbs(reference);
            System.out.printf("the fp16 schedule moves DPM++ 2M Karras at 7 steps by %.3g of max|latent|%n", moved);
            assertTrue(moved > 1e-4, "the checkpoint's fp16 schedule changed nothing: " + moved);
            assertTrue(g.images().getFirst().parameters().endsWith(", Schedule source: checkpoint"),
                    g.images().getFirst().parameters());
        }
        try (Pipeline p = Pipeline.load(fp16, options(YAML))) {
            assertFalse(p.generate(REQUEST, null).images().getFirst().parameters().contains("Schedule source"));
        }
    }

    @Test
    void badScheduleSettingsAreClearErrors() throws IOException {
        Path none = copyWithSchedule(null);
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> Pipeline.load(none, options(YAML).withSchedule(ScheduleSource.CHECKPOINT)));
        assertTrue(e.getMessage().contains("stores no alphas_cumprod"), e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> ScheduleSource.fromName("fp16"));
        assertEquals("unknown schedule source \"fp16\"; known: config, checkpoint", e.getMessage());

        Path cosine = tmp.resolve("cosine.yaml");
        Files.writeString(cosine, Files.readString(YAML).replace("timesteps: 1000", "timesteps: 1000\n    beta_schedule: cosine"));
        FormatException f = assertThrows(FormatException.class, () -> LdmConfig.load(cosine));
        assertTrue(f.getMessage().contains("beta_schedule \"cosine\" is not supported"), f.getMessage());
        FormatException g = assertThrows(FormatException.class, () -> LdmConfig.load(yamlWithBetas(0.02, 0.001)));
        assertTrue(g.getMessage().contains("0 < linear_start <= linear_end < 1"), g.getMessage());
    }
}
