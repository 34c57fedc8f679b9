package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.NativeInfo;
import picocli.CommandLine.Option;

/** {@code --threads N}, the same on every command that computes. */
final class ThreadsOption {
    @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
            description = "Intra-op threads (libtorch, OpenMP, FAISS); 0 keeps the default (atelier.threads, else all cores). Default: ${DEFAULT-VALUE}.")
    int threads;

    /** Applies the setting library-wide; 0 leaves it alone. */
    void apply() {
        if (threads < 0) {
            throw new InvalidInputException("--threads must be >= 0, got " + threads);
        }
        if (threads > 0) {
            NativeInfo.setThreads(threads);
        }
    }
}
