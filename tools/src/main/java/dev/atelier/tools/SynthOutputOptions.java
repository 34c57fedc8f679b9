package dev.atelier.tools;

import picocli.CommandLine.Option;

/** {@code --seed} and {@code --force}, as every synth command takes them. */
final class SynthOutputOptions {
    @Option(names = "--seed", paramLabel = "N", defaultValue = "0", description = "Seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--force", description = "Replace DIR if it exists.")
    boolean force;
}
