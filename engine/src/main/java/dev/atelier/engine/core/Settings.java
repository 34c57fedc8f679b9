package dev.atelier.engine.core;

import java.nio.file.Path;
import java.util.Optional;

/**
 * Every {@code atelier.*} system property, read in this one place.
 *
 * @param nativePath {@code atelier.native.path}: the libatelier file (or its folder) to load
 * @param root       {@code atelier.root}: the repository root, where build/ and ../shared are
 * @param threads    {@code atelier.threads}: intra-op threads; 0 means all cores
 */
public record Settings(Optional<Path> nativePath, Optional<Path> root, int threads) {

    public static Settings fromSystemProperties() {
        return new Settings(
                path("atelier.native.path"),
                path("atelier.root"),
                Integer.parseInt(System.getProperty("atelier.threads", "0").trim()));
    }

    private static Optional<Path> path(String key) {
        String value = System.getProperty(key);
        return value == null || value.isBlank() ? Optional.empty() : Optional.of(Path.of(value));
    }
}
