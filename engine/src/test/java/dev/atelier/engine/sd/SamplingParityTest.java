package dev.atelier.engine.sd;

import dev.atelier.engine.testing.MaxError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException.CancelledException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.testing.Fixtures;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The denoising loop against the sd15-tiny fixtures (k-diffusion and CompVis DDIM with the
 * reference networks): final latents from the given noise within 1e-3 of max|ref|, the PNG
 * within 2/255 per pixel. Plus seeds, bad input and cancellation on the real UNet.
 */
class SamplingParityTest {
    private static final double LATENT_TOLERANCE = 1e-3;
    private static final int PIXEL_TOLERANCE = 2;
    private static Pipeline pipeline;
    private static SafeTensorsFile cases;
    private static JsonNode samples;

    @BeforeAll
    static void open() throws IOException {
        Path root = Fixtures.sd15Tiny();
        // The fixture's text model has 2 heads, its UNet 4 (model.yaml).
        pipeline = Pipeline.load(root.resolve("model/model.safetensors"), Pipeline.Options.defaults()
                .withConfig(root.resolve("model/model.yaml")).withTokenizer(root.resolve("model/tokenizer")));
        cases = SafeTensorsFile.open(root.resolve("cases.safetensors"));
        samples = new ObjectMapper().readTree(cases.metadata().get("meta")).get("samples");
    }

    @AfterAll
    static void close() {
        cases.close();
        pipeline.close();
    }

    private static JsonNode sample(String name) {
        for (JsonNode s : samples) {
            if (s.get("name").asText().equals(name)) {
                return s;
            }
        }
        throw new IllegalStateException("no sample " + name + " in cases.safetensors meta");
    }

    private static Sampler samplerOf(JsonNode s) {
        String id = s.get("sampler").asText() + (s.path("karras").asBoolean(false) ? "_karras" : "");
        return Sampler.fromName(id);
    }

    /** The request of a fixture sample: 64x64 (8x8 latents), its prompts, cfg, steps. */
    private static GenerationRequest request(String name) {
        JsonNode s = sample(name);
        return new GenerationRequest(s.get("prompt").asText(), s.get("negative").asText(), samplerOf(s),
                s.get("steps").asInt(), s.get("cfg").asDouble(), 1234, 64, 64, 1, 1, 1, -1, null);
    }

    private static Path noiseFile(Path dir, String name) {
        Path p = dir.resolve(name + ".noise.safetensors");
        new SafeTensorsWriter().add("noise", cases.view("sample." + name + ".noise")).write(p);
        return p;
    }

