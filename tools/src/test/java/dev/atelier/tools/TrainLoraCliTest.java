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
}
