package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MainTest {
    @TempDir
    Path dir;

    private record Result(int code, String out, String err) {}

    private static Result run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true));
        System.setErr(new PrintStream(err, true));
        try {
            int code = Main.run(args);
            return new Result(code, out.toString(), err.toString());
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void infoPrintsVersionsAndTheLibrary() {
        Result r = run("info", "--json");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\"libtorch\" : \"1."), r.out());
        assertTrue(r.out().contains("libatelier.so"), r.out());
    }

    @Test
    void badArgumentsExitWithTwoAndOneSentence() {
        Result r = run("info", "--no-such-flag");
        assertEquals(Main.EXIT_BAD_INPUT, r.code());
        assertTrue(r.err().startsWith("atelier: Unknown option: '--no-such-flag'"), r.err());
        assertFalse(r.err().contains("at dev.atelier"), "no stack trace without --verbose");
    }

    @Test
    void everySubcommandHasHelpWithExamples() {
        for (String sub : new String[] {"info", "demo", "train-lora"}) {
            Result r = run(sub, "--help");
            assertEquals(0, r.code());
            assertTrue(r.out().contains("Examples:"), sub + ": " + r.out());
        }
    }

    @Test
    void trainLoraRefusesAnEmptyImageFolderWithExitTwo() throws Exception {
        Path images = Files.createDirectories(dir.resolve("photos"));
        Result r = run("train-lora", "--model", "model.safetensors", "--images", images.toString(), "--out",
                dir.resolve("x.safetensors").toString());
        assertEquals(Main.EXIT_BAD_INPUT, r.code(), r.err());
        assertTrue(r.err().contains("no training images"), r.err());
    }

    @Test
    void demoRunsAnEndToEndNativeCall() {
        Result r = run("demo", "--work", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("handed to libtorch without a copy"), r.out());
        assertTrue(Files.exists(dir.resolve("end-to-end.safetensors")));
    }
}
