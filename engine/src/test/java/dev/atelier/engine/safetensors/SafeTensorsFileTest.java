package dev.atelier.engine.safetensors;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.core.Weights;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafeTensorsFileTest {
    @TempDir
    Path dir;

    /** A file with the given JSON header followed by dataBytes zero bytes. */
    private Path file(String name, String header, int dataBytes) throws IOException {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + json.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(json.length).put(json);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    private static void assertRejected(Path p, String problem) {
        FormatException e = assertThrows(FormatException.class, () -> SafeTensorsFile.open(p).close());
        assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(problem), "expected '" + problem + "' in: " + e.getMessage());
    }

    @Test
    void readsTheFixtureCheckpoint() {
        try (SafeTensorsFile f = SafeTensorsFile.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"))) {
            assertTrue(f.tensors().size() > 100, "tensors: " + f.tensors().size());
            assertTrue(f.contains("model.diffusion_model.input_blocks.0.0.weight"));
            TensorView v = f.view("model.diffusion_model.input_blocks.0.0.weight");
            assertEquals(DType.F32, v.dtype());
            assertArrayEquals(new long[] {32, 4, 3, 3}, v.shape());
        }
    }

    @Test
    void viewsAreTheMappedBytesAndReachNativeCodeWithoutACopy() throws IOException {
        Path p = dir.resolve("w.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            new SafeTensorsWriter()
                    .add("x", TensorView.ofFloats(arena, new float[] {1.5f, -2f, 3f, 4f}, 2, 2))
                    .add("y", TensorView.ofFloats(arena, new float[] {7f}, 1))
                    .write(p);
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(p); Weights w = new Weights()) {
            TensorView x = f.view("x");
            // The view lies inside the file mapping: no copy on the Java side ...
            long mapStart = f.mapping().address();
            assertTrue(x.data().address() >= mapStart && x.data().address() < mapStart + f.mapping().byteSize());
            assertArrayEquals(new float[] {1.5f, -2f, 3f, 4f}, x.toFloatArray());
            // ... and libtorch holds exactly that address: no copy on the native side.
            w.add("x", x, f);
            assertEquals(x.data().address(), w.address("x"));
        }
    }

    @Test
    void writerRoundTripsTensorsAndMetadata() {
        Path p = dir.resolve("round.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            TensorView ids = TensorView.allocate(arena, DType.I64, 3);
            for (int i = 0; i < 3; i++) {
                ids.data().setAtIndex(ValueLayout.JAVA_LONG, i, 49406 + i);
            }
            new SafeTensorsWriter().add("ids", ids).add("empty", TensorView.allocate(arena, DType.F16, 0, 4))
                    .metadata("format", "pt").metadata("note", "héllo").write(p);
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            assertEquals("héllo", f.metadata().get("note"));
            assertEquals(49408L, f.view("ids").data().getAtIndex(ValueLayout.JAVA_LONG, 2));
            assertArrayEquals(new long[] {0, 4}, f.info("empty").orElseThrow().shape());
            assertEquals(0, (8 + headerLength(p)) % 8, "data section is 8-byte aligned");
        }
    }

    private static long headerLength(Path p) {
        try {
            return ByteBuffer.wrap(Files.readAllBytes(p), 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        } catch (IOException e) {
            throw new RuntimeException(e);
        }
    }

    @Test
    void aFailedWriteLeavesTheOldFileIntact() throws IOException {
        Path p = dir.resolve("keep.safetensors");
        try (Arena arena = Arena.ofConfined()) {
            new SafeTensorsWriter().add("a", TensorView.ofFloats(arena, new float[] {1f}, 1)).write(p);
        }
        byte[] before = Files.readAllBytes(p);
        Arena gone = Arena.ofConfined();
        TensorView freed = TensorView.ofFloats(gone, new float[] {2f, 3f}, 2);
        gone.close(); // the writer will fail while copying this tensor's bytes
        assertThrows(IllegalStateException.class, () -> new SafeTensorsWriter().add("b", freed).write(p));
        assertArrayEquals(before, Files.readAllBytes(p));
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temporary file is left behind");
        }
    }

    @Test
    void emptyAndTruncatedFiles() throws IOException {
        Path empty = dir.resolve("empty.safetensors");
        Files.write(empty, new byte[0]);
        assertRejected(empty, "too short");
        Path good = file("good.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16);
        byte[] all = Files.readAllBytes(good);
        Path truncated = dir.resolve("truncated.safetensors");
        Files.write(truncated, Arrays.copyOf(all, all.length - 5));
        assertRejected(truncated, "beyond the data section");
        Path cut = dir.resolve("cut.safetensors");
        Files.write(cut, Arrays.copyOf(all, 20));
        assertRejected(cut, "runs past the end of the file");
    }

    @Test
    void garbageBytes() throws IOException {
        Path p = dir.resolve("garbage.bin");
        byte[] bytes = new byte[4096];
        new java.util.Random(7).nextBytes(bytes);
        Files.write(p, bytes);
        assertRejected(p, "header length");
        Path text = file("text.safetensors", "{not json at all", 0);
        assertRejected(text, "not well-formed JSON");
        Path array = file("array.safetensors", "[1,2,3]", 0);
        assertRejected(array, "not a JSON object");
        Path dup = file("dup.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4);
        assertRejected(dup, "not well-formed JSON");
    }

    @Test
    void headerLengthBeyondTheFile() throws IOException {
        Path p = dir.resolve("long.safetensors");
        ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(1000);
        Files.write(p, b.array());
        assertRejected(p, "runs past the end of the file");
        ByteBuffer huge = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(Long.MAX_VALUE);
        Files.write(p, huge.array());
        assertRejected(p, "is outside 2..");
    }

    @Test
    void aHeaderThatParsesIntoTooManyValuesIsRefused() throws IOException {
        // Half a million metadata items of 2 tokens each, 5 MB: the header fits the length limit,
        // but its tree would be ten times that, and a 100 MB header of such items, gigabytes.
        long items = SafeTensorsFile.MAX_HEADER_TOKENS / 2 + 1;
        StringBuilder h = new StringBuilder("{\"__metadata__\":{");
        for (long i = 0; i < items; i++) {
            h.append(i == 0 ? "\"" : ",\"").append(Long.toString(i, 36)).append("\":\"\"");
        }
        h.append("}}");
        assertRejected(file("tokens.safetensors", h.toString(), 0), "at most " + SafeTensorsFile.MAX_HEADER_TOKENS + " JSON tokens");
    }

    @Test
    void overlappingAndOutOfRangeOffsets() throws IOException {
        assertRejected(file("overlap.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "overlap");
        assertRejected(file("range.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 8),
                "beyond the data section");
        assertRejected(file("backwards.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]}}", 8),
                "not an interval");
        assertRejected(file("negative.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-4,0]}}", 8),
                "not an interval");
    }

    @Test
    void shapeThatDoesNotMatchItsBytes() throws IOException {
        assertRejected(file("shape.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[3,3],\"data_offsets\":[0,16]}}", 16),
                "shape [3, 3] of F32 (36 bytes) but data_offsets span 16 bytes");
        assertRejected(file("negdim.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4),
                "bad dimension");
    }

    @Test
    void unknownDtypeAndBadMetadata() throws IOException {
        assertRejected(file("dtype.safetensors", "{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1),
                "unknown dtype \"F8_E4M3\"");
        assertRejected(file("meta.safetensors", "{\"__metadata__\":{\"steps\":100}}", 0),
                "__metadata__ value of \"steps\" is not a string");
        assertRejected(file("field.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4),
                "unknown field \"x\"");
    }

    @Test
    void missingFileAndMissingTensor() throws IOException {
        assertRejected(dir.resolve("nope.safetensors"), "no such file");
        Path p = file("one.safetensors", "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
        try (SafeTensorsFile f = SafeTensorsFile.open(p)) {
            FormatException e = assertThrows(FormatException.class, () -> f.view("b"));
            assertTrue(e.getMessage().contains("no tensor named \"b\""));
        }
    }
}
