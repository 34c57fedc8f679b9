package dev.atelier.engine.torchfile;

import dev.atelier.engine.core.AtelierException.FormatException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigInteger;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The bytes of a pickle as {@link PickleReader} reads them: opcodes and their arguments in
 * pickle's encodings (little-endian integers, big-endian doubles, newline-terminated names),
 * every read checked against the end of the data. Errors name the pickle and the offset.
 */
final class PickleInput {
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64_BE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final String where;
    private final MemorySegment in;
    private long pos;

    /** where names the pickle in errors (file and entry). */
    PickleInput(String where, MemorySegment in) {
        this.where = where;
        this.in = in;
    }

    /** The offset of the next byte. */
    long pos() {
        return pos;
    }

    void need(long n) {
        if (n < 0 || pos + n > in.byteSize()) {
            throw error(pos, "the pickle ends early (truncated)");
        }
    }

    void skip(long n) {
        need(n);
        pos += n;
    }

    int u8() {
        need(1);
        return Byte.toUnsignedInt(in.get(ValueLayout.JAVA_BYTE, pos++));
    }

    int u16() {
        int lo = u8();
        return lo | (u8() << 8);
    }

    int i32() {
        need(4);
        int v = in.get(I32, pos);
        pos += 4;
        return v;
    }

    long u32() {
        return Integer.toUnsignedLong(i32());
    }

    /** An 8-byte length; negative is an error at the opcode's offset at. */
    long len64(long at) {
        need(8);
        long v = in.get(I64, pos);
        pos += 8;
        if (v < 0) {
            throw error(at, "negative length");
        }
        return v;
    }

    /** BINFLOAT's argument: 8 bytes, big endian. */
    double f64() {
        need(8);
        double v = in.get(F64_BE, pos);
        pos += 8;
        return v;
    }

    /** LONG1/LONG4's n-byte two's complement little-endian integer: a Long when it fits, else a BigInteger. */
    Object long1(int n) {
        need(n);
        byte[] le = in.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
        pos += n;
        byte[] be = new byte[Math.max(n, 1)];
        for (int i = 0; i < n; i++) {
            be[n - 1 - i] = le[i];
        }
        BigInteger v = n == 0 ? BigInteger.ZERO : new BigInteger(be); // two's complement, little endian
        return v.bitLength() < 64 ? (Object) v.longValue() : v;
    }

    /** Checks that n bytes can be read into an array ({@link #take}). */
    void require(long n) {
        if (n > Integer.MAX_VALUE - 8) {
            throw error(pos, "a " + n + "-byte string is too long");
        }
        need(n);
    }

    /** The next n bytes, checked by {@link #require} first. */
    byte[] take(long n) {
        byte[] b = in.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
        pos += n;
        return b;
    }

    /** A newline-terminated UTF-8 name (GLOBAL's module and name), at most 1000 bytes. */
    String line(long at) {
        long start = pos;
        while (true) {
            need(1);
            if (in.get(ValueLayout.JAVA_BYTE, pos) == '\n') {
                break;
            }
            pos++;
            if (pos - start > 1000) {
                throw error(at, "GLOBAL name longer than 1000 bytes");
            }
        }
        String s = new String(in.asSlice(start, pos - start).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        pos++;
        return s;
    }

    FormatException error(long at, String problem) {
        return new FormatException(where + ": " + problem + " (pickle offset " + at + ")");
    }
}
