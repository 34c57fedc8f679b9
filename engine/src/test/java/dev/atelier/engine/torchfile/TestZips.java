package dev.atelier.engine.torchfile;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** Archives for the torch file tests: made by java.util.zip, or written byte by byte. */
final class TestZips {
    private TestZips() {}

    static byte[] floats(float... v) {
        ByteBuffer b = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float f : v) {
            b.putFloat(f);
        }
        return b.array();
    }

    static void zip(Path file, Map<String, byte[]> entries) throws IOException {
        zip(file, entries, ZipEntry.STORED);
    }

    static void zip(Path file, Map<String, byte[]> entries, int method) throws IOException {
        try (OutputStream os = Files.newOutputStream(file); ZipOutputStream z = new ZipOutputStream(os)) {
            for (Map.Entry<String, byte[]> e : entries.entrySet()) {
                ZipEntry entry = new ZipEntry(e.getKey());
                entry.setMethod(method);
                entry.setSize(e.getValue().length);
                CRC32 crc = new CRC32();
                crc.update(e.getValue());
                entry.setCrc(crc.getValue());
                z.putNextEntry(entry);
                z.write(e.getValue());
                z.closeEntry();
            }
        }
    }

    /**
     * Writes a zip by hand the way large torch.save files look: entries stored, data aligned to
     * 64 bytes by a local extra field, sizes in the central directory only (flag bit 3), and
     * ZIP64 records (local header offsets in the ZIP64 extra, counts in the ZIP64 end record).
     */
    static void zip64(Path file, Map<String, byte[]> entries) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        Map<String, Integer> offsets = new LinkedHashMap<>();
        for (Map.Entry<String, byte[]> e : entries.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            offsets.put(e.getKey(), b.position());
            int pad = (int) ((64 - (b.position() + 30 + name.length + 4) % 64) % 64);
            b.putInt(0x04034b50).putShort((short) 45).putShort((short) 0x0808).putShort((short) 0).putInt(0)
                    .putInt(0).putInt(0).putInt(0).putShort((short) name.length).putShort((short) (4 + pad)).put(name)
                    .putShort((short) 0x4246).putShort((short) pad).put(new byte[pad]).put(e.getValue());
        }
        int cd = b.position();
        for (Map.Entry<String, byte[]> e : entries.entrySet()) {
            byte[] name = e.getKey().getBytes(StandardCharsets.UTF_8);
            CRC32 crc = new CRC32();
            crc.update(e.getValue());
            b.putInt(0x02014b50).putShort((short) 45).putShort((short) 45).putShort((short) 0x0808).putShort((short) 0)
                    .putInt(0).putInt((int) crc.getValue()).putInt(e.getValue().length).putInt(e.getValue().length)
                    .putShort((short) name.length).putShort((short) 12).putShort((short) 0).putShort((short) 0)
                    .putShort((short) 0).putInt(0).putInt(0xFFFFFFFF).put(name)
                    .putShort((short) 1).putShort((short) 8).putLong(offsets.get(e.getKey()));
        }
        int cdSize = b.position() - cd;
        int z = b.position();
        b.putInt(0x06064b50).putLong(44).putShort((short) 45).putShort((short) 45).putInt(0).putInt(0)
                .putLong(entries.size()).putLong(entries.size()).putLong(cdSize).putLong(cd);
        b.putInt(0x07064b50).putInt(0).putLong(z).putInt(1);
        b.putInt(0x06054b50).putShort((short) 0).putShort((short) 0).putShort((short) 0xFFFF).putShort((short) 0xFFFF)
                .putInt(0xFFFFFFFF).putInt(0xFFFFFFFF).putShort((short) 0);
        Files.write(file, java.util.Arrays.copyOf(b.array(), b.position()));
    }
}
