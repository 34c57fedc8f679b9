package dev.atelier.tools;

import dev.atelier.engine.core.Progress;
import java.io.PrintStream;
import java.util.Locale;

/**
 * A one-line progress bar with rate and ETA on standard error, redrawn at most every 100 ms.
 * Silent when {@code quiet} (for --json output) so machine-readable output stays clean.
 */
final class ProgressBar implements Progress {
    private static final int WIDTH = 28;
    private final String label;
    private final String unit;
    private final PrintStream out;
    private final boolean quiet;
    private final long start = System.nanoTime();
    private long lastDraw;

    ProgressBar(String label, String unit, boolean quiet) {
        this.label = label;
        this.unit = unit;
        this.out = System.err;
        this.quiet = quiet;
    }

    @Override
    public boolean onStep(long done, long total) {
        long now = System.nanoTime();
        if (quiet || (done < total && now - lastDraw < 100_000_000L)) {
            return true;
        }
        lastDraw = now;
        double seconds = (now - start) / 1e9;
        double rate = done / Math.max(seconds, 1e-9);
        double eta = rate > 0 ? (total - done) / rate : 0;
        int filled = total > 0 ? (int) (WIDTH * done / total) : WIDTH;
        out.printf(Locale.ROOT, "\r%-12s [%s%s] %d/%d %s  %.1f %s/s  %s %s", label, "#".repeat(filled),
                " ".repeat(WIDTH - filled), done, total, unit, rate, unit, done < total ? "ETA" : "in",
                clock(done < total ? eta : seconds));
        if (done >= total) {
            out.println();
        }
        out.flush();
        return true;
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }
}
