package dev.atelier.engine.torchfile;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * A zip file written field by field, so that a test can make any field lie: the local header's
 * name, method or sizes against the central directory's, sizes past the file, ZIP64 values near
 * 2^63, an end record pointing anywhere. Entries are honest until a test changes a field.
 */
final class RawZip {
    /** One entry; data is what lies in the file (deflated already when method is 8). */
    static final class Entry {
        String name;
        String localName;
        int method;
        int flags;
        byte[] data;
        int crc;
        long cdCompressed;
        long cdSize;
        long localCompressed;
        long localSize;
        /** When set, the central directory saturates both sizes and puts these in a ZIP64 extra. */
        boolean zip64Sizes;
        /** When not negative, the central directory points at this entry's local header instead. */
        int sharesLocalHeaderOf = -1;
    }

    final List<Entry> entries = new ArrayList<>();
    /** When set, a ZIP64 end record gives these instead of the true directory offset and size. */
    long[] zip64Directory;

    Entry stored(String name, byte[] content) {
        Entry e = new Entry();
        e.name = e.localName = name;
        e.method = 0;
        e.data = content;
        e.crc = crc(content);
        e.cdCompressed = e.cdSize = e.localCompressed = e.localSize = content.length;
        entries.add(e);
        return e;
    }

    Entry deflated(String name, byte[] content) {
        Entry e = stored(name, content);
        e.method = 8;
        e.data = deflate(content);
        e.cdCompressed = e.localCompressed = e.data.length;
        return e;
    }

    static byte[] deflate(byte[] content) {
        Deflater d = new Deflater(Deflater.BEST_SPEED, true);
        d.setInput(content);
        d.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[1 << 16];
        while (!d.finished()) {
            out.write(buf, 0, d.deflate(buf));
        }
        d.end();
        return out.toByteArray();
    }

    static int crc(byte[] b) {
        CRC32 c = new CRC32();
        c.update(b);
        return (int) c.getValue();
    }

    byte[] bytes() {
        ByteBuffer b = ByteBuffer.allocate(capacity()).order(ByteOrder.LITTLE_ENDIAN);
        long[] offsets = new long[entries.size()];
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            byte[] name = e.localName.getBytes(StandardCharsets.UTF_8);
            offsets[i] = b.position();
            b.putInt(0x04034b50).putShort((short) 20).putShort((short) e.flags).putShort((short) e.method)
                    .putInt(0).putInt(e.crc).putInt((int) e.localCompressed).putInt((int) e.localSize)
                    .putShort((short) name.length).putShort((short) 0).put(name).put(e.data);
        }
        int cd = b.position();
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            byte[] name = e.name.getBytes(StandardCharsets.UTF_8);
            long local = offsets[e.sharesLocalHeaderOf >= 0 ? e.sharesLocalHeaderOf : i];
            b.putInt(0x02014b50).putShort((short) 45).putShort((short) 20).putShort((short) e.flags)
                    .putShort((short) e.method).putInt(0).putInt(e.crc)
                    .putInt(e.zip64Sizes ? -1 : (int) e.cdCompressed).putInt(e.zip64Sizes ? -1 : (int) e.cdSize)
                    .putShort((short) name.length).putShort((short) (e.zip64Sizes ? 20 : 0)).putShort((short) 0)
                    .putShort((short) 0).putShort((short) 0).putInt(0).putInt((int) local).put(name);
            if (e.zip64Sizes) {
                b.putShort((short) 1).putShort((short) 16).putLong(e.cdSize).putLong(e.cdCompressed);
            }
        }
        int cdSize = b.position() - cd;
        if (zip64Directory != null) {
            int z = b.position();
            b.putInt(0x06064b50).putLong(44).putShort((short) 45).putShort((short) 45).putInt(0).putInt(0)
                    .putLong(entries.size()).putLong(entries.size()).putLong(zip64Directory[1]).putLong(zip64Directory[0]);
            b.putInt(0x07064b50).putInt(0).putLong(z).putInt(1);
        }
        b.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) entries.size())
                .putShort((short) entries.size()).putInt(cdSize).putInt(cd).putShort((short) 0);
        return java.util.Arrays.copyOf(b.array(), b.position());
    }

    private int capacity() {
        int n = 200;
        for (Entry e : entries) {
            n += 30 + 46 + 20 + 2 * e.name.length() * 3 + e.localName.length() * 3 + e.data.length;
        }
        return n;
    }
}
