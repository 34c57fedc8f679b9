package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** generate never overwrites or loses output, and --no-mmap changes nothing in what it makes. */
class GenerateOutputCliTest {
    @TempDir
    Path dir;

    private static Path model() {
        return CatalogCliTest.mobilenet().getParent().resolve("model");
    }

    private static CliRun generate(Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("generate", "--model", model().resolve("model.safetensors").toString(),
                "--config", model().resolve("model.yaml").toString(), "--prompt", "a denim jacket", "--sampler", "euler",
                "--steps", "2", "--seed", "5", "--width", "64", "--height", "64", "--threads", "1", "--out", out.toString()));
        args.addAll(List.of(more));
        return CliRun.of(args.toArray(String[]::new));
    }

    private static List<String> names(Path folder) throws IOException {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void imagesAreNumberedAfterTheFoldersAndNothingIsOverwritten() throws IOException {
        Path out = Files.createDirectories(dir.resolve("out"));
        Files.writeString(out.resolve("00000-5.png"), "an earlier image with the same seed");
        Files.writeString(out.resolve("00003-9.png"), "another");
        Files.writeString(out.resolve(".00004-5.png.0123456789abcdef.tmp"), "half written by a killed run");
        Set<PosixFilePermission> usual = Files.getPosixFilePermissions(Files.createFile(dir.resolve("reference")));

        CliRun r = generate(out, "--batch-size", "2");
        assertEquals(0, r.code(), r.err());
        assertEquals(List.of("00000-5.png", "00003-9.png", "00004-5.png", "00005-6.png"), names(out));
        assertEquals("an earlier image with the same seed", Files.readString(out.resolve("00000-5.png")));
        assertEquals(usual, Files.getPosixFilePermissions(out.resolve("00004-5.png")), "the umask's mode, not 0600");

        CliRun again = generate(out, "--json");
        assertEquals(0, again.code(), again.err());
        assertEquals(out.resolve("00006-5.png").toString(), again.json().get("images").get(0).get("path").asText());
        assertArrayEquals(Files.readAllBytes(out.resolve("00004-5.png")), Files.readAllBytes(out.resolve("00006-5.png")),
                "the same settings, the same image, under a new number");
    }

    @Test
    void anOutputThatIsAFileIsRefusedBeforeTheModelLoads() throws IOException {
        Path file = Files.writeString(dir.resolve("out.png"), "not a folder");
        CliRun r = generate(file);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("out.png") && r.err().contains("is a file"), r.err());
        assertFalse(r.err().contains("generate:"), "no step ran: " + r.err());
        assertEquals("not a folder", Files.readString(file));
    }

    @Test
    void noMmapGeneratesTheSameImage() throws IOException {
        CliRun mapped = generate(dir.resolve("mapped"), "--json");
        CliRun read = generate(dir.resolve("read"), "--no-mmap", "--json");
        assertEquals(0, mapped.code(), mapped.err());
        assertEquals(0, read.code(), read.err());
        assertArrayEquals(Files.readAllBytes(Path.of(mapped.json().get("images").get(0).get("path").asText())),
                Files.readAllBytes(Path.of(read.json().get("images").get(0).get("path").asText())));
    }
}