    @ParameterizedTest
    @ValueSource(strings = {"ddim4", "euler6", "dpmpp2m_karras6"})
    void latentsMatchReference(String name) {
        GenerationRequest r = request(name);
        try (Arena arena = Arena.ofConfined()) {
            TensorView[] ctx = pipeline.encodePrompts(r.prompt(), r.negative(), 1, arena);
            TensorView noise = cases.view("sample." + name + ".noise");
            List<long[]> steps = new ArrayList<>();
            TensorView out = Sampling.generate(pipelineUnet(), alphas(), SampleParams.of(r, 0), ctx[0], ctx[1], noise,
                    (done, total) -> steps.add(new long[] {done, total}), arena);
            double e = MaxError.relative(out.toFloatArray(), cases.view("sample." + name + ".latents").toFloatArray());
            System.out.printf("sample %s (%s, %d steps, cfg %s): latents max abs error / max|ref| = %.3g (tolerance %.0e)%n",
                    name, r.sampler().displayName(), r.steps(), r.cfg(), e, LATENT_TOLERANCE);
            assertTrue(e <= LATENT_TOLERANCE, name + ": " + e);
            assertEquals(r.steps(), steps.size());
            assertArrayEquals(new long[] {r.steps(), r.steps()}, steps.get(steps.size() - 1));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"ddim4", "euler6", "dpmpp2m_karras6"})
    void pngMatchesReference(String name, @TempDir Path dir) throws IOException {
        GenerationRequest r = request(name).withInitNoise(noiseFile(dir, name));
        Generation g = pipeline.generate(r, null);
        List<Path> files = g.writePngs(dir, name);
        BufferedImage ref = ImageIO.read(Fixtures.sd15Tiny().resolve("sample_" + name + ".png").toFile());
        BufferedImage ours = ImageIO.read(files.get(0).toFile());
        assertEquals(ref.getWidth(), ours.getWidth());
        assertEquals(ref.getHeight(), ours.getHeight());
        int worst = 0;
        for (int y = 0; y < ref.getHeight(); y++) {
            for (int x = 0; x < ref.getWidth(); x++) {
                int a = ref.getRGB(x, y), b = ours.getRGB(x, y);
                for (int shift = 0; shift <= 16; shift += 8) {
                    worst = Math.max(worst, Math.abs(((a >> shift) & 255) - ((b >> shift) & 255)));
                }
            }
        }
        System.out.printf("sample_%s.png: max per-pixel difference %d/255 (tolerance %d/255)%n", name, worst,
                PIXEL_TOLERANCE);
        assertTrue(worst <= PIXEL_TOLERANCE, name + ": " + worst);
        String text = parametersChunk(files.get(0));
        String hash = Pipeline.shortHash(Fixtures.sd15Tiny().resolve("model/model.safetensors"));
        assertTrue(text.startsWith(r.prompt() + "\nNegative prompt: " + r.negative() + "\nSteps: " + r.steps()
                + ", Sampler: " + r.sampler().displayName() + ", CFG scale: " + Infotext.number(r.cfg()) + ", Seed: 1234, Size: 64x64, Model hash: "
                + hash + ", Model: model") || r.negative().isEmpty(), text);
        assertTrue(text.contains("Model hash: " + hash), text);
        assertEquals(10, hash.length());
    }

    private static String parametersChunk(Path png) throws IOException {
        try (ImageInputStream in = ImageIO.createImageInputStream(png.toFile())) {
            ImageReader reader = ImageIO.getImageReaders(in).next();
            reader.setInput(in);
            IIOMetadataNode root = (IIOMetadataNode) reader.getImageMetadata(0).getAsTree("javax_imageio_png_1.0");
            var entries = root.getElementsByTagName("tEXtEntry");
            for (int i = 0; i < entries.getLength(); i++) {
                IIOMetadataNode e = (IIOMetadataNode) entries.item(i);
                if (e.getAttribute("keyword").equals("parameters")) {
                    return e.getAttribute("value");
                }
            }
            throw new AssertionError("no parameters chunk in " + png);
        }
    }

    @Test
    void sameSeedSameLatentsAndBatchElementsOwnTheirSeeds(@TempDir Path dir) {
        GenerationRequest r = request("euler6").withSampler(Sampler.EULER_A, 5).withSeed(77);
        float[] a = pipeline.generate(r, null).latents();
        float[] b = pipeline.generate(r, null).latents();
        assertArrayEquals(a, b);
        float[] c = pipeline.generate(r.withSeed(78), null).latents();
        assertFalse(java.util.Arrays.equals(a, c));
        // A batch of 2 from seed 77 holds the images of seeds 77 and 78; so does a count of 2.
        float[] batch = pipeline.generate(r.withBatch(2, 1), null).latents();
        float[] count = pipeline.generate(r.withBatch(1, 2), null).latents();
        assertEquals(2 * a.length, batch.length);
        float[] second = java.util.Arrays.copyOfRange(batch, a.length, batch.length);
        assertTrue(MaxError.relative(java.util.Arrays.copyOf(batch, a.length), a) < 1e-5);
        assertTrue(MaxError.relative(second, c) < 1e-5);
        assertArrayEquals(a, java.util.Arrays.copyOf(count, a.length));
        assertTrue(MaxError.relative(java.util.Arrays.copyOfRange(count, a.length, count.length), c) < 1e-5);
        // Every sampler runs and repeats itself.
        for (Sampler s : Sampler.values()) {
            GenerationRequest q = r.withSampler(s, 3);
            assertArrayEquals(pipeline.generate(q, null).latents(), pipeline.generate(q, null).latents(), s.id());
        }
    }

