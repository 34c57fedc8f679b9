package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
    @TempDir
    Path dir;

    private static CliRun run(String... args) {
        return CliRun.of(args);
    }

    @Test
    void infoPrintsVersionsAndTheLibrary() {
        CliRun r = run("info", "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\"libtorch\" : \"1."), r.out());
        assertTrue(r.out().contains("libatelier.so"), r.out());
    }

    @Test
    void badArgumentsExitWithTwoAndOneSentence() {
        CliRun r = run("info", "--no-such-flag");
        assertEquals(Main.EXIT_BAD_INPUT, r.code());
        assertTrue(r.err().startsWith("atelier: Unknown option: '--no-such-flag'"), r.err());
        assertFalse(r.err().contains("at dev.atelier"), "no stack trace without --verbose");
    }

    @Test
    void trainLoraRefusesAnEmptyImageFolderWithExitTwo() throws Exception {
        Path images = Files.createDirectories(dir.resolve("photos"));
        CliRun r = run("train-lora", "--model", "model.safetensors", "--images", images.toString(), "--out",
                dir.resolve("x.safetensors").toString());
        assertEquals(Main.EXIT_BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("no training images"), r.err());
    }

    @Test
    void demoRunsTheWorkflowAndReportsTheThreeFiguresAsJson() throws Exception {
        CliRun r = run("--json", "demo", "--work", dir.toString(), "--images", "1", "--steps", "4", "--lora-steps", "6",
                "--catalog-items", "120");
        assertEquals(0, r.code(), r.err());
        com.fasterxml.jackson.databind.JsonNode json = new com.fasterxml.jackson.databind.ObjectMapper().readTree(r.out());
        assertTrue(Files.isRegularFile(Path.of(json.get("report").asText())), r.out());
        for (String variant : new String[] {"base", "lora", "other-lora"}) {
            double figure = json.get("similarity").get(variant).get("mean_best_wardrobe_similarity").asDouble();
            assertTrue(figure >= -1 && figure <= 1, variant + ": " + figure);
        }
        assertEquals(8, json.get("stages").size(), r.out());
        // A second run reuses every stage.
        CliRun again = run("--json", "demo", "--work", dir.toString(), "--images", "1", "--steps", "4", "--lora-steps", "6",
                "--catalog-items", "120");
        assertEquals(0, again.code(), again.err());
        for (com.fasterxml.jackson.databind.JsonNode stage : new com.fasterxml.jackson.databind.ObjectMapper().readTree(again.out()).get("stages")) {
            assertTrue(stage.get("reused").asBoolean(), again.out());
        }
    }

    @Test
    void demoRejectsBadSettingsWithExitTwo() {
        CliRun r = run("demo", "--work", dir.toString(), "--images", "0");
        assertEquals(Main.EXIT_BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("images per variant"), r.err());
    }
}
