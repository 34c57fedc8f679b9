package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.testing.DiffusersCopy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** atelier generate on the fixture model, with its YAML, through the launcher's code path. */
class GenerateCliTest {
    @TempDir
    Path dir;

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    private static Path model() {
        return CatalogCliTest.mobilenet().getParent().resolve("model");
    }

    @Test
    void generatesPngsWithTheirSettingsAndLatents() throws IOException {
        Path out = dir.resolve("out");
        CliRun r = run("generate", "--model", model().resolve("model.safetensors").toString(), "--config",
                model().resolve("model.yaml").toString(), "--prompt", "a denim jacket", "--negative", "blurry",
                "--sampler", "euler", "--steps", "3", "--cfg", "5", "--seed", "7", "--width", "64", "--height", "64",
                "--batch", "2", "--save-latents", dir.resolve("latents.safetensors").toString(), "--out", out.toString(),
                "--json", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        assertEquals(2, r.json().get("images").size());
        assertEquals(8, r.json().get("images").get(1).get("seed").asLong());
        assertTrue(r.err().contains("generate: 3/3 step (100%)") && r.err().contains("images 1-2/2"), r.err());
        List<Path> pngs;
        try (Stream<Path> s = Files.list(out)) {
            pngs = s.sorted().toList();
        }
        assertEquals(2, pngs.size());
        String bytes = new String(Files.readAllBytes(pngs.getFirst()), StandardCharsets.ISO_8859_1);
        assertTrue(bytes.contains("parameters"), "A1111 parameters chunk");
        assertTrue(bytes.contains("Steps: 3, Sampler: Euler, CFG scale: 5"), bytes.substring(0, Math.min(400, bytes.length())));
        assertTrue(bytes.contains("Seed: 7") && bytes.contains("Size: 64x64"));
        assertTrue(Files.exists(dir.resolve("latents.safetensors")));
    }

    @Test
    void badSettingsAreBadInput() {
        Path m = model().resolve("model.safetensors");
        assertEquals(2, run("generate", "--model", m.toString(), "--prompt", "x", "--width", "60", "--out", dir.toString()).code());
        assertEquals(2, run("generate", "--model", m.toString(), "--prompt", "x", "--precision", "fp8", "--out", dir.toString()).code());
        assertEquals(2, run("generate", "--model", m.toString(), "--prompt", "x", "--sampler", "plms", "--out", dir.toString()).code());
        CliRun gpu = run("generate", "--model", m.toString(), "--prompt", "x", "--device", "cuda:7", "--out", dir.toString());
        assertEquals(2, gpu.code(), gpu.err());
        assertTrue(gpu.err().contains("--device cuda:7: this libatelier sees"), gpu.err());
        CliRun device = run("generate", "--model", m.toString(), "--prompt", "x", "--device", "gpu", "--out", dir.toString());
        assertEquals(2, device.code(), device.err());
        assertTrue(device.err().contains("unknown device \"gpu\""), device.err());
        CliRun half = run("generate", "--model", m.toString(), "--prompt", "x", "--precision", "fp16", "--out", dir.toString());
        assertEquals(2, half.code(), half.err());
        assertTrue(half.err().contains("F16 runs on CUDA only"), half.err());
        CliRun foreign = run("generate", "--model", model().resolve("model.yaml").toString(), "--prompt", "x", "--out", dir.toString());
        assertEquals(2, foreign.code(), foreign.err());
        assertTrue(foreign.err().contains("model.yaml"), foreign.err());
    }

    @Test
    void profileGoesToStderrAsATableAndIntoTheJson() {
        CliRun r = run("generate", "--model", model().resolve("model.safetensors").toString(), "--config",
                model().resolve("model.yaml").toString(), "--prompt", "a denim jacket", "--sampler", "euler", "--steps",
                "2", "--seed", "3", "--width", "64", "--height", "64", "--out", dir.toString(), "--profile", "--kernels",
                "torch", "--json", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        assertEquals("torch", r.json().get("kernels").asText());
        JsonNode profile = r.json().get("profile");
        assertTrue(profile.get("peak_gflops").asDouble() > 0, profile.toString());
        java.util.Set<String> networks = new java.util.LinkedHashSet<>();
        for (JsonNode e : profile.get("entries")) {
            networks.add(e.get("network").asText());
            for (String field : List.of("op_class", "calls", "seconds", "flops")) {
                assertTrue(e.has(field), field + " in " + e);
            }
            if (e.get("network").asText().equals("unet") && e.get("op_class").asText().equals("other")) {
                assertEquals(2, e.get("calls").asLong(), "one UNet call per Euler step");
            }
            if (e.get("network").asText().equals("unet") && e.get("op_class").asText().equals("convolution")) {
                assertTrue(e.get("flops").asDouble() > 0, e.toString());
            }
        }
        assertEquals(List.of("text_encoder", "unet", "vae"), List.copyOf(networks));
        for (String network : networks) {
            assertTrue(r.err().contains("| " + network + " | **total** |"), r.err());
        }
    }

    @Test
    void theCheckpointsStoredScheduleIsAnOptionRecordedInThePng() throws IOException {
        Path m = model().resolve("model.safetensors");
        Path out = dir.resolve("out");
        CliRun r = run("generate", "--model", m.toString(), "--config", model().resolve("model.yaml").toString(),
                "--prompt", "jacket", "--sampler", "euler", "--steps", "2", "--width", "64", "--height", "64",
                "--seed", "1", "--schedule-source", "checkpoint", "--out", out.toString(), "--threads", "1");
        assertEquals(0, r.code(), r.err());
        Path png;
        try (Stream<Path> s = Files.list(out)) {
            png = s.findFirst().orElseThrow();
        }
        String bytes = new String(Files.readAllBytes(png), StandardCharsets.ISO_8859_1);
        assertTrue(bytes.contains("Schedule source: checkpoint"), bytes.substring(0, Math.min(400, bytes.length())));
        CliRun bad = run("generate", "--model", m.toString(), "--prompt", "x", "--schedule-source", "fp16", "--out",
                dir.toString());
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("\"fp16\"") && bad.err().contains("config, checkpoint"), bad.err());
    }

    @Test
    void kernelsAreChosenByName() {
        Path m = model().resolve("model.safetensors");
        CliRun bad = run("generate", "--model", m.toString(), "--prompt", "x", "--kernels", "fast", "--out", dir.toString());
        assertEquals(2, bad.code(), bad.err());
        assertTrue(bad.err().contains("\"fast\"") && bad.err().contains("auto, reference, avx512, torch"), bad.err());
        CliRun help = run("generate", "--help");
        assertEquals(0, help.code());
        String text = help.out().replaceAll("\\s+", " "); // the help wraps its lines
        assertTrue(text.contains("--kernels=NAME") && text.contains("auto, reference, avx512, torch"), help.out());
        assertTrue(help.out().contains("--profile"), help.out());
    }

    @Test
    void aSavedConfigRepeatsTheRunExactly() throws IOException {
        Path saved = dir.resolve("run.yaml");
        CliRun first = run("generate", "--model", model().resolve("model.safetensors").toString(), "--config",
                model().resolve("model.yaml").toString(), "--prompt", "a denim jacket", "--sampler", "euler", "--steps",
                "2", "--width", "64", "--height", "64", "--out", dir.resolve("a").toString(), "--save-config",
                saved.toString(), "--json", "--threads", "1");
        assertEquals(0, first.code(), first.err());
        long seed = first.json().get("seed").asLong();
        assertTrue(seed >= 0, "a random seed was drawn and recorded");
        assertTrue(Files.readString(saved).contains("seed: " + seed), Files.readString(saved));
        CliRun again = run("generate", "--config-file", saved.toString(), "--out", dir.resolve("b").toString(), "--json");
        assertEquals(0, again.code(), again.err());
        assertEquals(seed, again.json().get("seed").asLong());
        Path a = Path.of(first.json().get("images").get(0).get("path").asText());
        Path b = Path.of(again.json().get("images").get(0).get("path").asText());
        assertEquals(a.getFileName(), b.getFileName());
        assertArrayEquals(Files.readAllBytes(a), Files.readAllBytes(b), "the same settings make the same image");
    }

    /**
     * --lora and A1111's prompt tag apply the fixture's kohya LoRA (unmerged, multiplier 0.8 on both
     * networks); the result matches the reference, computed by merging W += 0.8 * alpha/rank * up @ down
     * into the weights and sampling DDIM from the same noise.
     */
    @Test
    void loraOptionAndPromptTagMatchTheKohyaMergedReference() throws IOException {
        Path fixtures = model().getParent();
        Path noise = dir.resolve("noise.safetensors");
        try (SafeTensorsFile cases = SafeTensorsFile.open(fixtures.resolve("cases.safetensors"))) {
            new SafeTensorsWriter().add("noise", cases.view("lora.sample.noise")).write(noise);
            float[] want = cases.view("lora.sample.latents").toFloatArray();
            String[][] ways = {
                {"--prompt", "jacket", "--lora", fixtures.resolve("lora_kohya.safetensors") + ":0.8"},
                {"--prompt", "jacket <lora:lora_kohya:0.8>", "--lora-dir", fixtures.toString()}};
            for (String[] way : ways) {
                Path latents = dir.resolve("latents-" + way.length + ".safetensors");
                List<String> args = new java.util.ArrayList<>(List.of("generate", "--model",
                        model().resolve("model.safetensors").toString(), "--config", model().resolve("model.yaml").toString(),
                        "--sampler", "ddim", "--steps", "4", "--cfg", "7.5", "--seed", "1", "--width", "64", "--height", "64",
                        "--init-latents", noise.toString(), "--save-latents", latents.toString(), "--out",
                        dir.resolve("out").toString(), "--json"));
                args.addAll(List.of(way));
                CliRun r = run(args.toArray(String[]::new));
                assertEquals(0, r.code(), r.err());
                assertEquals(1, r.json().get("loras").size(), r.out());
                try (SafeTensorsFile got = SafeTensorsFile.open(latents)) {
                    float[] g = got.view("latents").toFloatArray();
                    double err = 0, scale = 0;
                    for (int i = 0; i < want.length; i++) {
                        err = Math.max(err, Math.abs(g[i] - want[i]));
                        scale = Math.max(scale, Math.abs(want[i]));
                    }
                    assertTrue(err / scale < 1e-4, String.join(" ", way) + ": relative error " + err / scale);
                }
            }
        }
        CliRun missing = run("generate", "--model", model().resolve("model.safetensors").toString(), "--prompt", "x",
                "--lora", dir.resolve("none.safetensors").toString(), "--out", dir.toString());
        assertEquals(2, missing.code(), missing.err());
        assertTrue(missing.err().contains("none.safetensors"), missing.err());
    }

    /**
     * A diffusers folder as --model generates what its single-file original does (the same
     * latents), and the PNG names the folder and the short hash of its UNet weights file.
     */
    @Test
    void aDiffusersFolderGeneratesAsTheSingleFileDoes() throws IOException {
        Path folder = dir.resolve("tiny-diffusers.v1");
        try (SafeTensorsFile m = SafeTensorsFile.open(model().resolve("model.safetensors"))) {
            DiffusersCopy.write(m, folder, false);
        }
        String[] settings = {"generate", "--config", model().resolve("model.yaml").toString(), "--tokenizer",
            model().resolve("tokenizer").toString(), "--prompt", "a denim jacket", "--sampler", "euler", "--steps", "2",
            "--seed", "5", "--width", "64", "--height", "64", "--threads", "1", "--json"};
        CliRun fromFolder = run(concat(settings, "--model", folder.toString(), "--save-latents",
                dir.resolve("folder.safetensors").toString(), "--out", dir.resolve("folder").toString()));
        assertEquals(0, fromFolder.code(), fromFolder.err());
        CliRun fromFile = run(concat(settings, "--model", model().resolve("model.safetensors").toString(),
                "--save-latents", dir.resolve("file.safetensors").toString(), "--out", dir.resolve("file").toString()));
        assertEquals(0, fromFile.code(), fromFile.err());
        try (SafeTensorsFile a = SafeTensorsFile.open(dir.resolve("folder.safetensors"));
                SafeTensorsFile b = SafeTensorsFile.open(dir.resolve("file.safetensors"))) {
            assertArrayEquals(b.view("latents").toFloatArray(), a.view("latents").toFloatArray());
        }
        Path png = Path.of(fromFolder.json().get("images").get(0).get("path").asText());
        String bytes = new String(Files.readAllBytes(png), StandardCharsets.ISO_8859_1);
        String unetHash = dev.atelier.engine.util.Sha256.hexOfFiles(
                List.of(folder.resolve("unet/diffusion_pytorch_model.safetensors"))).substring(0, 10);
        assertTrue(bytes.contains("Model hash: " + unetHash + ", Model: tiny-diffusers.v1"),
                bytes.substring(0, Math.min(400, bytes.length())));
    }

    /**
     * Sizes that are multiples of 8 but not of 64 (latents 65x64: odd at every level of the UNet)
     * generate: the UNet's up path interpolates to each skip connection's size.
     */
    @Test
    void sizesThatAreMultiplesOf8ButNotOf64Generate() throws IOException {
        Path latents = dir.resolve("latents.safetensors");
        CliRun r = run("generate", "--model", model().resolve("model.safetensors").toString(), "--config",
                model().resolve("model.yaml").toString(), "--prompt", "a denim jacket", "--sampler", "euler", "--steps",
                "1", "--seed", "3", "--width", "520", "--height", "512", "--save-latents", latents.toString(), "--out",
                dir.resolve("out").toString(), "--json", "--threads", "1");
        assertEquals(0, r.code(), r.err());
        Path png = Path.of(r.json().get("images").get(0).get("path").asText());
        java.awt.image.BufferedImage image = javax.imageio.ImageIO.read(png.toFile());
        assertEquals(520, image.getWidth());
        assertEquals(512, image.getHeight());
        try (SafeTensorsFile f = SafeTensorsFile.open(latents)) {
            assertArrayEquals(new long[] {1, 4, 64, 65}, f.view("latents").shape());
            for (float v : f.view("latents").toFloatArray()) {
                assertTrue(Float.isFinite(v));
            }
        }
    }

    /** A config or settings file that is not UTF-8 is bad input naming the file, the line and the byte. */
    @Test
    void aFileThatIsNotUtf8NamesTheFileAndTheLine() throws IOException {
        Path yaml = dir.resolve("latin1.yaml");
        List<String> lines = new java.util.ArrayList<>(Files.readAllLines(model().resolve("model.yaml")));
        lines.add(1, "# caf\u00e9");
        Files.write(yaml, lines, StandardCharsets.ISO_8859_1);
        CliRun r = run("generate", "--model", model().resolve("model.safetensors").toString(), "--config", yaml.toString(),
                "--prompt", "x", "--out", dir.resolve("out").toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains(yaml + ":2: not UTF-8 text (byte 0xE9 at byte 6 of the line)"), r.err());
        Path settings = dir.resolve("settings.yaml");
        Files.write(settings, List.of("steps: 2", "prompt: caf\u00e9"), StandardCharsets.ISO_8859_1);
        r = run("generate", "--config-file", settings.toString(), "--out", dir.resolve("out").toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains(settings + ":2: not UTF-8 text (byte 0xE9"), r.err());
    }

    private static String[] concat(String[] a, String... b) {
        return java.util.stream.Stream.concat(java.util.Arrays.stream(a), java.util.Arrays.stream(b))
                .toArray(String[]::new);
    }
}
