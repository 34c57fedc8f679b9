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
    void demoRunsAnEndToEndNativeCall() {
        CliRun r = run("demo", "--work", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("handed to libtorch without a copy"), r.out());
        assertTrue(Files.exists(dir.resolve("end-to-end.safetensors")));
    }
}
