package dev.atelier.engine.util;

import dev.atelier.engine.core.AtelierException.FormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The one way Atelier reads a text file a user gives it (list files, YAML, captions, merges,
 * job files): UTF-8, strictly. A byte sequence that is not UTF-8 is a {@link FormatException}
 * naming the file, the line and column, and the byte, where the JDK's readers say only
 * "Input length = 1" (a MalformedInputException without the file or the place). A UTF-8 byte
 * order mark at the start is dropped, as Python's "utf-8-sig" and most editors do.
 */
public final class TextFiles {
    private TextFiles() {}

    /**
     * The whole file as a string.
     *
     * @throws IOException     when the file cannot be read (missing, a folder, no permission)
     * @throws FormatException when its bytes are not UTF-8
     */
    public static String readString(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        // UTF-8 never decodes to more chars than it has bytes.
        CharBuffer out = CharBuffer.allocate(bytes.length);
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) {
            result = decoder.flush(out);
        }
        if (result.isError()) {
            throw notUtf8(file, bytes, in.position());
        }
        out.flip();
        if (out.hasRemaining() && out.charAt(0) == '\uFEFF') {
            out.position(1);
        }
        return out.toString();
    }

    /**
     * The lines of the file (split at \n, \r\n and \r, as {@link Files#readAllLines} does).
     *
     * @throws IOException     when the file cannot be read
     * @throws FormatException when its bytes are not UTF-8
     */
    public static List<String> readLines(Path file) throws IOException {
        return readString(file).lines().toList();
    }

    private static FormatException notUtf8(Path file, byte[] bytes, int at) {
        at = Math.min(at, bytes.length - 1);
        int line = 1;
        int lineStart = 0;
        for (int i = 0; i < at; i++) {
            if (bytes[i] == '\n' || (bytes[i] == '\r' && (i + 1 >= bytes.length || bytes[i + 1] != '\n'))) {
                line++;
                lineStart = i + 1;
            }
        }
        return new FormatException(String.format("%s:%d: not UTF-8 text (byte 0x%02X at byte %d of the line); "
                + "save the file as UTF-8", file, line, bytes[at] & 0xff, at - lineStart + 1));
    }
}
