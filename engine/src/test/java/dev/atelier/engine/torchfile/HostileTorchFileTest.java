package dev.atelier.engine.torchfile;

import static dev.atelier.engine.torchfile.TestZips.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoints made to hurt the reader: pickles that contain themselves, expand exponentially
 * through memo references, nest deeply or build gigabytes from megabytes, and zip archives whose
 * sizes, names and offsets lie. Each must end in a {@link FormatException} naming the problem;
 * without the reader's limits they end in a StackOverflowError, an exhausted heap, an
 * IndexOutOfBoundsException or a walk of 2^40 values.
 */
class HostileTorchFileTest {
    @TempDir
    Path dir;

    /** A good {"w": tensor of 2 floats in storage 0}. */
    private static byte[] goodPickle() {
        return new PickleWriter().op(0x80, 2).op('}').str("w").tensor("0", 2, 0, new long[] {2}, new long[] {1})
                .op('s', '.').bytes();
    }

    private Path archive(String name, byte[] pickle) throws IOException {
        RawZip z = new RawZip();
        z.stored("archive/data.pkl", pickle);
        z.stored("archive/data/0", floats(1, 2));
        return write(name, z);
    }

    private Path write(String name, RawZip z) throws IOException {
        Path file = dir.resolve(name);
        Files.write(file, z.bytes());
        return file;
    }

    private static String refused(Path file, String... words) {
        FormatException e = assertThrows(FormatException.class, () -> TorchFile.open(file).close());
        for (String w : words) {
            assertTrue(e.getMessage().contains(w), "expected \"" + w + "\" in: " + e.getMessage());
        }
        assertTrue(e.getMessage().startsWith(file.toString()), e.getMessage());
        return e.getMessage();
    }

    /** Memo slots 0..levels: L0 = [1], Li = [Li-1, Li-1]; leaves L_levels on the stack (2^levels items). */
    private static PickleWriter laughs(PickleWriter p, int levels) {
        p.op('(', 'K', 1, 'l', 'q', 0, '0');
        for (int i = 1; i <= levels; i++) {
            p.op('(', 'h', i - 1, 'h', i - 1, 'l', 'q', i, '0');
        }
        return p.op('h', levels);
    }

    @Test
    void rawZipWriterMakesReadableArchives() throws IOException {
        try (TorchFile t = TorchFile.open(archive("honest.pth", goodPickle()))) {
            assertArrayEquals(new float[] {1, 2}, t.view("w").toFloatArray());
        }
        RawZip z = new RawZip();
        z.deflated("archive/data.pkl", goodPickle());
        z.deflated("archive/data/0", floats(1, 2));
        try (TorchFile t = TorchFile.open(write("deflated.pth", z))) {
            assertArrayEquals(new float[] {1, 2}, t.view("w").toFloatArray());
        }
    }

    // --- pickles ---

    @Test
    void selfContainingListIsRefused() throws IOException {
        // {"w": L} with L = [L]
        byte[] p = new PickleWriter().op(0x80, 2).op('}').str("w").op(']', 'q', 0, 'h', 0, 'a', 's', '.').bytes();
        refused(archive("self.pth", p), "contains itself", "\"w.0\"", "list");
    }

    @Test
    void cycleThroughADictIsRefused() throws IOException {
        // d = {"x": [d]}
        byte[] p = new PickleWriter().op(0x80, 2).op('}', 'q', 0).str("x").op('(', 'h', 0, 'l', 's', '.').bytes();
        refused(archive("cycle.pth", p), "contains itself", "dict");
    }

    @Test
    void unhashableDictKeysAreRefused() throws IOException {
        // {L: 1} with L = [L]: hashing L never ends.
        byte[] selfKey = new PickleWriter().op(0x80, 2).op('}', ']', 'q', 0, 'h', 0, 'a', 'K', 1, 's', '.').bytes();
        refused(archive("selfkey.pth", selfKey), "dict key of type list is not hashable");
        // {((((...)))): 1}, 200,000 tuples deep: hashing recurses 200,000 frames.
        PickleWriter deep = new PickleWriter().op(0x80, 2).op('}', ')');
        for (int i = 0; i < 200_000; i++) {
            deep.op(0x85);
        }
        refused(archive("deepkey.pth", deep.op('K', 1, 's', '.').bytes()), "not hashable");
    }

