package dev.atelier.engine.util;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.FormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Files appear whole, by rename or link, with the user's permissions, and leave no temporary files behind. */
class AtomicFilesTest {
    @TempDir
    Path dir;

    private static AtomicFiles.Body text(String s) {
        return ch -> ch.write(ByteBuffer.wrap(s.getBytes(StandardCharsets.UTF_8)));
    }

    private List<String> names() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void filesGetThePermissionsOfAnyNewFileNotThoseOfATemporaryFile() throws IOException {
        // A file made the ordinary way has mode 0666 less the umask: the written files must match it.
        Set<PosixFilePermission> expected = Files.getPosixFilePermissions(Files.createFile(dir.resolve("reference")));
        AtomicFiles.write(dir.resolve("replaced.txt"), "a".getBytes(StandardCharsets.UTF_8));
        Path fresh = AtomicFiles.writeNew(dir, 0, n -> n + ".txt", text("b"));
        assertEquals(expected, Files.getPosixFilePermissions(dir.resolve("replaced.txt")));
        assertEquals(expected, Files.getPosixFilePermissions(fresh));
        assertTrue(expected.contains(PosixFilePermission.OWNER_WRITE));
    }

    @Test
    void writeReplacesWholeAndAFailedWriteLeavesTheOldFileAndNoTemporaryFile() throws IOException {
        Path target = dir.resolve("manifest.json");
        AtomicFiles.write(target, "old".getBytes(StandardCharsets.UTF_8));
        FormatException e = assertThrows(FormatException.class, () -> AtomicFiles.write(target, ch -> {
            ch.write(ByteBuffer.wrap("half".getBytes(StandardCharsets.UTF_8)));
            throw new IOException("disk full");
        }));
        assertTrue(e.getMessage().contains("manifest.json") && e.getMessage().contains("disk full"), e.getMessage());
        assertEquals("old", Files.readString(target));
        assertEquals(List.of("manifest.json"), names());
        AtomicFiles.write(target, "new".getBytes(StandardCharsets.UTF_8));
        assertEquals("new", Files.readString(target));
        assertEquals(List.of("manifest.json"), names());
    }

    @Test
    void writeNewNeverReplacesAFile() throws IOException {
        Files.writeString(dir.resolve("00000-7.png"), "mine");
        Files.writeString(dir.resolve("00001-7.png"), "mine too");
        Path p = AtomicFiles.writeNew(dir, 0, n -> String.format("%05d-7.png", n), text("new"));
        assertEquals("00002-7.png", p.getFileName().toString());
        assertEquals("mine", Files.readString(dir.resolve("00000-7.png")));
        assertEquals("mine too", Files.readString(dir.resolve("00001-7.png")));
        assertEquals("new", Files.readString(p));
        assertEquals(List.of("00000-7.png", "00001-7.png", "00002-7.png"), names());
    }

    @Test
    void concurrentWritersOfOneNameEachGetTheirOwnFile() throws Exception {
        int writers = 8;
        ExecutorService pool = Executors.newFixedThreadPool(writers);
        try {
            List<Future<Path>> written = new java.util.ArrayList<>();
            for (int i = 0; i < writers; i++) {
                String content = "writer " + i;
                written.add(pool.submit(() -> AtomicFiles.writeNew(dir, 0, n -> n + ".txt", text(content))));
            }
            Set<String> contents = new java.util.HashSet<>();
            for (Future<Path> f : written) {
                contents.add(Files.readString(f.get()));
            }
            assertEquals(writers, contents.size(), "no writer's file replaced another's");
            assertEquals(writers, names().size(), names().toString());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void staleTemporaryFilesAreRemovedButNotOneBeingWritten() throws Exception {
        Path stale = dir.resolve(".00003-5.png.0123456789abcdef.tmp");
        Path oldStyle = dir.resolve(".manifest.json.8141592653589793238.tmp"); // Files.createTempFile's suffix
        Path live = dir.resolve(".index-2.faiss.fedcba9876543210.tmp");
        Files.writeString(stale, "half a png");
        Files.writeString(oldStyle, "half");
        Files.writeString(live, "being written");
        Files.writeString(dir.resolve("notes.tmp"), "not ours");
        Files.writeString(dir.resolve("00003-5.png"), "an image");
        // Another process writing `live` holds its lock, as AtomicFiles' writers do.
        try (LockHolder writer = LockHolder.start("file", live.toString())) {
            assertEquals(2, AtomicFiles.removeStale(dir));
            assertTrue(Files.exists(live), "a file another process is writing stays");
            // And one this process is writing stays too.
            AtomicFiles.write(dir.resolve("inside.txt"), ch -> {
                assertEquals(0, AtomicFiles.removeStale(dir));
                ch.write(ByteBuffer.wrap("done".getBytes(StandardCharsets.UTF_8)));
            });
            assertEquals("done", Files.readString(dir.resolve("inside.txt")));
        }
        assertEquals(1, AtomicFiles.removeStale(dir), "the writer has gone: its file is a leftover now");
        assertEquals(List.of("00003-5.png", "inside.txt", "notes.tmp"), names());
        assertEquals(0, AtomicFiles.removeStale(dir.resolve("missing")));
    }

    @Test
    void aKilledWritersTemporaryFileIsRemoved() throws Exception {
        Path left = dir.resolve(".00000-1.png.00112233aabbccdd.tmp");
        Files.writeString(left, "half");
        LockHolder writer = LockHolder.start("file", left.toString());
        assertEquals(0, AtomicFiles.removeStale(dir));
        writer.kill(); // kill -9: the operating system releases its lock
        assertEquals(1, AtomicFiles.removeStale(dir));
        assertEquals(List.of(), names());
    }
}
