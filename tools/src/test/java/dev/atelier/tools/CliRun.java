package dev.atelier.tools;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;

/** Runs the command line in-process and captures its exit code and output, for the CLI tests. */
record CliRun(int code, String out, String err) {
    private static final ObjectMapper STRICT = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    static CliRun of(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true));
        System.setErr(new PrintStream(err, true));
        try {
            return new CliRun(Main.run(args), out.toString(), err.toString());
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    /**
     * Runs the command line in a new JVM whose native library path names nothing (an empty
     * folder under dir), stdout and stderr together in out: input refused before the library
     * loads is refused with its own message, anything else fails with "libatelier not found".
     */
    static CliRun withoutNativeLibrary(java.nio.file.Path dir, java.util.List<String> args) throws java.io.IOException,
            InterruptedException {
        java.util.List<String> command = new java.util.ArrayList<>(java.util.List.of(
                java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Datelier.native.path=" + dir.resolve("no-library"), "-cp",
                System.getProperty("java.class.path"), Main.class.getName()));
        command.addAll(args);
        java.nio.file.Path log = java.nio.file.Files.createTempFile(dir, "no-library", ".log");
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(2, java.util.concurrent.TimeUnit.MINUTES)) {
            p.destroyForcibly();
            throw new AssertionError("the command did not end in 2 minutes: " + java.nio.file.Files.readString(log));
        }
        return new CliRun(p.exitValue(), java.nio.file.Files.readString(log), "");
    }

    /** stdout as the one JSON object that --json promises: anything else on stdout fails. */
    JsonNode json() {
        try {
            JsonNode node = STRICT.readTree(out);
            if (node == null || !node.isObject()) {
                throw new AssertionError("stdout is not one JSON object: " + out);
            }
            return node;
        } catch (java.io.IOException e) {
            throw new AssertionError("stdout is not one JSON object (" + e.getMessage() + "): " + out + "\nstderr: " + err, e);
        }
    }
}
