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
