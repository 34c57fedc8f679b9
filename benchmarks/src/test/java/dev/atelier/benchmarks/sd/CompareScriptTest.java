package dev.atelier.benchmarks.sd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs benchmarks/sd/compare.sh once on the sd15-tiny fixture, one timed step on each engine
 * (Atelier, PyTorch eager, ONNX Runtime on export_onnx.py's export), with the VAE and end-to-end
 * modes, and checks that it exits 0, that its tables hold a number for each engine, and that the
 * ONNX exports it made reproduce the fixture's reference outputs. Times and ratios are never
 * compared with anything: they follow the machine's load.
 *
 * The script gets this build's classpath (ATELIER_BENCH_CP) instead of running Maven inside the
 * Maven build; standalone it compiles and resolves its own (benchmarks/classpath.sh). The ONNX
 * exports go to a temporary folder, never beside the shared fixture. Needs Debian's python3-torch
 * (the PyTorch side and the export): scripts/setup.sh --tests installs it.
 */
class CompareScriptTest {
    private static final String PYTHON = "/usr/bin/python3";

    @TempDir
    Path dir;

    @Test
    void tinyFixtureSideBySideOnAllEngines() throws Exception {
        Path root = repository();
        Path model = fixtures().resolve("sd15-tiny/model/model.safetensors");
        assertTrue(Files.isRegularFile(model), model + " missing");
        Result torch = run(List.of(PYTHON, "-c", "import torch"), Map.of(), root, 60);
        assertEquals(0, torch.code(), "python3-torch is needed (scripts/setup.sh --tests installs it): " + torch.out());

        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        Map<String, String> env = Map.ofEntries(
                Map.entry("JAVA_HOME", System.getProperty("java.home")),
                Map.entry("ATELIER_BENCH_CP", classpath),
                Map.entry("ONNX_CACHE", dir.resolve("onnx").toString()),
                Map.entry("THREADS", "1"),
                Map.entry("SIZES", "64"),
                Map.entry("DTYPES", "fp32"),
                Map.entry("STEPS", "1"),
                Map.entry("ENGINES", "atelier onnx torch"),
                Map.entry("VAE", "1"),
                Map.entry("E2E", "1"),
                Map.entry("E2E_SIZE", "64"),
                Map.entry("E2E_STEPS", "2"),
                Map.entry("BASELINE_ARGS", "--heads 4 --text-heads 2"));
        Result r = run(List.of("bash", root.resolve("benchmarks/sd/compare.sh").toString(), model.toString()), env, root,
                600);
        assertEquals(0, r.code(), "compare.sh failed:\n" + r.out());

        // | size | dtype | Atelier | PyTorch | ONNX Runtime | Atelier/PyTorch | Atelier/ONNX Runtime | ...
        String[] unet = row(r.out(), "| size | dtype | Atelier s/step |");
        assertEquals(List.of("64", "fp32"), List.of(unet[0], unet[1]), r.out());
        assertPositive(unet, 2, 3, 4);
        assertTrue(unet[5].endsWith("x") && unet[6].endsWith("x"), "ratios: " + Arrays.toString(unet));
        String[] vae = row(r.out(), "| VAE decode, batch 1 |");
        assertPositive(vae, 2, 3, 4);
        String[] e2e = row(r.out(), "| end-to-end proxy, fp32, size |");
        assertEquals(List.of("64", "2"), List.of(e2e[0], e2e[1]), r.out());
        assertPositive(e2e, 2, 3, 4);
        for (String net : List.of("unet-64-b2", "vae_decoder-64", "text_encoder")) {
            assertTrue(Files.isRegularFile(dir.resolve("onnx").resolve(net).resolve(net + ".onnx")), net + " not exported");
        }

        // what ONNX Runtime ran is the fixture's network: its exports against the reference outputs
        Map<String, double[]> parity = OnnxSdBenchmark.parity(dir.resolve("onnx"),
                fixtures().resolve("sd15-tiny/cases.safetensors"));
        assertEquals(List.of("unet", "vae_decode", "text"), List.copyOf(parity.keySet()));
        parity.forEach((net, err) -> assertTrue(err[0] <= 1e-4 * Math.max(1, err[1]),
                net + ": max abs error " + err[0] + " against the fixture (max |ref| " + err[1] + ")"));
    }

    /** The cells of the first row under the table whose header starts with header. */
    private static String[] row(String out, String header) {
        List<String> lines = out.lines().toList();
        for (int i = 0; i + 2 < lines.size(); i++) {
            if (lines.get(i).startsWith(header)) {
                String line = lines.get(i + 2);
                return Arrays.stream(line.substring(1, line.lastIndexOf('|')).split("\\|")).map(String::trim)
                        .toArray(String[]::new);
            }
        }
        return fail("no table " + header + " in:\n" + out);
    }

    private static void assertPositive(String[] cells, int... columns) {
        for (int c : columns) {
            try {
                assertTrue(Double.parseDouble(cells[c]) > 0, "column " + c + " of " + Arrays.toString(cells));
            } catch (NumberFormatException e) {
                fail("column " + c + " is not a number: " + Arrays.toString(cells));
            }
        }
    }

    private record Result(int code, String out) {}

    private static Result run(List<String> command, Map<String, String> env, Path cwd, long seconds)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(command).directory(cwd.toFile()).redirectErrorStream(true);
        pb.environment().putAll(env);
        Path log = Files.createTempFile("compare", ".log");
        try {
            pb.redirectOutput(log.toFile());
            Process p = pb.start();
            if (!p.waitFor(seconds, TimeUnit.SECONDS)) {
                p.descendants().forEach(ProcessHandle::destroyForcibly);
                p.destroyForcibly();
                p.waitFor();
                return new Result(-1, "timed out after " + seconds + " s:\n" + Files.readString(log, StandardCharsets.UTF_8));
            }
            return new Result(p.exitValue(), Files.readString(log, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(log);
        }
    }

    /** The repository root: atelier.root (Surefire sets it), else the first folder up with benchmarks/sd. */
    static Path repository() {
        String configured = System.getProperty("atelier.root");
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured).toAbsolutePath();
        }
        for (Path d = Path.of("").toAbsolutePath(); d != null; d = d.getParent()) {
            if (Files.isRegularFile(d.resolve("benchmarks/sd/compare.sh"))) {
                return d;
            }
        }
        return fail("repository root not found from " + Path.of("").toAbsolutePath());
    }

    /** ../shared/fixtures beside the repository, or -Datelier.fixtures=DIR, as the engine's tests find them. */
    private static Path fixtures() {
        String override = System.getProperty("atelier.fixtures");
        if (override != null && !override.isBlank()) {
            return Path.of(override);
        }
        for (Path d = repository(); d != null; d = d.getParent()) {
            Path candidate = d.resolve("shared/fixtures");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        return fail("reference fixtures not found: expected ../shared/fixtures beside the repository, or set "
                + "-Datelier.fixtures=DIR");
    }
}
