package dev.atelier.engine.demo;

import dev.atelier.engine.core.Progress;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Hears the demo's stages; the command line draws progress bars from it. All methods run on the
 * demo's thread. {@link #progress} returns the {@link Progress} a long step reports to (and
 * which may cancel it by returning false).
 */
public interface DemoListener {
    DemoListener NONE = new DemoListener() {};

    default void stageStarted(String stage, String description) {}

    default void stageReused(String stage, String description, Path dir) {}

    default void stageFinished(String stage, Duration time) {}

    /** A long step inside a stage, counted in units (images, steps). */
    default Progress progress(String step, String unit) {
        return Progress.NONE;
    }

    /** A one-line note (what was found, a result). */
    default void note(String message) {}
}
