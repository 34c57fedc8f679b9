package dev.atelier.engine.core;

import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Every {@code atelier.*} system property, read in this one place.
 *
 * @param nativePath {@code atelier.native.path}: the libatelier file (or its folder) to load
 * @param root       {@code atelier.root}: the repository root, where build/ and ../shared are
 * @param threads    {@code atelier.threads}: intra-op threads; 0 means all cores
 * @param activationMemoryLimit {@value #ACTIVATION_MEMORY_LIMIT}: bytes of activations a generation
 *                   may take; empty means the machine's memory (sd.ActivationMemory)
 */
public record Settings(Optional<Path> nativePath, Optional<Path> root, int threads, OptionalLong activationMemoryLimit) {
    public static final String ACTIVATION_MEMORY_LIMIT = "atelier.activation-memory-limit";

    public Settings(Optional<Path> nativePath, Optional<Path> root, int threads) {
        this(nativePath, root, threads, OptionalLong.empty());
    }

    public static Settings fromSystemProperties() {
        String limit = System.getProperty(ACTIVATION_MEMORY_LIMIT);
        return new Settings(
                path("atelier.native.path"),
                path("atelier.root"),
                Integer.parseInt(System.getProperty("atelier.threads", "0").trim()),
                limit == null || limit.isBlank() ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(limit.trim())));
    }

    private static Optional<Path> path(String key) {
        String value = System.getProperty(key);
        return value == null || value.isBlank() ? Optional.empty() : Optional.of(Path.of(value));
    }
}
