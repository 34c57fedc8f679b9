package dev.atelier.engine.report;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Runs Debian's {@code chromium} headless on a local file: dumps the DOM after the page's scripts
 * ran, or takes a screenshot. A missing browser fails the test (it is a test dependency that
 * scripts/setup.sh installs), it does not skip it.
 */
public final class HeadlessChromium {
    private static final long TIMEOUT_S = 60;
    private final Path binary;
    private final Path work;

    private HeadlessChromium(Path binary, Path work) {
        this.binary = binary;
        this.work = work;
    }

    /** Finds chromium on PATH or as /usr/bin/chromium; work holds its profile and logs. */
    public static HeadlessChromium find(Path work) {
        List<Path> candidates = new ArrayList<>();
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) {
            if (!dir.isEmpty()) {
                candidates.add(Path.of(dir, "chromium"));
            }
        }
        candidates.add(Path.of("/usr/bin/chromium"));
        for (Path c : candidates) {
            if (Files.isRegularFile(c) && Files.isExecutable(c)) {
                return new HeadlessChromium(c, work);
            }
        }
        return fail("chromium not found on PATH nor as /usr/bin/chromium: the report's browser test needs Debian's "
                + "chromium package; run scripts/setup.sh --tests (as root it installs it; scripts/test.sh does)");
    }

    /** The DOM of the page once loaded and its scripts ran (up to 5 s of virtual time). */
    public String dumpDom(Path html) throws IOException, InterruptedException {
        return new String(run(html, "--dump-dom"), StandardCharsets.UTF_8);
    }

    /** A PNG screenshot of the page at the given window size. */
    public void screenshot(Path html, Path png, int width, int height) throws IOException, InterruptedException {
        Files.deleteIfExists(png);
        run(html, "--screenshot=" + png.toAbsolutePath(), "--window-size=" + width + "," + height, "--hide-scrollbars");
        if (!Files.isRegularFile(png)) {
            fail("chromium wrote no screenshot to " + png + "; its log: " + log());
        }
    }

    private byte[] run(Path html, String... action) throws IOException, InterruptedException {
        Files.createDirectories(work);
        Path profile = Files.createTempDirectory(work, "profile");
        Path out = work.resolve("chromium.out"), err = work.resolve("chromium.log");
        List<String> cmd = new ArrayList<>(List.of(binary.toString(), "--headless=new", "--no-sandbox", "--disable-gpu",
                "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage", "--user-data-dir=" + profile,
                "--virtual-time-budget=5000"));
        cmd.addAll(List.of(action));
        cmd.add(html.toAbsolutePath().toUri().toString());
        Process p = new ProcessBuilder(cmd).redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        try {
            if (!p.waitFor(TIMEOUT_S, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
                fail("chromium did not finish within " + TIMEOUT_S + " s: " + String.join(" ", cmd) + "\n" + log());
            }
            if (p.exitValue() != 0) {
                fail("chromium exited with " + p.exitValue() + ": " + String.join(" ", cmd) + "\n" + log());
            }
            return Files.readAllBytes(out);
        } finally {
            delete(profile);
        }
    }

    private static void delete(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path q : paths.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(q);
            }
        }
    }

    private String log() {
        try {
            String s = Files.readString(work.resolve("chromium.log"));
            return s.length() > 4000 ? s.substring(s.length() - 4000) : s;
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }
}
