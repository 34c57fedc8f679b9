package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.bindings.atl_profile_entry;
import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.Status;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where the SD networks spend their time ({@code atl_profile}): seconds, calls and floating-point
 * operations per network (text encoder, UNet, VAE) and operation class (convolution, linear,
 * attention, ...), recorded on the thread that {@link #start() started} it.
 *
 * <p>Only work on that thread is recorded: the networks' forward calls and the native sampling
 * loop. {@link Pipeline#generate} runs them on the caller's thread, so
 * <pre>{@code
 * try (Profile profile = Profile.start()) {
 *     pipeline.generate(request, progress);
 *     profile.stop();
 *     System.err.print(Profile.table(profile.entries(), PeakFlops.measure(DType.F32, 1).gflops()));
 * }
 * }</pre>
 * One profile records on a thread at a time: starting another one on the same thread replaces
 * it. A platform thread only: a virtual thread may move between carrier threads between calls.
 * {@link #stop()} and {@link #close()} belong on the recording thread; {@link #entries()} may be
 * read there while recording, or anywhere after {@link #stop()}.
 */
public final class Profile extends NativeHandle {
    // Keeps the recording profile reachable from its thread, so that the cleaner never frees a
    // profile the native side still writes into (atl_profile_start: p must outlive the recording).
    private static final ThreadLocal<Profile> RECORDING = new ThreadLocal<>();
    private volatile Thread recordingOn;

    private Profile(MemorySegment pointer) {
        super("atl_profile", pointer, p -> atl_profile_destroy(p));
    }

    /** A new, empty profile recording on the calling thread until {@link #stop()} or {@link #close()}. */
    public static Profile start() {
        Thread thread = Thread.currentThread();
        if (thread.isVirtual()) {
            throw new IllegalStateException("profiles record on platform threads; " + thread + " is virtual");
        }
        Profile profile = new Profile(create((arena, out) -> atl_profile_create(out)));
        try {
            Status.check(atl_profile_start(profile.pointer()));
        } catch (RuntimeException e) {
            profile.close();
            throw e;
        }
        Profile replaced = RECORDING.get();
        if (replaced != null) {
            replaced.recordingOn = null;
        }
        RECORDING.set(profile);
        profile.recordingOn = thread;
        return profile;
    }

    /** Stops recording (the entries stay); nothing when it is not recording. On the recording thread. */
    public void stop() {
        if (RECORDING.get() == this) {
            atl_profile_stop();
            RECORDING.remove();
            recordingOn = null;
            return;
        }
        Thread on = recordingOn;
        if (on != null) {
            throw new IllegalStateException("profile records on thread " + on.getName() + "; stop it there");
        }
    }

    /** Whether it is recording (on some thread). */
    public boolean recording() {
        return recordingOn != null;
    }

    /** Stops recording and frees the profile. On the recording thread, when it is recording. */
    @Override
    public void close() {
        stop();
        super.close();
    }

    /**
     * What was recorded: one entry per network and operation class with any time, networks in the
     * order text_encoder, unet, vae, each with an {@code other} entry last (its forward time in no
     * class; its calls are the network's forward calls).
     */
    public List<Entry> entries() {
        MemorySegment p = pointer();
        int n = atl_profile_read(p, MemorySegment.NULL, 0);
        if (n == 0) {
            return List.of();
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = atl_profile_entry.allocateArray(n, arena);
            int read = Math.min(n, atl_profile_read(p, out, n));
            List<Entry> entries = new ArrayList<>(read);
            for (int i = 0; i < read; i++) {
                MemorySegment e = atl_profile_entry.asSlice(out, i);
                entries.add(new Entry(name(atl_profile_network_name(atl_profile_entry.network(e))),
                        name(atl_op_class_name(atl_profile_entry.op_class(e))), atl_profile_entry.calls(e),
                        atl_profile_entry.seconds(e), atl_profile_entry.flops(e)));
            }
            return List.copyOf(entries);
        }
    }

    private static String name(MemorySegment s) {
        return s.equals(MemorySegment.NULL) ? "unknown" : s.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /**
     * One network's time in one operation class ({@code atl_profile_entry}).
     *
     * @param network "text_encoder", "unet" or "vae" ({@code atl_profile_network_name})
     * @param opClass "convolution", "linear", "attention", "normalisation", "elementwise",
     *                "layout" or "other" ({@code atl_op_class_name})
     * @param calls   operations run; for "other", forward calls of the network
     * @param seconds wall time on the recording thread
     * @param flops   floating-point operations, counted for convolutions, Linear layers and
     *                attention; 0 for the other classes
     */
    public record Entry(String network, String opClass, long calls, double seconds, double flops) {
        /** flops / 1e9. */
        public double gflop() {
            return flops / 1e9;
        }
    }

    /**
     * A Markdown table per network: a row per operation class with its time, share of the
     * network's time, GFLOP, achieved GFLOP/s and share of peakGflops, then the network's total.
     * A peak of 0 (or NaN) leaves the "% of peak" column empty.
     *
     * @param entries     from {@link #entries()}
     * @param peakGflops  the machine's peak in GFLOP/s ({@link PeakFlops#gflops()})
     */
    public static String table(List<Entry> entries, double peakGflops) {
        Map<String, List<Entry>> byNetwork = new LinkedHashMap<>();
        for (Entry e : entries) {
            byNetwork.computeIfAbsent(e.network(), k -> new ArrayList<>()).add(e);
        }
        StringBuilder s = new StringBuilder();
        s.append("| network | op class | calls | time s | share | GFLOP | GFLOP/s | % of peak |\n");
        s.append("|---|---|---:|---:|---:|---:|---:|---:|\n");
        for (Map.Entry<String, List<Entry>> n : byNetwork.entrySet()) {
            double seconds = n.getValue().stream().mapToDouble(Entry::seconds).sum();
            double flops = n.getValue().stream().mapToDouble(Entry::flops).sum();
            for (Entry e : n.getValue()) {
                row(s, n.getKey(), e.opClass(), Long.toString(e.calls()), e.seconds(), seconds, e.flops(), peakGflops);
            }
            row(s, n.getKey(), "**total**", "", seconds, seconds, flops, peakGflops);
        }
        return s.toString();
    }

    private static void row(StringBuilder s, String network, String opClass, String calls, double seconds,
            double networkSeconds, double flops, double peakGflops) {
        double gflops = seconds > 0 ? flops / 1e9 / seconds : 0;
        boolean counted = flops > 0;
        s.append(String.format(Locale.ROOT, "| %s | %s | %s | %.3f | %s | %s | %s | %s |%n", network, opClass, calls,
                seconds, networkSeconds > 0 ? String.format(Locale.ROOT, "%.1f %%", 100 * seconds / networkSeconds) : "",
                counted ? String.format(Locale.ROOT, "%.3f", flops / 1e9) : "",
                counted && seconds > 0 ? String.format(Locale.ROOT, "%.1f", gflops) : "",
                counted && seconds > 0 && peakGflops > 0
                        ? String.format(Locale.ROOT, "%.1f %%", 100 * gflops / peakGflops) : ""));
    }
}
