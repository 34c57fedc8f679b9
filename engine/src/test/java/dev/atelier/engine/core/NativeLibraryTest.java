package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.*;
import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class NativeLibraryTest {

    @Test
    void committedBindingsMatchTheHeaderAndTheLibrary() throws IOException {
        Path header = repositoryRoot().resolve("native/include/atelier.h");
        Matcher m = Pattern.compile("#define ATL_ABI_VERSION (\\d+)").matcher(Files.readString(header));
        assertTrue(m.find(), "no ATL_ABI_VERSION in " + header);
        int headerVersion = Integer.parseInt(m.group(1));
        assertEquals(headerVersion, ATL_ABI_VERSION(), "bindings/ are stale: regenerate them (bindings/regenerate.sh)");
        NativeLibrary.load();
        assertEquals(headerVersion, atl_abi_version(), "libatelier was built from another header");
    }

    @Test
    void reportsVersionsAndMachine() {
        NativeInfo info = NativeInfo.read();
        assertTrue(info.torchVersion().startsWith("1.") || info.torchVersion().startsWith("2."), info.torchVersion());
        assertTrue(info.faissVersion().matches("\\d+\\.\\d+\\.\\d+"), info.faissVersion());
        assertTrue(info.cores() >= 1);
        assertTrue(info.threads() >= 1);
        assertTrue(info.libraryPath().endsWith("libatelier.so") || info.libraryPath().equals("java.library.path"));
    }

    @Test
    void threadCountIsAnExplicitSetting() {
        int before = NativeInfo.read().threads();
        try {
            NativeInfo.setThreads(1);
            assertEquals(1, NativeInfo.read().threads());
            NativeInfo.setThreads(0);
            assertEquals(NativeInfo.read().cores(), NativeInfo.read().threads());
        } finally {
            NativeInfo.setThreads(before);
        }
    }

    @Test
    void explicitPathThatDoesNotExistIsAClearError() {
        Settings settings = new Settings(Optional.of(Path.of("/nonexistent/dir")), Optional.empty(), 0);
        var e = assertThrows(AtelierException.UnavailableException.class, () -> NativeLibrary.resolve(settings));
        assertTrue(e.getMessage().contains("/nonexistent/dir"), e.getMessage());
    }

    @Test
    void buildFolderIsFoundFromTheRoot() {
        Settings settings = new Settings(Optional.empty(), Optional.of(repositoryRoot()), 0);
        Optional<Path> found = NativeLibrary.resolve(settings);
        assertTrue(found.isPresent());
        assertEquals(repositoryRoot().resolve("build/native/libatelier.so").toAbsolutePath(), found.get().toAbsolutePath());
    }

    static Path repositoryRoot() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("native/include/atelier.h"))) {
                return dir;
            }
        }
        throw new IllegalStateException("repository root not found above " + Path.of("").toAbsolutePath());
    }
}
