package dev.atelier.engine.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextFilesTest {
    @TempDir
    Path dir;

    @Test
    void linesSplitAsTheJdkSplitsThemWithoutAByteOrderMark() throws IOException {
        Path f = dir.resolve("a.txt");
        Files.write(f, "\uFEFFfirst\r\nsecond\rthird\n\nfifth é\n".getBytes(StandardCharsets.UTF_8));
        List<String> lines = TextFiles.readLines(f);
        assertEquals(List.of("first", "second", "third", "", "fifth é"), lines);
        assertEquals(Files.readAllLines(f).subList(1, 5), lines.subList(1, 5));
        assertEquals("first\r\nsecond\rthird\n\nfifth é\n", TextFiles.readString(f));
        Files.write(f, new byte[0]);
        assertEquals(List.of(), TextFiles.readLines(f));
        assertThrows(NoSuchFileException.class, () -> TextFiles.readLines(dir.resolve("none.txt")));
    }

    @Test
    void bytesThatAreNotUtf8NameTheFileTheLineAndTheByte() throws IOException {
        Path f = dir.resolve("list.txt");
        // Latin-1 "é" (0xE9) on line 3, byte 8 of the line; the JDK's readers say "Input length = 1".
        byte[] latin1 = "2\r\nname  status\r\nimg/caf\u00e9.png train\n".getBytes(StandardCharsets.ISO_8859_1);
        Files.write(f, latin1);
        FormatException e = assertThrows(FormatException.class, () -> TextFiles.readLines(f));
        assertEquals(f + ":3: not UTF-8 text (byte 0xE9 at byte 8 of the line); save the file as UTF-8", e.getMessage());
        // A multi-byte sequence cut off at the end of the file.
        Files.write(f, new byte[] {'a', '\n', 'b', (byte) 0xC3});
        e = assertThrows(FormatException.class, () -> TextFiles.readString(f));
        assertTrue(e.getMessage().startsWith(f + ":2: not UTF-8 text (byte 0xC3 at byte 2 of the line)"), e.getMessage());
    }
}
