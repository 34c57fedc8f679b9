package dev.atelier.engine.safetensors;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A safetensors file, memory-mapped and validated.
 *
 * <p>Format: an 8-byte little-endian header length N, N bytes of UTF-8 JSON mapping each tensor
 * name to {@code {"dtype", "shape", "data_offsets": [begin, end]}} (offsets relative to the
 * data section that follows the header), and an optional {@code "__metadata__"} object of
 * strings. Every rule is checked before any tensor is handed out, and every error names the file.
 *
 * <p>Ownership: the mapping lives in a shared arena owned by this object. {@link #view} returns
 * views of the mapping itself (no copy) that are valid until {@link #close()}; the mapping is
 * read-only, so native code must never write through them.
 */
public final class SafeTensorsFile extends dev.atelier.engine.core.MappedFile {
    /** The safetensors reference implementation refuses headers over 100 MB; so do we. */
    public static final long MAX_HEADER_BYTES = 100_000_000L;

    /**
     * The most JSON tokens a header may hold. A tensor's entry is about 20 tokens, so this allows
     * 50,000 tensors (SD 1.5 has about 1,100, SDXL about 2,500, the largest LLM shards a few
     * thousand; metadata values are one string token each); it bounds the parsed tree to some
     * 50 MB and the parse to a fraction of a second, where a 100 MB header of tiny items
     * ({@code "a":"",} repeated) would otherwise build a tree of gigabytes.
     */
    public static final long MAX_HEADER_TOKENS = 1_000_000;
    /** A header nests three levels (header, tensor, shape); metadata values are strings. */
    private static final int MAX_HEADER_DEPTH = 8;

    private static final ObjectMapper JSON = JsonMapper.builder(com.fasterxml.jackson.core.JsonFactory.builder()
                    .streamReadConstraints(com.fasterxml.jackson.core.StreamReadConstraints.builder()
                            .maxTokenCount(MAX_HEADER_TOKENS).maxNestingDepth(MAX_HEADER_DEPTH).build())
                    .build())
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path path;
    private final MemorySegment mapping;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;
    private final Map<String, String> metadata;

    private SafeTensorsFile(Path path, Arena arena, MemorySegment mapping, long dataStart,
            Map<String, TensorInfo> tensors, Map<String, String> metadata) {
        super(path.toString(), arena);
        this.path = path;
        this.mapping = mapping;
        this.dataStart = dataStart;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps and validates path; throws {@link FormatException} naming the file and the problem. */
    public static SafeTensorsFile open(Path path) {
        return open(path, dev.atelier.engine.core.FileAccess.MAP);
    }

    /** {@link #open(Path)}, the file mapped or read into memory as access says. */
    public static SafeTensorsFile open(Path path, dev.atelier.engine.core.FileAccess access) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mapping;
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
                mapping = access.contents(path, channel, arena);
            } catch (NoSuchFileException e) {
                throw new FormatException(AtelierException.IO, path + ": no such file");
            } catch (IOException e) {
                throw new FormatException(AtelierException.IO, path + ": cannot read: " + e.getMessage());
            }
            SafeTensorsFile file = parse(path, arena, mapping);
            arena = null; // now owned by file
            return file;
        } finally {
            if (arena != null) {
                arena.close();
            }
        }
    }

    /** Validates a mapping (or any segment holding a file's bytes); the result owns arena. */
    static SafeTensorsFile parse(Path path, Arena arena, MemorySegment mapping) {
        long size = mapping.byteSize();
        if (size < 8) {
            throw error(path, "file is " + size + " bytes, too short for the 8-byte header length");
        }
        long headerLength = mapping.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLength < 2 || headerLength > MAX_HEADER_BYTES) {
            throw error(path, "header length " + Long.toUnsignedString(headerLength)
                    + " is outside 2.." + MAX_HEADER_BYTES + " bytes (not a safetensors file?)");
        }
        if (headerLength > size - 8) {
            throw error(path, "header length " + headerLength + " runs past the end of the file ("
                    + size + " bytes): the file is truncated or not safetensors");
        }
        JsonNode root;
        // Parsed from the mapping itself, without a copy of the header; trailing spaces (padding)
        // are whitespace to the parser.
        try (java.io.InputStream header = new ByteBufferInputStream(mapping.asSlice(8, headerLength).asByteBuffer())) {
            root = JSON.readTree(header);
        } catch (com.fasterxml.jackson.core.exc.StreamConstraintsException e) {
            throw error(path, "header exceeds a parsing limit (at most " + MAX_HEADER_TOKENS + " JSON tokens, nesting "
                    + MAX_HEADER_DEPTH + " deep): " + e.getOriginalMessage());
        } catch (JsonProcessingException e) {
            throw error(path, "header is not well-formed JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw error(path, "cannot read the header: " + e.getMessage());
        }
        if (root == null || !root.isObject()) {
            throw error(path, "header is not a JSON object");
        }
        long dataStart = 8 + headerLength;
        long dataSize = size - dataStart;
        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> infos = new ArrayList<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> field = it.next();
            if (field.getKey().equals("__metadata__")) {
                readMetadata(path, field.getValue(), metadata);
            } else {
                infos.add(readEntry(path, field.getKey(), field.getValue(), dataSize));
            }
        }
        checkNoOverlap(path, infos);
        Map<String, TensorInfo> tensors = new LinkedHashMap<>();
        infos.stream().sorted(Comparator.comparingLong(TensorInfo::begin)).forEach(t -> tensors.put(t.name(), t));
        return new SafeTensorsFile(path, arena, mapping, dataStart, Collections.unmodifiableMap(tensors),
                Collections.unmodifiableMap(metadata));
    }

    private static void readMetadata(Path path, JsonNode node, Map<String, String> metadata) {
        if (!node.isObject()) {
            throw error(path, "__metadata__ is not a JSON object");
        }
        for (Iterator<Map.Entry<String, JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (!e.getValue().isTextual()) {
                throw error(path, "__metadata__ value of \"" + e.getKey() + "\" is not a string");
            }
            metadata.put(e.getKey(), e.getValue().textValue());
        }
    }

    private static TensorInfo readEntry(Path path, String name, JsonNode node, long dataSize) {
        String where = "tensor \"" + name + "\"";
        if (!node.isObject()) {
            throw error(path, where + " is not a JSON object");
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw error(path, where + " has no dtype string");
        }
        DType dtype = DType.fromName(dtypeNode.textValue()).orElseThrow(() -> error(path,
                where + " has unknown dtype \"" + dtypeNode.textValue() + "\" (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)"));
        JsonNode shapeNode = node.get("shape");
        if (shapeNode == null || !shapeNode.isArray() || shapeNode.size() > TensorView.MAX_DIMS) {
            throw error(path, where + " has no shape array of at most " + TensorView.MAX_DIMS + " dimensions");
        }
        long[] shape = new long[shapeNode.size()];
        long elements = 1;
        for (int i = 0; i < shape.length; i++) {
            JsonNode d = shapeNode.get(i);
            if (!d.canConvertToExactIntegral() || !d.canConvertToLong() || d.longValue() < 0) {
                throw error(path, where + " has a bad dimension " + d + " in its shape");
            }
            shape[i] = d.longValue();
            try {
                elements = Math.multiplyExact(elements, shape[i]);
            } catch (ArithmeticException e) {
                throw error(path, where + " has a shape too large to address");
            }
        }
        JsonNode offsets = node.get("data_offsets");
        if (offsets == null || !offsets.isArray() || offsets.size() != 2
                || !offsets.get(0).canConvertToExactIntegral() || !offsets.get(1).canConvertToExactIntegral()
                || !offsets.get(0).canConvertToLong() || !offsets.get(1).canConvertToLong()) {
            throw error(path, where + " has no data_offsets [begin, end] of two integers");
        }
        long begin = offsets.get(0).longValue();
        long end = offsets.get(1).longValue();
        if (begin < 0 || end < begin) {
            throw error(path, where + " has data_offsets [" + begin + ", " + end + "] that are not an interval");
        }
        if (end > dataSize) {
            throw error(path, where + " has data_offsets [" + begin + ", " + end + "] beyond the data section ("
                    + dataSize + " bytes): the file is truncated or the offsets are out of range");
        }
        long expected;
        try {
            expected = Math.multiplyExact(elements, dtype.byteSize());
        } catch (ArithmeticException e) {
            throw error(path, where + " has a shape too large to address");
        }
        if (end - begin != expected) {
            throw error(path, where + " has shape " + java.util.Arrays.toString(shape) + " of " + dtype + " ("
                    + expected + " bytes) but data_offsets span " + (end - begin) + " bytes");
        }
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!key.equals("dtype") && !key.equals("shape") && !key.equals("data_offsets")) {
                throw error(path, where + " has an unknown field \"" + key + "\"");
            }
        }
        return new TensorInfo(name, dtype, shape, begin, end);
    }

    private static void checkNoOverlap(Path path, List<TensorInfo> infos) {
        List<TensorInfo> sorted = new ArrayList<>(infos);
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        for (int i = 1; i < sorted.size(); i++) {
            TensorInfo previous = sorted.get(i - 1);
            TensorInfo current = sorted.get(i);
            if (current.begin() < previous.end() && current.byteSize() > 0) {
                throw error(path, "tensors \"" + previous.name() + "\" [" + previous.begin() + ", " + previous.end()
                        + ") and \"" + current.name() + "\" [" + current.begin() + ", " + current.end() + ") overlap");
            }
        }
    }

    private static FormatException error(Path path, String problem) {
        return new FormatException(path + ": " + problem);
    }

    public Path path() {
        return path;
    }

    /** Tensor entries in the order of their data. */
    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public Optional<TensorInfo> info(String name) {
        return Optional.ofNullable(tensors.get(name));
    }

    public boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** A view of the mapped bytes of name, without a copy; valid until {@link #close()}. */
    public TensorView view(String name) {
        TensorInfo info = tensors.get(name);
        if (info == null) {
            throw error(path, "no tensor named \"" + name + "\"");
        }
        MemorySegment bytes = info.byteSize() == 0 ? MemorySegment.NULL.reinterpret(0)
                : mapping.asSlice(dataStart + info.begin(), info.byteSize());
        return TensorView.of(bytes, info.dtype(), info.shape());
    }

    /** The whole mapping (header included); valid until {@link #close()}. */
    public MemorySegment mapping() {
        return mapping;
    }

    @Override
    public String toString() {
        return "SafeTensorsFile[" + path + ", " + tensors.size() + " tensors]";
    }

    /** An InputStream over a ByteBuffer (the header's slice of the mapping). */
    private static final class ByteBufferInputStream extends java.io.InputStream {
        private final java.nio.ByteBuffer buffer;

        ByteBufferInputStream(java.nio.ByteBuffer buffer) {
            this.buffer = buffer;
        }

        @Override
        public int read() {
            return buffer.hasRemaining() ? buffer.get() & 0xff : -1;
        }

        @Override
        public int read(byte[] b, int off, int len) {
            if (len == 0) {
                return 0;
            }
            if (!buffer.hasRemaining()) {
                return -1;
            }
            int n = Math.min(len, buffer.remaining());
            buffer.get(b, off, n);
            return n;
        }
    }
}
