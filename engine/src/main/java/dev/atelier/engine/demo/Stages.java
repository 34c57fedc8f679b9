package dev.atelier.engine.demo;

import dev.atelier.engine.util.Sha256;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.util.AtomicFiles;
import dev.atelier.engine.util.StagedDirectory;
import dev.atelier.engine.util.TextFiles;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs the demo's stages so that a second run reuses what the first one built and an interrupted
 * run leaves nothing half-written: a stage writes into {@code WORK/.NAME.partial/}, which is
 * renamed to {@code WORK/NAME/} only once complete, with a {@code stage.done} file holding the
 * stage's fingerprint (a digest of its settings and of its inputs' fingerprints). A folder whose
 * fingerprint differs (other settings, or an input rebuilt) is built again; a leftover partial
 * folder (Ctrl-C, crash) is deleted first.
 */
public final class Stages {
    static final String DONE = "stage.done";
    /**
     * Part of every fingerprint: bumped when a change in Atelier changes what a stage computes, so
     * results of an older version are rebuilt rather than reused.
     */
    static final String VERSION = "demo-2";

    /** The work of one stage, writing into {@code dir}. */
    @FunctionalInterface
    interface Body {
        void run(Path dir) throws Exception;
    }

    /** A finished stage: its folder and fingerprint, for the stages that read it. */
    public record Built(String name, Path dir, String fingerprint, Duration time, boolean reused) {}

    private final Path work;
    private final DemoListener listener;
    private final List<Built> built = new ArrayList<>();

    Stages(Path work, DemoListener listener) {
        this.work = work;
        this.listener = listener;
    }

    List<Built> built() {
        return List.copyOf(built);
    }

    /** Runs (or reuses) a stage; settings and inputs decide whether an existing result is still valid. */
    Built run(String name, String description, String settings, List<Built> inputs, Body body) {
        StringBuilder key = new StringBuilder(VERSION).append('\n').append(name).append('\n').append(settings);
        for (Built in : inputs) {
            key.append('\n').append(in.name()).append('=').append(in.fingerprint());
        }
        String fingerprint = Sha256.hex(key.toString());
        Path dir = work.resolve(name);
        Path doneFile = dir.resolve(DONE);
        try {
            if (Files.isRegularFile(doneFile) && TextFiles.readString(doneFile).strip().equals(fingerprint)) {
                Built b = new Built(name, dir, fingerprint, Duration.ZERO, true);
                listener.stageReused(name, description, dir);
                built.add(b);
                return b;
            }
        } catch (IOException e) {
            throw new AtelierException.FormatException(AtelierException.IO, doneFile + ": " + e.getMessage());
        }
        // Written beside as .NAME.partial, renamed into place (replacing an older result) once complete.
        try (StagedDirectory staged = StagedDirectory.begin(dir, true)) {
            listener.stageStarted(name, description);
            long start = System.nanoTime();
            try {
                body.run(staged.path());
            } catch (RuntimeException e) {
                throw e;
            } catch (Exception e) {
                throw new AtelierException(AtelierException.INTERNAL, "demo stage " + name + " failed: " + e.getMessage(), e);
            }
            AtomicFiles.write(staged.path().resolve(DONE), ch -> ch.write(java.nio.ByteBuffer.wrap(
                    (fingerprint + "\n").getBytes(StandardCharsets.UTF_8))));
            staged.commit();
            Duration time = Duration.ofNanos(System.nanoTime() - start);
            Built b = new Built(name, dir, fingerprint, time, false);
            listener.stageFinished(name, time);
            built.add(b);
            return b;
        }
    }

}
