package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** atelier train-lora on the fixture model: --json result, progress with loss, checkpoints, config file. */
class TrainLoraCliTest {
    @TempDir
    Path dir;

    private static Path fixtures() {
        return CatalogCliTest.mobilenet().getParent();
    }

    @Test
    void trainsWithJsonProgressAndARepeatableConfig() throws IOException {
        Path photos = Files.createDirectories(dir.resolve("photos"));
        try (Stream<Path> s = Files.list(fixtures().resolve("mobilenet_v3_large/images"))) {
            for (Path p : s.sorted().limit(2).toList()) {
                Files.copy(p, photos.resolve(p.getFileName()));
            }
        }
        Path model = fixtures().resolve("model");
        Path saved = dir.resolve("lora.yaml");
        CliRun r = CliRun.of("train-lora", "--model", model.resolve("model.safetensors").toString(), "--config",
                model.resolve("model.yaml").toString(), "--tokenizer", model.resolve("tokenizer").toString(),
                "--images", photos.toString(), "--out", dir.resolve("lora.safetensors").toString(), "--caption",
                "photo of sks jacket", "--resolution", "64", "--max-steps", "2", "--save-every", "1", "--seed", "3",
                "--threads", "1", "--bf16", "--sample-every", "2", "--sample-steps", "3", "--save-config", saved.toString(),
                "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode result = r.json();
        assertEquals(2, result.get("steps").asInt());
        assertEquals(2, result.get("losses").size());
        assertTrue(Double.isFinite(result.get("final_loss").asDouble()));
        assertFalse(result.get("checkpoints").isEmpty(), result.toString());
        assertTrue(Files.exists(dir.resolve("lora.safetensors")));
        assertTrue(r.err().contains("train: 2/2 step (100%)") && r.err().contains("loss "), r.err());
        assertTrue(r.err().contains("checkpoint at step 1"), "checkpoints are logged: " + r.err());
        // --sample-every 2: one sample, at step 2, rendered with the caption as prompt at the training size.
        assertEquals(1, result.get("samples").size(), result.toString());
        Path sample = Path.of(result.get("samples").get(0).asText());
        assertEquals("lora-sample-step000002.png", sample.getFileName().toString());
        java.awt.image.BufferedImage image = javax.imageio.ImageIO.read(sample.toFile());
        assertEquals(64, image.getWidth());
        assertEquals(64, image.getHeight());
        assertTrue(new String(Files.readAllBytes(sample), java.nio.charset.StandardCharsets.ISO_8859_1)
                .contains("photo of sks jacket\nSteps: 3, Sampler: Euler a"), "A1111 parameters in the sample");

        String yaml = Files.readString(saved);
        assertTrue(yaml.contains("precision: bf16") && !yaml.contains("bf16: "), "--bf16 folds into --precision: " + yaml);
        // The saved file repeats the run: same settings, same losses.
        CliRun again = CliRun.of("train-lora", "--config-file", saved.toString(), "--out",
                dir.resolve("again.safetensors").toString(), "--save-every", "0", "--json");
        assertEquals(0, again.code(), again.err());
        List<Double> first = result.get("losses").valueStream().map(JsonNode::asDouble).toList();
        List<Double> second = again.json().get("losses").valueStream().map(JsonNode::asDouble).toList();
        assertEquals(first, second);
    }

    /**
     * A WebP (the JDK has no reader) in the training folder ends as it does in embed: exit code 2
     * and the same message, naming the file, before any training step. A CMYK JPEG is read by both
     * (converted to RGB as PIL does).
     */
    @Test
    void aWebpPhotoIsRefusedAsEmbedRefusesItAndCmykIsRead() throws IOException {
        Path model = fixtures().resolve("model");
        Path good;
        try (Stream<Path> s = Files.list(fixtures().resolve("mobilenet_v3_large/images"))) {
            good = s.sorted().findFirst().orElseThrow();
        }
        Path cmyk = dir.resolve("cmyk.jpg");
        writeCmykJpeg(cmyk);
        CliRun embedsCmyk = CliRun.of("embed", "--model", fixtures().resolve("mobilenet_v3_large/mobilenet_v3_large.safetensors")
                .toString(), "--images", cmyk.toString(), "--out", dir.resolve("cmyk.safetensors").toString(), "--threads", "1");
        assertEquals(0, embedsCmyk.code(), embedsCmyk.err());
        for (String name : List.of("photo.webp")) {
            Path photos = Files.createDirectories(dir.resolve(name + "-photos"));
            Files.copy(good, photos.resolve(good.getFileName()));
            Path bad = photos.resolve(name);
            // A RIFF/WEBP header with a VP8 chunk, as cwebp writes it; the content never matters.
            Files.write(bad, "RIFF\u0024\0\0\0WEBPVP8 \u0018\0\0\0".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
            CliRun embed = CliRun.of("embed", "--model", fixtures().resolve("mobilenet_v3_large/mobilenet_v3_large.safetensors")
                    .toString(), "--images", bad.toString(), "--out", dir.resolve("e.safetensors").toString(), "--threads", "1");
            assertEquals(2, embed.code(), embed.err());
            CliRun train = CliRun.of("train-lora", "--model", model.resolve("model.safetensors").toString(), "--config",
                    model.resolve("model.yaml").toString(), "--tokenizer", model.resolve("tokenizer").toString(),
                    "--images", photos.toString(), "--out", dir.resolve("lora.safetensors").toString(), "--caption",
                    "a jacket", "--resolution", "64", "--max-steps", "1", "--threads", "1");
            assertEquals(2, train.code(), train.err());
            String problem = embed.err().substring(embed.err().indexOf(bad.toString())).strip();
            assertTrue(train.err().contains(problem), name + ": train-lora says " + train.err() + " where embed says " + problem);
            assertFalse(Files.exists(dir.resolve("lora.safetensors")));
        }
    }

    @Test
    void precisionAndDeviceAreCheckedBeforeTraining(@TempDir Path dir) throws IOException {
        Path model = fixtures().resolve("model");
        Path photos = Files.createDirectories(dir.resolve("photos"));
        for (String[] args : List.of(new String[] {"--precision", "fp16"}, new String[] {"--device", "cuda:9"},
                new String[] {"--device", "tpu"})) {
            List<String> cmd = new java.util.ArrayList<>(List.of("train-lora", "--model", model.resolve("model.safetensors")
                    .toString(), "--config", model.resolve("model.yaml").toString(), "--tokenizer",
                    model.resolve("tokenizer").toString(), "--images", photos.toString(), "--out",
                    dir.resolve("lora.safetensors").toString(), "--max-steps", "1"));
            cmd.addAll(List.of(args));
            CliRun train = CliRun.of(cmd.toArray(String[]::new));
            assertEquals(2, train.code(), String.join(" ", args) + ": " + train.err());
            assertTrue(train.err().contains(args[0]) || train.err().contains("unknown device"), train.err());
            assertFalse(Files.exists(dir.resolve("lora.safetensors")));
        }
    }

    /** A 16x16 JPEG with four components and no Adobe marker, which readers take as CMYK. */
    private static void writeCmykJpeg(Path file) throws IOException {
        java.awt.image.WritableRaster r = java.awt.image.Raster.createInterleavedRaster(
                java.awt.image.DataBuffer.TYPE_BYTE, 16, 16, 4, null);
        for (int y = 0; y < 16; y++) {
            for (int x = 0; x < 16; x++) {
                for (int b = 0; b < 4; b++) {
                    r.setSample(x, y, b, (x * 16 + y * 3 + b * 50) & 255);
                }
            }
        }
        javax.imageio.ImageWriter w = javax.imageio.ImageIO.getImageWritersByFormatName("jpeg").next();
        try (javax.imageio.stream.ImageOutputStream out = javax.imageio.ImageIO.createImageOutputStream(file.toFile())) {
            w.setOutput(out);
            w.write(null, new javax.imageio.IIOImage(r, null, null), null);
        } finally {
            w.dispose();
        }
    }
}
