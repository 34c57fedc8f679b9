package dev.atelier.engine.train;

import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Locale;

/** A one-line progress bar with loss, learning rate and ETA, redrawn after each update. */
public final class ConsoleProgress implements TrainingListener {
    private static final int WIDTH = 30;
    private final PrintStream out;

    public ConsoleProgress(PrintStream out) {
        this.out = out;
    }

    @Override
    public void onStep(Step s) {
        int filled = (int) (WIDTH * s.step() / Math.max(1, s.total()));
        String bar = "#".repeat(filled) + ".".repeat(WIDTH - filled);
        out.printf(Locale.ROOT, "\r[%s] %d/%d loss %.4f lr %.2e elapsed %s ETA %s", bar, s.step(), s.total(),
                s.loss(), s.unetLr(), format(s.elapsed()), format(s.eta()));
        if (s.step() == s.total()) {
            out.println();
        }
        out.flush();
    }

    @Override
    public void onCheckpoint(long step, Path lora, Path state) {
        out.printf(Locale.ROOT, "%ncheckpoint at step %d: %s (resume with --resume %s)%n", step, lora, state);
    }

    static String format(Duration d) {
        long s = Math.max(0, d.toSeconds());
        return String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60);
    }
}
