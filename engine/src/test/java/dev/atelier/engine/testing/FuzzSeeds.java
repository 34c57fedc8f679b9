package dev.atelier.engine.testing;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;

/**
 * The seed corpus of a Jazzer fuzz test: files in {@code src/test/resources/<package>/<Class>Inputs/<method>/},
 * where Jazzer's regression mode runs them. The seeds are made by the tests' own builders; a test
 * compares the committed files with what the builders make, and rewrites them when run with
 * {@code -Datelier.writeFuzzSeeds=true}.
 */
public final class FuzzSeeds {
    private FuzzSeeds() {}

    public static Path folder(Class<?> test, String method) {
        return Path.of("src/test/resources", test.getPackageName().replace('.', '/'), test.getSimpleName() + "Inputs", method);
    }

    /** Checks (or with -Datelier.writeFuzzSeeds=true, writes) the committed seeds of test's method. */
    public static void check(Class<?> test, String method, Map<String, byte[]> seeds) {
        Path dir = folder(test, method);
        try {
            if (Boolean.getBoolean("atelier.writeFuzzSeeds")) {
                Files.createDirectories(dir);
                try (Stream<Path> old = Files.list(dir)) {
                    for (Path p : old.toList()) {
                        Files.delete(p);
                    }
                }
                for (Map.Entry<String, byte[]> e : seeds.entrySet()) {
                    Files.write(dir.resolve(e.getKey()), e.getValue());
                }
            }
            TreeSet<String> committed = new TreeSet<>();
            try (Stream<Path> files = Files.list(dir)) {
                files.forEach(p -> committed.add(p.getFileName().toString()));
            }
            assertEquals(new TreeSet<>(seeds.keySet()), committed, dir + ": the seeds (-Datelier.writeFuzzSeeds=true rewrites them)");
            for (Map.Entry<String, byte[]> e : seeds.entrySet()) {
                assertArrayEquals(e.getValue(), Files.readAllBytes(dir.resolve(e.getKey())), dir + "/" + e.getKey());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
