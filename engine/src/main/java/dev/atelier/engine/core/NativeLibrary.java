package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Finds, loads and checks libatelier, once per JVM.
 *
 * <p>Resolution order: the system property {@code atelier.native.path} (a file or a folder),
 * then the build folder ({@code build/native/libatelier.so} under {@code atelier.root}, the
 * working directory or one of its parents), then {@code java.library.path}. The one used is
 * logged. The bindings find the library's symbols through the class loader, so every native
 * call must be preceded by {@link #load()}: {@link NativeHandle} and the engine's entry points
 * do that.
 */
public final class NativeLibrary {
    private static final Logger LOG = LoggerFactory.getLogger(NativeLibrary.class);
    private static final String FILE_NAME = System.mapLibraryName("atelier");

    private static volatile String loadedFrom;
    private static volatile int threads; // the last count given to atl_set_num_threads (0: all cores)
    private static Integer requestedThreads; // a count asked for before the load (guarded by the class)

    private NativeLibrary() {}

    /** Loads and checks the library if this JVM has not yet; returns where it came from. */
    public static String load() {
        String from = loadedFrom;
        if (from != null) {
            return from;
        }
        synchronized (NativeLibrary.class) {
            if (loadedFrom == null) {
                Settings settings = Settings.fromSystemProperties();
                loadedFrom = loadAndCheck(settings);
            }
            return loadedFrom;
        }
    }

    /** Where the loaded library came from: a file path or "java.library.path". */
    public static String location() {
        return load();
    }

    private static String loadAndCheck(Settings settings) {
        String from;
        Optional<Path> file = resolve(settings);
        if (file.isPresent()) {
            System.load(file.get().toAbsolutePath().toString());
            from = file.get().toAbsolutePath().toString();
        } else {
            try {
                System.loadLibrary("atelier");
            } catch (UnsatisfiedLinkError e) {
                throw new AtelierException.UnavailableException("libatelier not found: set -Datelier.native.path, "
                        + "build it into build/native (cmake -S . -B build && cmake --build build), or add it to "
                        + "java.library.path (" + e.getMessage() + ")");
            }
            from = "java.library.path";
        }
        checkAbi(from);
        setThreads(requestedThreads != null ? requestedThreads : settings.threads());
        LOG.info("loaded libatelier {} from {} ({} threads)", versionString(), from, atl_num_threads());
        return from;
    }

    private static void checkAbi(String from) {
        int library = atl_abi_version();
        int bindings = ATL_ABI_VERSION();
        if (library != bindings) {
            throw new AtelierException.UnavailableException("libatelier at " + from + " has ABI version " + library
                    + " but these bindings need ABI version " + bindings + ": rebuild the native library");
        }
    }

    static Optional<Path> resolve(Settings settings) {
        if (settings.nativePath().isPresent()) {
            Path path = settings.nativePath().get();
            Path file = Files.isDirectory(path) ? path.resolve(FILE_NAME) : path;
            if (!Files.isRegularFile(file)) {
                throw new AtelierException.UnavailableException("atelier.native.path names " + path
                        + " but there is no " + FILE_NAME + " there");
            }
            return Optional.of(file);
        }
        for (Path dir : buildFolderCandidates(settings)) {
            Path file = dir.resolve("build").resolve("native").resolve(FILE_NAME);
            if (Files.isRegularFile(file)) {
                return Optional.of(file);
            }
        }
        return Optional.empty();
    }

    private static List<Path> buildFolderCandidates(Settings settings) {
        List<Path> dirs = new ArrayList<>();
        settings.root().ifPresent(dirs::add);
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            dirs.add(dir);
        }
        return dirs;
    }

    /** See {@link NativeInfo#setThreads}. */
    static synchronized void requestThreads(int n) {
        if (n < 0) {
            throw new AtelierException.InvalidInputException("the thread count must be >= 0 (0: all cores), got " + n);
        }
        if (loadedFrom == null) {
            requestedThreads = n;
        } else {
            setThreads(n);
        }
    }

    /** atl_set_num_threads, remembered for {@link #useLibraryThreads()}. */
    static synchronized void setThreads(int n) {
        Status.check(atl_set_num_threads(n));
        threads = n;
    }

    /**
     * Gives the calling thread the library-wide intra-op thread count again (the one set at load
     * from {@code atelier.threads}, or by {@link NativeInfo#setThreads}). libtorch keeps the count
     * per thread, taken when the thread first enters it from the count in force at that moment;
     * an {@code atl_embedder_forward} call lowers that count while it runs (its num_threads), so a
     * thread that first enters libtorch during one keeps the lower count for good. The SD
     * networks' results depend on the count (sums are split differently), so code that must give
     * the same bits on any thread calls this first.
     */
    public static void useLibraryThreads() {
        synchronized (NativeLibrary.class) {
            useOnThisThread(threads);
        }
    }

    /**
     * Gives the calling thread one intra-op thread, for native calls that run beside others on
     * threads of their own (a server's per-request text encoding and decoding beside its UNet
     * batches). Every thread that runs native code with more creates its own OpenMP team, and
     * once the teams' threads outnumber the cores libgomp stops spinning between parallel regions
     * in every team: the UNet batch's worker then sleeps and is woken again for each of its
     * thousands of regions a step. atl_set_num_threads also sets OpenBLAS's process-wide count
     * (used only by libtorch's own matrix products: LoRA merging, training), and libtorch takes
     * the last count set as the one a thread starts with: threads that need the library-wide
     * count call {@link #useLibraryThreads()} first.
     */
    public static void useOneThread() {
        useOnThisThread(1);
        releaseThreads();
    }

    /**
     * Ends the calling thread's idle intra-op worker threads ({@code atl_release_threads}); its next
     * parallel native call starts them again. For a thread that has run native work at the
     * library's count and now waits while another thread computes (the thread that loaded a
     * served model, a training that gives way to generation): while more OpenMP worker threads
     * exist than cores, libgomp stops spinning between parallel regions in every thread, and the
     * computing thread then waits for its worker to be woken at each of a network's thousands of
     * regions (a UNet batch of the default model took 1.6x as long).
     */
    public static void releaseThreads() {
        load();
        Status.check(atl_release_threads());
    }

    private static void useOnThisThread(int n) {
        load();
        // at::get_num_threads first: it makes libtorch take this thread's count from the global one
        // now, if it has not yet, so that its first parallel op cannot undo the count set next.
        atl_num_threads();
        Status.check(atl_set_num_threads(n));
    }

    public static String version() {
        load();
        return versionString();
    }

    private static String versionString() {
        return atl_version().reinterpret(Long.MAX_VALUE).getString(0);
    }
}