    @Test
    void latentsRoundTripThroughSafetensors(@TempDir Path dir) {
        Generation g = pipeline.generate(request("euler6").withSampler(Sampler.EULER, 2), null);
        Path p = dir.resolve("latents.safetensors");
        g.saveLatents(p);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            TensorView v = f.view("latents");
            assertArrayEquals(new long[] {1, 4, 8, 8}, v.shape());
            assertArrayEquals(g.latents(), v.toFloatArray());
        }
    }

    @Test
    void badInputIsRefusedWithClearMessages(@TempDir Path dir) {
        assertThrows(InvalidInputException.class, () -> request("euler6").withSize(100, 64));
        assertThrows(InvalidInputException.class, () -> request("euler6").withSampler(Sampler.EULER, 0));
        assertThrows(InvalidInputException.class, () -> request("euler6").withCfg(Double.NaN));
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> Sampler.fromName("plms"));
        assertTrue(e.getMessage().contains("ddim, euler, euler_a"), e.getMessage());
        assertEquals(Sampler.EULER_A, Sampler.fromName("Euler a"));
        assertEquals(Sampler.DPMPP_SDE_KARRAS, Sampler.fromName("dpmpp_sde_karras"));
        // The native checks, bypassing the record's.
        try (Arena arena = Arena.ofConfined()) {
            GenerationRequest r = request("euler6");
            TensorView[] ctx = pipeline.encodePrompts(r.prompt(), r.negative(), 1, arena);
            SampleParams bad = new SampleParams(Sampler.EULER, false, 4, 7, -1, 1, 100, 64, 1);
            InvalidInputException n = assertThrows(InvalidInputException.class,
                    () -> Sampling.generate(pipelineUnet(), alphas(), bad, ctx[0], ctx[1], null, null, arena));
            assertTrue(n.getMessage().contains("width must be a positive multiple of 8"), n.getMessage());
            SampleParams nan = new SampleParams(Sampler.EULER, false, 4, Double.NaN, -1, 1, 64, 64, 1);
            assertThrows(InvalidInputException.class,
                    () -> Sampling.generate(pipelineUnet(), alphas(), nan, ctx[0], ctx[1], null, null, arena));
            SampleParams ddimKarras = new SampleParams(Sampler.DDIM, true, 4, 7, -1, 1, 64, 64, 1);
            assertThrows(InvalidInputException.class,
                    () -> Sampling.generate(pipelineUnet(), alphas(), ddimKarras, ctx[0], ctx[1], null, null, arena));
        }
        // A noise file of the wrong shape.
        Path wrong = dir.resolve("wrong.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            new SafeTensorsWriter().add("noise", TensorView.ofFloats(arena, new float[2 * 4 * 8 * 8], 2, 4, 8, 8)).write(wrong);
        }
        assertThrows(InvalidInputException.class, () -> pipeline.generate(request("euler6").withInitNoise(wrong), null));
    }

    @Test
    void cancellationStopsBetweenStepsAndLeavesNoFile(@TempDir Path dir) throws IOException {
        GenerationRequest r = request("dpmpp2m_karras6").withBatch(1, 2);
        List<Long> seen = new ArrayList<>();
        Path out = dir.resolve("out");
        assertThrows(CancelledException.class, () -> {
            Generation g = pipeline.generate(r, (done, total) -> {
                seen.add(done);
                return done < 8;  // the second batch's second step
            });
            g.writePngs(out, "img");
        });
        assertEquals(List.of(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L), seen);
        assertFalse(Files.exists(out));
        try (Stream<Path> s = Files.list(dir)) {
            assertEquals(0, s.count());
        }
        // The pipeline is usable after a cancel.
        assertEquals(2, pipeline.generate(r, null).images().size());
    }

    private static UNet pipelineUnet() {
        return pipeline.unet();
    }

    private static TensorView alphas() {
        return pipeline.alphasCumprod();
    }
}
