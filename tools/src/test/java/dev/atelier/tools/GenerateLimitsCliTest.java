package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.NativeInfo;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.sd.Pipeline;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * atelier generate with sizes, counts and weights a hostile user picks: each refused with one
 * line and exit code 2 before the work starts, or handled without keeping every image.
 */
class GenerateLimitsCliTest {
    @TempDir
    Path dir;

    private static Path fixtures() {
        return CatalogCliTest.mobilenet().getParent();
    }

    /** generate on the fixture model at 64 x 64, 2 Euler steps, one thread, plus args. */
    private CliRun generate(String... args) {
        return CliRun.of(generateArgs(args).toArray(String[]::new));
    }

    private List<String> generateArgs(String... args) {
        List<String> all = new ArrayList<>(List.of("generate", "--model",
                fixtures().resolve("model/model.safetensors").toString(), "--config",
                fixtures().resolve("model/model.yaml").toString(), "--sampler", "euler", "--steps", "2", "--out",
                dir.resolve("out").toString()));
        all.addAll(Arrays.asList(args));
        if (!all.contains("--threads")) {
            all.addAll(List.of("--threads", "1"));
        }
        return all;
    }

    private List<Path> outputs() throws IOException {
        if (!Files.isDirectory(dir.resolve("out"))) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir.resolve("out"))) {
            return s.sorted().toList();
        }
    }

    @Test
    void aSizeWhoseActivationsCannotFitIsRefusedBeforeAnyStep() throws IOException {
        long start = System.nanoTime();
        CliRun r = generate("--prompt", "jacket", "--width", "8192", "--height", "8192", "--batch-size", "64");
        double seconds = (System.nanoTime() - start) / 1e9;
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("8192x8192 x batch size 64 needs about") && r.err().contains("activation memory")
                && r.err().contains("more than the limit of"), r.err());
        assertFalse(r.err().contains("step ("), "no step ran: " + r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertEquals(List.of(), outputs());
        assertTrue(seconds < 20, seconds + " s");
    }

    @Test
    void countsWhoseProductOrSeedsOverflowAreBadInput() {
        CliRun product = generate("--prompt", "jacket", "--batch-size", "65536", "--batch-count", "65536");
        assertEquals(2, product.code(), product.err());
        assertTrue(product.err().contains("batch size x batch count must be at most"), product.err());
        CliRun seeds = generate("--prompt", "jacket", "--seed", Long.toString(Long.MAX_VALUE), "--batch-size", "2");
        assertEquals(2, seeds.code(), seeds.err());
        assertTrue(seeds.err().contains("seed " + Long.MAX_VALUE + " + 1"), seeds.err());
    }

    @Test
    void threadsAboveTheCoresNeedTheForceFlag() {
        int cores = Runtime.getRuntime().availableProcessors();
        CliRun r = generate("--prompt", "jacket", "--width", "64", "--height", "64", "--threads", Integer.toString(cores + 1));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--threads " + (cores + 1) + " is more than the " + cores + " cores")
                && r.err().contains("--threads-force"), r.err());
        int before = NativeInfo.read().threads();
        try {
            CliRun forced = generate("--prompt", "jacket", "--width", "64", "--height", "64", "--seed", "1", "--threads",
                    Integer.toString(cores + 1), "--threads-force");
            assertEquals(0, forced.code(), forced.err());
        } finally {
            NativeInfo.setThreads(before);
        }
    }

    @Test
    void everyBatchIsWrittenAndItsLatentsKeptInOrder() throws IOException {
        Path latents = dir.resolve("latents.safetensors");
        CliRun r = generate("--prompt", "jacket", "--width", "64", "--height", "64", "--seed", "5", "--batch-size", "1",
                "--batch-count", "3", "--save-latents", latents.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        List<Path> pngs = outputs();
        assertEquals(3, pngs.size(), pngs.toString());
        for (int k = 0; k < 3; k++) {
            assertEquals(5 + k, r.json().get("images").get(k).get("seed").asLong());
            assertTrue(pngs.get(k).getFileName().toString().endsWith("-" + (5 + k) + ".png"), pngs.toString());
            String png = new String(Files.readAllBytes(pngs.get(k)), StandardCharsets.ISO_8859_1);
            assertTrue(png.contains("Seed: " + (5 + k) + ","), png.substring(0, Math.min(300, png.length())));
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(latents)) {
            assertArrayEquals(new long[] {3, 4, 8, 8}, f.view("latents").shape());
            float[] all = f.view("latents").toFloatArray();
            // Batch k's latents sit at k: batches of one differ from each other.
            assertFalse(Arrays.equals(Arrays.copyOfRange(all, 0, 256), Arrays.copyOfRange(all, 256, 512)));
        }
    }

    @Test
    void thePngNamesTheLorasAsA1111Does() throws IOException {
        String hash = addnetHash(fixtures().resolve("lora_kohya.safetensors"));
        CliRun tagged = generate("--prompt", "jacket <lora:lora_kohya:0.8>", "--lora-dir", fixtures().toString(),
                "--width", "64", "--height", "64", "--seed", "1");
        assertEquals(0, tagged.code(), tagged.err());
        String png = new String(Files.readAllBytes(outputs().getFirst()), StandardCharsets.ISO_8859_1);
        assertTrue(png.contains("jacket <lora:lora_kohya:0.8>\nSteps: 2"), "the tag stays in the prompt");
        assertTrue(png.contains(", Lora hashes: \"lora_kohya: " + hash + "\""), png.substring(0, Math.min(400, png.length())));

        Files.delete(outputs().getFirst());
        CliRun option = generate("--prompt", "jacket", "--lora", fixtures().resolve("lora_kohya.safetensors") + ":0.8",
                "--width", "64", "--height", "64", "--seed", "1");
        assertEquals(0, option.code(), option.err());
        png = new String(Files.readAllBytes(outputs().getFirst()), StandardCharsets.ISO_8859_1);
        assertTrue(png.contains(", Lora hashes: \"lora_kohya: " + hash + "\""), png.substring(0, Math.min(400, png.length())));
    }

    @Test
    void aLoraHoldingNaNIsRefusedNamingTheFileAndTensor() throws Exception {
        Path bad = dir.resolve("nan.safetensors");
        String poisoned;
        try (SafeTensorsFile lora = SafeTensorsFile.open(fixtures().resolve("lora_kohya.safetensors"));
                Arena arena = Arena.ofConfined()) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            poisoned = lora.tensors().keySet().stream().filter(k -> k.endsWith("lora_up.weight")).sorted().findFirst()
                    .orElseThrow();
            for (String key : lora.tensors().keySet()) {
                TensorView v = lora.view(key);
                if (key.equals(poisoned)) {
                    float[] values = v.toFloatArray();
                    values[values.length / 2] = Float.NaN;
                    v = TensorView.ofFloats(arena, values, v.shape());
                }
                w.add(key, v);
            }
            w.write(bad);
        }
        CliRun r = generate("--prompt", "jacket", "--lora", bad.toString(), "--width", "64", "--height", "64");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("nan.safetensors") && r.err().contains(poisoned)
                && r.err().contains("1 of ") && r.err().contains("values are NaN or infinite"), r.err());
        assertEquals(List.of(), outputs());

        // The values are checked from the file, before the native library loads.
        CliRun alone = CliRun.withoutNativeLibrary(dir, generateArgs("--prompt", "jacket", "--lora", bad.toString(),
                "--width", "64", "--height", "64", "--tokenizer", fixtures().resolve("model/tokenizer").toString()));
        assertEquals(2, alone.code(), alone.out());
        assertTrue(alone.out().contains(poisoned) && !alone.out().contains("libatelier"), alone.out());

        // The command names its LoRAs when it loads the model: they are refused by the load itself,
        // right after the checkpoint is read, before the tokenizer and the networks.
        Pipeline.Options options = Pipeline.Options.defaults().withConfig(fixtures().resolve("model/model.yaml"))
                .withTokenizer(fixtures().resolve("model/tokenizer")).withLoras(List.of(bad));
        FormatException e = assertThrows(FormatException.class,
                () -> Pipeline.load(fixtures().resolve("model/model.safetensors"), options).close());
        assertTrue(e.getMessage().contains("nan.safetensors") && e.getMessage().contains("NaN"), e.getMessage());
    }

    @Test
    void latentsThatStopBeingFiniteStopTheRunNamingTheStep() throws IOException {
        CliRun r = generate("--prompt", "jacket", "--negative", "blurry", "--cfg", "1e38", "--width", "64", "--height",
                "64", "--seed", "1");
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("no longer finite") && r.err().contains("after step 1 of 2"), r.err());
        assertEquals(List.of(), outputs(), "no black image is written");
    }

    /** kohya's "addnet" hash, first 12 digits: SHA-256 of the file after its safetensors header. */
    private static String addnetHash(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        long header = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        byte[] body = Arrays.copyOfRange(bytes, (int) (8 + header), bytes.length);
        try {
            return HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(body)).substring(0, 12);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
