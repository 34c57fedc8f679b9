package dev.atelier.tools;

import java.nio.file.Path;
import picocli.CommandLine.Option;

/** {@code --out}, {@code --seed} and {@code --force}, as every synth command takes them. */
final class SynthOutputOptions {
    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder to write (must be missing or empty).")
    Path out;

    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--force", description = "Replace DIR if it exists.")
    boolean force;
}
