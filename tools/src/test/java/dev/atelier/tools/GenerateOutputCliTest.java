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

    private static List<String> generateArgs(Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("generate", "--model", model().resolve("model.safetensors").toString(),
                "--config", model().resolve("model.yaml").toString(), "--prompt", "a denim jacket", "--sampler", "euler",
                "--steps", "2", "--seed", "5", "--width", "64", "--height", "64", "--threads", "1", "--out", out.toString()));
        args.addAll(List.of(more));
        return args;
    }

    private static CliRun generate(Path out, String... more) {
        return CliRun.of(generateArgs(out, more).toArray(String[]::new));
    }

    private static List<String> pngs(Path folder) throws IOException {
        return Files.isDirectory(folder) ? names(folder).stream().filter(n -> n.endsWith(".png")).toList() : List.of();
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

    /** kill -9 in the middle of a long run keeps every image already written, whole and correct. */
    @Test
    void aKilledGenerateKeepsTheImagesItFinished() throws Exception {
        Path out = dir.resolve("out");
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Datelier.root=" + System.getProperty("atelier.root"), "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(generateArgs(out, "--batch-count", "500"));
        Path log = dir.resolve("generate.log");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            long deadline = System.nanoTime() + java.time.Duration.ofMinutes(5).toNanos();
            while (pngs(out).size() < 3) {
                assertTrue(p.isAlive(), () -> "generate ended before it was killed: " + read(log));
                assertTrue(System.nanoTime() < deadline, () -> "no images after 5 minutes: " + read(log));
                Thread.sleep(10);
            }
        } finally {
            p.destroyForcibly().waitFor();
        }
        List<String> kept = pngs(out);
        assertTrue(kept.size() >= 3 && kept.size() < 500, "killed in the middle: " + kept);

        Path alone = dir.resolve("alone");
        assertEquals(0, generate(alone, "--batch-count", "3").code());
        for (int i = 0; i < kept.size(); i++) {
            String name = String.format("%05d-%d.png", i, 5 + i);
            assertEquals(name, kept.get(i));
            java.awt.image.BufferedImage image = javax.imageio.ImageIO.read(out.resolve(name).toFile());
            assertNotNull(image, name + " decodes");
            assertEquals(64, image.getWidth());
            if (i < 3) {
                assertArrayEquals(Files.readAllBytes(alone.resolve(name)), Files.readAllBytes(out.resolve(name)),
                        name + " is the image an uninterrupted run makes");
            }
        }

        CliRun again = generate(out);
        assertEquals(0, again.code(), again.err());
        List<String> after = names(out);
        assertTrue(after.stream().noneMatch(n -> n.endsWith(".tmp")), "the killed write's temporary file is gone: " + after);
        assertEquals(String.format("%05d-5.png", kept.size()), after.get(after.size() - 1), "numbered after the kept images");
    }

    /**
     * Input that can be refused from the files and arguments alone (a corrupt checkpoint, a size
     * that cannot fit) is refused before the native library loads: run in a JVM whose library
     * path names nothing, the refusal is the input's, not "libatelier not found".
     */
    @Test
    void inputIsRefusedBeforeTheNativeLibraryLoads() throws Exception {
        Path truncated = Files.write(dir.resolve("truncated.safetensors"), new byte[] {0, 0, 0, 64, 0, 0, 0, 0, '{'});
        List<String> corrupt = new ArrayList<>(generateArgs(dir.resolve("a")));
        corrupt.set(corrupt.indexOf("--model") + 1, truncated.toString());
        corrupt.addAll(List.of("--tokenizer", model().resolve("tokenizer").toString()));
        List<String> huge = new ArrayList<>(generateArgs(dir.resolve("b")));
        huge.set(huge.indexOf("--width") + 1, "65536");
        huge.set(huge.indexOf("--height") + 1, "65536");
        for (List<String> args : List.of(corrupt, huge)) {
            CliRun r = CliRun.withoutNativeLibrary(dir, args);
            assertEquals(2, r.code(), r.out());
            assertFalse(r.out().contains("native.path") || r.out().contains("libatelier"), r.out());
            assertTrue(args == corrupt ? r.out().contains("truncated.safetensors") : r.out().contains("activation memory"),
                    r.out());
        }
    }

    private static String read(Path log) {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e.getMessage() + ")";
        }
    }
}
