package dev.atelier.engine.safetensors;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.util.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Writes safetensors files atomically: into a temporary file beside the target, flushed to
 * disk, then renamed over it. A failure at any point leaves an existing file untouched.
 */
public final class SafeTensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, TensorView> tensors = new LinkedHashMap<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    /** Adds a contiguous tensor; its memory is read when {@link #write} runs. */
    public SafeTensorsWriter add(String name, TensorView view) {
        if (name.equals("__metadata__")) {
            throw new AtelierException.InvalidInputException("\"__metadata__\" is reserved and cannot name a tensor");
        }
        if (!view.isContiguous()) {
            throw new AtelierException.InvalidInputException("tensor \"" + name + "\" is not contiguous");
        }
        if (tensors.putIfAbsent(name, view) != null) {
            throw new AtelierException.InvalidInputException("duplicate tensor name \"" + name + "\"");
        }
        return this;
    }

    public SafeTensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public SafeTensorsWriter metadata(Map<String, String> entries) {
        metadata.putAll(entries);
        return this;
    }

    /** Writes everything added to target, atomically. */
    public void write(Path target) {
        byte[] header = header();
        AtomicFiles.write(target, channel -> {
            ByteBuffer length = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(header.length).flip();
            writeFully(channel, length);
            writeFully(channel, ByteBuffer.wrap(header));
            for (TensorView view : tensors.values()) {
                long bytes = view.numel() * view.dtype().byteSize();
                if (bytes > 0) {
                    writeFully(channel, view.data().asSlice(0, bytes).asByteBuffer());
                }
            }
        });
    }

    private byte[] header() {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode meta = root.putObject("__metadata__");
            metadata.forEach(meta::put);
        }
        long offset = 0;
        for (Map.Entry<String, TensorView> e : tensors.entrySet()) {
            TensorView v = e.getValue();
            long bytes = v.numel() * v.dtype().byteSize();
            ObjectNode entry = root.putObject(e.getKey());
            entry.put("dtype", v.dtype().name());
            ArrayNode shape = entry.putArray("shape");
            for (long d : v.shape()) {
                shape.add(d);
            }
            entry.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = root.toString().getBytes(StandardCharsets.UTF_8);
        // Pad with spaces so that the data section starts 8-byte aligned, as the reference writer does.
        int padded = (json.length + 8 + 7) / 8 * 8 - 8;
        byte[] header = new byte[padded];
        System.arraycopy(json, 0, header, 0, json.length);
        java.util.Arrays.fill(header, json.length, padded, (byte) ' ');
        return header;
    }

    private static void writeFully(FileChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }
}
