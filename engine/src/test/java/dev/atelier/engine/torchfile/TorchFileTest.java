package dev.atelier.engine.torchfile;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.testing.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import static dev.atelier.engine.torchfile.TestZips.floats;
import static dev.atelier.engine.torchfile.TestZips.zip;
import static dev.atelier.engine.torchfile.TestZips.zip64;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TorchFileTest {
    private static final Path DIR = Fixtures.sd15Tiny().resolve("mobilenet_v3_large");

    @Test
    void pthEqualsSafetensors() {
        try (TorchFile pth = TorchFile.open(DIR.resolve("mobilenet_v3_large.pth"));
                SafeTensorsFile st = SafeTensorsFile.open(DIR.resolve("mobilenet_v3_large.safetensors"))) {
            assertEquals(new java.util.TreeSet<>(st.tensors().keySet()), new java.util.TreeSet<>(pth.tensors().keySet()));
            assertEquals(312, pth.tensors().size());
            for (String name : st.tensors().keySet()) {
                TensorView expected = st.view(name);
                TensorView actual = pth.view(name);
                assertEquals(expected.dtype(), actual.dtype(), name);
                assertArrayEquals(expected.shape(), actual.shape(), name);
                assertTrue(actual.isContiguous(), name);
                long bytes = expected.numel() * expected.dtype().byteSize();
                assertArrayEquals(expected.data().asSlice(0, bytes).toArray(ValueLayout.JAVA_BYTE),
                        actual.data().asSlice(0, bytes).toArray(ValueLayout.JAVA_BYTE), name);
            }
            // Zero-copy: the tensor lies inside the file mapping (64-byte aligned, as torch writes it).
            TensorView w = pth.view("features.0.0.weight");
            assertTrue(w.data().isNative() && w.data().isMapped(), "a view of the mapping");
            assertEquals(0, w.data().address() % 64);
            assertEquals(DType.I64, pth.view("features.0.1.num_batches_tracked").dtype());
            assertEquals(pth.tensors(), pth.stateDict());
        }
    }

    // --- hand-assembled archives (PickleWriter, TestZips) ---

    @Test
    void nestedDictsStridesAndOffsets(@TempDir Path dir) throws IOException {
        // {"state_dict": OrderedDict(a=t[1:3].T view, b=param), "global_step": 7, "lists": [t]}
        PickleWriter p = new PickleWriter().op(0x80, 2).op('}').str("state_dict").global("collections", "OrderedDict").op(')', 'R');
        p.op('(').str("a").tensor("0", 8, 2, new long[] {3, 2}, new long[] {1, 3});
        p.str("b").global("torch._utils", "_rebuild_parameter").op('(')
                .tensor("1", 2, 0, new long[] {2}, new long[] {1}).op(0x88).global("collections", "OrderedDict")
                .op(')', 'R', 't', 'R');
        p.op('u', 's');
        p.str("global_step").op('K', 7, 's');
        p.str("lists").op(']').tensor("1", 2, 1, new long[] {}, new long[] {}).op('a', 's');
        p.op('.');
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("archive/data.pkl", p.bytes());
        entries.put("archive/data/0", floats(0, 1, 2, 3, 4, 5, 6, 7));
        entries.put("archive/data/1", floats(10, 11));
        entries.put("archive/version", "3\n".getBytes(StandardCharsets.US_ASCII));
        Path file = dir.resolve("nested.ckpt");
        zip(file, entries);
        try (TorchFile t = TorchFile.open(file)) {
            assertEquals(List.of("state_dict.a", "state_dict.b", "lists.0"), new ArrayList<>(t.tensors().keySet()));
            TensorView a = t.view("state_dict.a");
            assertArrayEquals(new long[] {3, 2}, a.shape());
            assertArrayEquals(new long[] {1, 3}, a.strides());
            assertArrayEquals(new float[] {2, 5, 3, 6, 4, 7}, a.toFloatArray());
            assertArrayEquals(new float[] {10, 11}, t.stateDict().get("b").toFloatArray());
            assertEquals(List.of("a", "b"), new ArrayList<>(t.stateDict().keySet()));
            assertArrayEquals(new float[] {11}, t.view("lists.0").toFloatArray());
        }
        // A zip tool may have deflated the entries: still readable (inflated into memory).
        Path deflated = dir.resolve("deflated.ckpt");
        zip(deflated, entries, ZipEntry.DEFLATED);
        try (TorchFile t = TorchFile.open(deflated)) {
            assertArrayEquals(new float[] {2, 5, 3, 6, 4, 7}, t.view("state_dict.a").toFloatArray());
            assertTrue(!t.view("state_dict.a").data().isMapped(), "an inflated copy");
        }
    }

    private static FormatException failure(Path file) {
        return assertThrows(FormatException.class, () -> TorchFile.open(file).close());
    }

    @Test
    void foreignClassesAreRefusedByName(@TempDir Path dir) throws IOException {
        byte[] evil = new PickleWriter().op(0x80, 2).global("os", "system").str("echo hi").op(0x85, 'R', '.').bytes();
        Path file = dir.resolve("evil.pth");
        zip(file, Map.of("archive/data.pkl", evil));
        FormatException e = failure(file);
        assertTrue(e.getMessage().contains("os.system") && e.getMessage().contains(file.toString()), e.getMessage());
        // Lenient mode keeps it inert: no tensors, nothing run.
        try (TorchFile t = TorchFile.open(file, true)) {
            assertTrue(t.tensors().isEmpty());
        }
    }

    @Test
    void malformedFilesNameTheFileAndProblem(@TempDir Path dir) throws IOException {
        byte[] pth = Files.readAllBytes(DIR.resolve("mobilenet_v3_large.pth"));
        Path truncated = dir.resolve("truncated.pth");
        Files.write(truncated, java.util.Arrays.copyOf(pth, pth.length / 2));
        FormatException e = failure(truncated);
        assertTrue(e.getMessage().startsWith(truncated.toString()) && e.getMessage().contains("truncated"), e.getMessage());

        Path foreign = dir.resolve("foreign.pth");
        Files.write(foreign, "hello, not a checkpoint".getBytes(StandardCharsets.US_ASCII));
        e = failure(foreign);
        assertTrue(e.getMessage().contains(foreign.toString()) && e.getMessage().contains("not a torch.save file"), e.getMessage());

        Path empty = dir.resolve("empty.pth");
        Files.write(empty, new byte[0]);
        assertTrue(failure(empty).getMessage().contains("empty"));

        Path legacy = dir.resolve("legacy.pth");
        Files.write(legacy, new byte[] {(byte) 0x80, 2, (byte) 0x8a, 10});
        assertTrue(failure(legacy).getMessage().contains("legacy format"));

        Path notTorch = dir.resolve("other.zip");
        zip(notTorch, Map.of("readme.txt", new byte[] {1}));
        assertTrue(failure(notTorch).getMessage().contains("data.pkl"));

        // A pickle cut short and one naming a storage the archive lacks.
        byte[] good = new PickleWriter().op(0x80, 2).op('}').str("w").tensor("0", 2, 0, new long[] {2}, new long[] {1}).op('s', '.').bytes();
        Path cut = dir.resolve("cut.pth");
        zip(cut, Map.of("archive/data.pkl", java.util.Arrays.copyOf(good, good.length - 3), "archive/data/0", floats(1, 2)));
        assertTrue(failure(cut).getMessage().contains("pickle"), failure(cut).getMessage());
        Path missing = dir.resolve("missing.pth");
        zip(missing, Map.of("archive/data.pkl", good));
        assertTrue(failure(missing).getMessage().contains("archive/data/0"), failure(missing).getMessage());
        Path small = dir.resolve("small.pth");
        zip(small, Map.of("archive/data.pkl", good, "archive/data/0", floats(1)));
        assertTrue(failure(small).getMessage().contains("storage 0"), failure(small).getMessage());
        try (TorchFile ok = TorchFile.open(writeGood(dir, good))) {
            assertArrayEquals(new float[] {1, 2}, ok.view("w").toFloatArray());
        }
    }

    @Test
    void zip64ArchiveWithAlignedEntries(@TempDir Path dir) throws IOException {
        byte[] good = new PickleWriter().op(0x80, 2).op('}').str("w").tensor("0", 2, 0, new long[] {2}, new long[] {1}).op('s', '.').bytes();
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("model/data.pkl", good);
        entries.put("model/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
        entries.put("model/data/0", floats(1.5f, -2f));
        Path file = dir.resolve("big.ckpt");
        zip64(file, entries);
        try (java.util.zip.ZipFile check = new java.util.zip.ZipFile(file.toFile())) {
            assertEquals(3, check.size(), "the hand-made archive is a valid zip");
        }
        try (TorchFile t = TorchFile.open(file)) {
            TensorView w = t.view("w");
            assertArrayEquals(new float[] {1.5f, -2f}, w.toFloatArray());
            assertTrue(w.data().isMapped() && w.data().address() % 64 == 0, "read in place");
        }
        entries.put("model/byteorder", "big".getBytes(StandardCharsets.US_ASCII));
        zip64(file, entries);
        assertTrue(failure(file).getMessage().contains("big-endian"));
    }

    private static Path writeGood(Path dir, byte[] pickle) throws IOException {
        Path file = dir.resolve("good.pth");
        zip(file, Map.of("archive/data.pkl", pickle, "archive/data/0", floats(1, 2)));
        return file;
    }
}
