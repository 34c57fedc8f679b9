package dev.atelier.engine.util;

import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A second process for the lock tests: holds a lock until its stdin closes (or it is killed).
 * {@code file PATH} locks the file as an AtomicFiles writer locks its temporary file;
 * {@code folder DIR WHAT} takes the folder's FolderLock.
 */
public final class LockHolder implements AutoCloseable {
    private final Process process;

    private LockHolder(Process process) {
        this.process = process;
    }

    public static void main(String[] args) throws IOException {
        if (args[0].equals("file")) {
            try (FileChannel channel = FileChannel.open(Path.of(args[1]), StandardOpenOption.WRITE);
                    FileLock lock = channel.lock()) {
                hold();
            }
        } else {
            try (FolderLock lock = FolderLock.acquire(Path.of(args[1]), args[2], Duration.ZERO)) {
                hold();
            }
        }
    }

    private static void hold() throws IOException {
        System.out.println("held");
        System.out.flush();
        InputStream in = System.in;
        while (in.read() >= 0) {
            // until the test closes stdin
        }
    }

    /** Starts a holder and returns once it holds the lock. */
    public static LockHolder start(String... args) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), LockHolder.class.getName()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String line = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream())).readLine();
        if (!"held".equals(line)) {
            p.destroyForcibly();
            throw new IOException("the lock holder did not start: " + line);
        }
        return new LockHolder(p);
    }

    public long pid() {
        return process.pid();
    }

    /** Kills the holder with SIGKILL, as kill -9 would. */
    public void kill() throws InterruptedException {
        process.destroyForcibly().waitFor();
    }

    /** Lets the holder release its lock and exit normally. */
    @Override
    public void close() throws IOException, InterruptedException {
        if (process.isAlive()) {
            process.getOutputStream().close();
            if (!process.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)) {
                process.destroyForcibly();
            }
        }
    }
}
