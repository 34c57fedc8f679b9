package dev.atelier.engine.torchfile;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** A tiny pickle writer for tests: protocol 2, the opcodes torch.save emits. */
final class PickleWriter {
    final ByteArrayOutputStream out = new ByteArrayOutputStream();

    PickleWriter op(int... bytes) {
        for (int b : bytes) {
            out.write(b);
        }
        return this;
    }

    PickleWriter str(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        op('X').le(b.length);
        out.writeBytes(b);
        return this;
    }

    PickleWriter le(int v) {
        return op(v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >>> 24) & 0xff);
    }

    PickleWriter global(String module, String name) {
        op('c');
        out.writeBytes((module + "\n" + name + "\n").getBytes(StandardCharsets.UTF_8));
        return this;
    }

    PickleWriter ints(long... v) {
        op('(');
        for (long x : v) {
            op('J').le((int) x);
        }
        return op('t');
    }

    /** _rebuild_tensor_v2(('storage', FloatStorage, key, 'cpu', numel), offset, size, stride, False, OrderedDict()). */
    PickleWriter tensor(String key, int numel, int offset, long[] size, long[] stride) {
        global("torch._utils", "_rebuild_tensor_v2").op('(');
        op('(').str("storage").global("torch", "FloatStorage").str(key).str("cpu").op('J').le(numel).op('t', 'Q');
        op('J').le(offset);
        ints(size).ints(stride);
        op(0x89).global("collections", "OrderedDict").op(')', 'R', 't', 'R');
        return this;
    }

    byte[] bytes() {
        return out.toByteArray();
    }
}
