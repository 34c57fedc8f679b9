package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** atelier serve's arguments: bad ones are bad input (exit 2) before anything listens. */
class ServeCliTest {
    @TempDir
    Path dir;

    @Test
    void badArgumentsAreBadInput() {
        CliRun missing = CliRun.of("serve", "--loras", dir.resolve("missing").toString());
        assertEquals(2, missing.code(), missing.err());
        assertTrue(missing.err().contains("not a folder"), missing.err());
        CliRun port = CliRun.of("serve", "--port", "70000");
        assertEquals(2, port.code(), port.err());
        assertTrue(port.err().contains("--port"), port.err());
        CliRun precision = CliRun.of("serve", "--loras", dir.toString(), "--precision", "fp8");
        assertEquals(2, precision.code(), precision.err());
        assertTrue(precision.err().contains("--precision"), precision.err());
    }
}