    @Test
    void billionLaughsWalkIsRefused() throws IOException {
        // {"x": L40}: 330 bytes, 2^40 leaves when walked.
        PickleWriter p = laughs(new PickleWriter().op(0x80, 2).op('}').str("x"), 40).op('s', '.');
        assertTrue(p.bytes().length < 400);
        refused(archive("laughs.pth", p.bytes()), "billion laughs", String.valueOf(TorchFile.MAX_VISITS));
    }

    @Test
    void billionLaughsInAnErrorMessageIsRenderedBriefly() throws IOException {
        // _rebuild_tensor_v2(storage, 0, L40, (1,), ...): the message shows a bad size, which is L40.
        PickleWriter p = new PickleWriter().op(0x80, 2).op('}').str("w")
                .global("torch._utils", "_rebuild_tensor_v2").op('(');
        p.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").op('K', 2, 't', 'Q');
        p.op('K', 0);
        laughs(p, 40).ints(1).op(0x89, 't', 'R', 's', '.');
        String message = refused(archive("laughs-size.pth", p.bytes()), "tensor size is not a tuple", "[[[");
        assertTrue(message.length() < 400, message);
    }

    @Test
    void deepNestingIsRefusedWithoutStackOverflow() throws IOException {
        // 200,000 nested lists: [[[[...]]]]
        PickleWriter p = new PickleWriter().op(0x80, 2);
        for (int i = 0; i < 200_000; i++) {
            p.op('(');
        }
        for (int i = 0; i < 200_000; i++) {
            p.op('l');
        }
        refused(archive("deep.pth", p.op('.').bytes()), "nests deeper than " + TorchFile.MAX_DEPTH);
    }

    @Test
    void deepTupleInAnErrorMessageIsRenderedBriefly() throws IOException {
        // _rebuild_tensor_v2(((((...))))): malformed arguments, shown in the message.
        PickleWriter p = new PickleWriter().op(0x80, 2).op('}').str("w")
                .global("torch._utils", "_rebuild_tensor_v2").op(')');
        for (int i = 0; i < 200_000; i++) {
            p.op(0x85);
        }
        p.op(0x85, 'R', 's', '.');
        refused(archive("deep-args.pth", p.bytes()), "malformed _rebuild_tensor_v2 arguments", "((((");
    }

    @Test
    void aPickleThatBuildsTooMuchIsRefused() throws IOException {
        // 5 million EMPTY_DICTs: 5 MB that would build some 300 MB of maps.
        byte[] p = new byte[5_000_003];
        java.util.Arrays.fill(p, (byte) '}');
        p[0] = (byte) 0x80;
        p[1] = 2;
        p[p.length - 1] = '.';
        refused(archive("dicts.pth", p), "MiB of values", "memory bomb");
    }

    @Test
    void anOversizedPickleIsRefusedBeforeItIsInflated() throws IOException {
        RawZip z = new RawZip();
        z.deflated("archive/data.pkl", new byte[(int) TorchFile.MAX_PICKLE_BYTES + 1]);
        refused(write("big-pickle.pth", z), "archive/data.pkl is " + (TorchFile.MAX_PICKLE_BYTES + 1) + " bytes");
    }

    @Test
    void aCheckpointOfAMillionOpcodesStillLoads() throws IOException {
        // {"state_dict": OrderedDict of 50,000 tensors}, items set in batches of 1,000 as pickle
        // writes them: 24 opcodes a tensor, 1.2 million in 10 MB, some 40 times an SD 1.5 checkpoint's.
        int tensors = 50_000;
        PickleWriter p = new PickleWriter().op(0x80, 2).op('}').str("state_dict")
                .global("collections", "OrderedDict").op(')', 'R');
        for (int i = 0; i < tensors; i++) {
            if (i % 1000 == 0) {
                p.op('(');
            }
            p.str("model.diffusion_model.input_blocks." + i + ".0.in_layers.2.weight")
                    .tensor(Integer.toString(i % 4), 4, i % 4, new long[] {1}, new long[] {1});
            if (i % 1000 == 999) {
                p.op('u');
            }
        }
        byte[] pickle = p.op('s', '.').bytes();
        RawZip z = new RawZip();
        z.stored("archive/data.pkl", pickle);
        for (int i = 0; i < 4; i++) {
            z.stored("archive/data/" + i, floats(i, i + 1, i + 2, i + 3));
        }
        try (TorchFile t = TorchFile.open(write("large.ckpt", z))) {
            assertTrue(t.stateDict().size() == tensors, "tensors: " + t.stateDict().size());
            assertArrayEquals(new float[] {6}, t.view("state_dict.model.diffusion_model.input_blocks.49999.0.in_layers.2.weight")
                    .toFloatArray());
        }
    }

