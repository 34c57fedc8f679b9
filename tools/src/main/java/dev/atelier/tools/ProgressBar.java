package dev.atelier.tools;

import dev.atelier.engine.core.Progress;
import java.io.Console;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Progress of a long step on standard error, with rate and ETA. On a terminal it is one line
 * redrawn in place (at most every 100 ms); otherwise (a log file, a pipe, a CI job) it prints a
 * plain line at the start, every {@value #PLAIN_EVERY_S} seconds and at the end. Standard output
 * is never touched, so {@code --json} results stay clean.
 */
final class ProgressBar implements Progress {
    private static final int WIDTH = 24;
    static final int PLAIN_EVERY_S = 5;
    private final String label;
    private final String unit;
    private final PrintStream out;
    private final boolean terminal;
    private final long start = System.nanoTime();
    private long base;
    private long lastDraw;
    private boolean drawn;
    private boolean open;

    ProgressBar(String label, String unit) {
        this(label, unit, System.err, System.err == STDERR && STDERR_IS_TERMINAL);
    }

    ProgressBar(String label, String unit, PrintStream out, boolean terminal) {
        this.label = label;
        this.unit = unit;
        this.out = out;
        this.terminal = terminal;
    }

    /** Work done before this run (a resumed training): excluded from the rate. */
    ProgressBar startingAt(long done) {
        base = done;
        return this;
    }

    @Override
    public boolean onStep(long done, long total) {
        update(done, total, "");
        return true;
    }

    /** Shows done of total units, with extra text such as the current loss. */
    synchronized void update(long done, long total, String extra) {
        long now = System.nanoTime();
        boolean last = done >= total;
        long every = terminal ? 100_000_000L : PLAIN_EVERY_S * 1_000_000_000L;
        if (drawn && !last && now - lastDraw < every) {
            return;
        }
        drawn = true;
        lastDraw = now;
        double seconds = (now - start) / 1e9;
        double rate = (done - base) / Math.max(seconds, 1e-9);
        String timing = last ? "in " + clock(seconds)
                : rate > 0 ? "ETA " + clock((total - done) / rate) : "ETA --:--";
        String speed = rate >= 1 || rate == 0 ? String.format(Locale.ROOT, "%.1f %s/s", rate, unit)
                : String.format(Locale.ROOT, "%.1f s/%s", 1 / rate, unit);
        String tail = extra == null || extra.isEmpty() ? "" : "  " + extra;
        if (terminal) {
            int filled = total > 0 ? (int) Math.min(WIDTH, WIDTH * done / total) : WIDTH;
            out.printf(Locale.ROOT, "\r%-10s [%s%s] %d/%d %s  %s  %s%s\033[K", label, "#".repeat(filled),
                    " ".repeat(WIDTH - filled), done, total, unit, speed, timing, tail);
            open = !last;
            if (last) {
                out.println();
            }
        } else {
            out.printf(Locale.ROOT, "%s: %d/%d %s (%d%%), %s, %s%s%n", label, done, total, unit,
                    total > 0 ? 100 * done / total : 100, speed, timing, tail);
        }
        out.flush();
    }

    /** Ends a half-drawn terminal line, so that a log message can follow on its own line. */
    synchronized void breakLine() {
        if (open) {
            out.println();
            out.flush();
            open = false;
        }
    }

    static String clock(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
                : String.format(Locale.ROOT, "%d:%02d", s / 60, s % 60);
    }

    /** The process's own stderr, as it was when this class loaded (tests replace System.err). */
    private static final PrintStream STDERR = System.err;
    private static final boolean STDERR_IS_TERMINAL = stderrIsTerminal();

    private static boolean stderrIsTerminal() {
        if ("dumb".equals(System.getenv("TERM"))) {
            return false;
        }
        try {
            // Linux: what file descriptor 2 is; a pseudo-terminal or console is a terminal.
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (Exception | LinkageError e) {
            Console console = System.console();
            return console != null && console.isTerminal();
        }
    }
}
