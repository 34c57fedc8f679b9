package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.NativeInfo;
import picocli.CommandLine.Option;

/** {@code --threads N}, the same on every command that computes. */
final class ThreadsOption {
    @Option(names = "--threads", defaultValue = "0", paramLabel = "N",
            description = "Intra-op threads (libtorch, OpenMP, FAISS), at most the cores; 0 keeps the default "
                    + "(atelier.threads, else all cores). Default: ${DEFAULT-VALUE}.")
    int threads;

    @Option(names = "--threads-force",
            description = "Take --threads above the number of cores (each thread gets its own stack and buffers).")
    boolean force;

    /** Applies the setting library-wide; 0 leaves it alone. */
    void apply() {
        int cores = Runtime.getRuntime().availableProcessors();
        if (threads < 0) {
            throw new InvalidInputException("--threads must be >= 0, got " + threads);
        }
        // More threads than cores only adds switching, and each thread holds its own stack and
        // scratch buffers: a value like 100000 would exhaust memory before any work is done.
        if (threads > cores && !force) {
            throw new InvalidInputException("--threads " + threads + " is more than the " + cores
                    + " cores of this machine; at most " + cores + ", or add --threads-force");
        }
        if (threads > 0) {
            NativeInfo.setThreads(threads);
        }
    }
}