    // --- zip archives that lie ---

    @Test
    void aDeclaredSizeDeflateCannotReachIsRefusedBeforeAllocation() throws IOException {
        RawZip z = new RawZip();
        RawZip.Entry e = z.deflated("archive/data.pkl", goodPickle());
        e.cdSize = 0x7FFF_FFF0L; // 2 GiB from a few dozen compressed bytes
        e.flags = 8; // sizes in the central directory only
        z.stored("archive/data/0", floats(1, 2));
        refused(write("bomb.pth", z), "more than deflate can produce");
    }

    @Test
    void aLocalHeaderThatDisagreesWithTheDirectoryIsRefused() throws IOException {
        RawZip z = new RawZip();
        z.stored("archive/data.pkl", goodPickle());
        RawZip.Entry e = z.stored("archive/data/0", floats(1, 2));
        e.localCompressed = e.localSize = 4;
        refused(write("local-size.pth", z), "local header says 4 compressed bytes");

        z = new RawZip();
        z.stored("archive/data.pkl", goodPickle());
        e = z.stored("archive/data/0", floats(1, 2));
        RawZip.Entry lie = z.stored("archive/data/1", new byte[0]);
        lie.sharesLocalHeaderOf = 1; // two names, one local header: the data overlap
        refused(write("shared.pth", z), "local header names \"archive/data/0\"");

        z = new RawZip();
        z.stored("archive/data.pkl", goodPickle());
        e = z.stored("archive/data/0", floats(1, 2));
        e.method = 8; // the directory and the local header say deflated, the bytes are stored
        refused(write("method.pth", z), "archive/data/0");
    }

    @Test
    void twoEntriesOfOneNameAreRefused() throws IOException {
        RawZip z = new RawZip();
        z.stored("archive/data.pkl", goodPickle());
        z.stored("archive/data/0", floats(1, 2));
        z.stored("archive/data/0", floats(3, 4));
        refused(write("twice.pth", z), "two entries are named \"archive/data/0\"");
    }

    @Test
    void anEntryThatInflatesPastItsSizeIsRefused() throws IOException {
        RawZip z = new RawZip();
        z.stored("archive/data.pkl", goodPickle());
        RawZip.Entry e = z.deflated("archive/data/0", floats(1, 2, 3, 4));
        e.cdSize = e.localSize = 8; // the tensor needs 8 bytes; the data inflate to 16
        refused(write("longer.pth", z), "inflates to more than its declared 8 bytes");
    }

    @Test
    void sizesAndOffsetsNear2To63AreRefused() throws IOException {
        RawZip z = new RawZip();
        z.stored("archive/data.pkl", goodPickle());
        RawZip.Entry e = z.stored("archive/data/0", floats(1, 2));
        e.zip64Sizes = true;
        e.cdSize = e.cdCompressed = Long.MAX_VALUE - 16; // start + size overflows
        e.localSize = e.localCompressed = 0xFFFF_FFFFL;
        refused(write("huge-entry.pth", z), "runs past the end of the file");

        z = new RawZip();
        z.stored("archive/data.pkl", goodPickle());
        z.stored("archive/data/0", floats(1, 2));
        z.zip64Directory = new long[] {1L << 62, 1L << 62}; // offset + size overflows
        refused(write("huge-directory.pth", z), "central directory", "lies outside the file");
    }

    @Test
    void inflatingMoreThanTheArchiveCanHoldIsRefused() throws IOException {
        // 300 MB of zeros deflate to some 300 KB: a storage entry as a zip bomb.
        int size = (int) (ZipArchive.materializeLimit(0) + (44 << 20));
        PickleWriter p = new PickleWriter().op(0x80, 2).op('}').str("w")
                .tensor("0", size / 4, 0, new long[] {size / 4}, new long[] {1}).op('s', '.');
        RawZip z = new RawZip();
        z.stored("archive/data.pkl", p.bytes());
        z.deflated("archive/data/0", new byte[size]);
        refused(write("zeros.pth", z), "zip bomb");
    }
}
