package dev.atelier.engine.testing;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates the reference fixtures in {@code ../shared/fixtures} beside the repository
 * ({@code -Datelier.fixtures=DIR} overrides). They are required: a missing folder fails the
 * test that needs it, loudly, instead of skipping it.
 */
public final class Fixtures {
    private Fixtures() {}

    public static Path root() {
        String override = System.getProperty("atelier.fixtures");
        if (override != null && !override.isBlank()) {
            return existing(Path.of(override));
        }
        String repo = System.getProperty("atelier.root");
        Path start = repo != null && !repo.isBlank() ? Path.of(repo) : Path.of("").toAbsolutePath();
        for (Path dir = start.toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path candidate = dir.resolve("shared").resolve("fixtures");
            if (Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        throw new IllegalStateException("reference fixtures not found: expected ../shared/fixtures beside the "
                + "repository (searched up from " + start + "), or set -Datelier.fixtures=DIR");
    }

    /** The tiny SD1.5-architecture fixture set. */
    public static Path sd15Tiny() {
        return existing(root().resolve("sd15-tiny"));
    }

    private static Path existing(Path p) {
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("fixture folder missing: " + p);
        }
        return p;
    }
}
