package dev.atelier.engine.torchfile;

import static dev.atelier.engine.torchfile.TestZips.floats;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.testing.FuzzSeeds;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the torch.save reader: {@link #archive} takes the bytes as a whole file (zip directory,
 * local headers, inflation, then the pickle), {@link #pickle} as the {@code data.pkl} of an honest
 * archive whose storages {@code data/0} to {@code data/3} exist, so that the fuzzer spends its
 * time in the pickle machine and the walk over its result. Both modes (strict and lenient) run on
 * every input. Any bytes either give tensors whose views can be read at both ends or fail with a
 * {@link FormatException}; anything else is a finding.
 *
 * <p>In the normal test run Jazzer runs each seed of
 * {@code src/test/resources/dev/atelier/engine/torchfile/TorchFileFuzzTestInputs/<method>/} once
 * (made by {@link #archiveSeeds()} and {@link #pickleSeeds()}; {@link #committedSeedsAreGenerated()}
 * keeps them so). A longer, coverage-guided run of one target:
 *
 * <pre>JAZZER_FUZZ=1 JAZZER_MAX_DURATION=10m mvn -pl engine -am test -Dtest='TorchFileFuzzTest#pickle' \
 *     -Dsurefire.failIfNoSpecifiedTests=false</pre>
 *
 * A crashing input is written to {@code engine/crash-*}: copy it into the target's inputs folder
 * and fix the reader.
 */
class TorchFileFuzzTest {
    private static final Path PATH = Path.of("fuzz.pth");

    @FuzzTest(maxDuration = "60s")
    void archive(byte[] bytes) {
        read(bytes, false);
        read(bytes, true);
    }

    @FuzzTest(maxDuration = "60s")
    void pickle(byte[] bytes) {
        byte[] archive = archiveAround(bytes);
        read(archive, false);
        read(archive, true);
    }

    private static byte[] archiveAround(byte[] pickle) {
        RawZip z = new RawZip();
        z.stored("archive/data.pkl", pickle);
        for (int i = 0; i < 4; i++) {
            z.stored("archive/data/" + i, floats(1, 2, 3, 4));
        }
        return z.bytes();
    }

    private static void read(byte[] bytes, boolean lenient) {
        if (bytes.length == 0) {
            return; // TorchFile.open refuses an empty file before reading
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(bytes.length, 64);
            MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
            for (TensorView v : TorchFile.read(PATH, data, arena, lenient).values()) {
                long n = v.data().byteSize();
                if (n > 0) {
                    v.data().get(ValueLayout.JAVA_BYTE, 0);
                    v.data().get(ValueLayout.JAVA_BYTE, n - 1);
                }
            }
        } catch (FormatException expected) {
            // the one way a bad file may fail
        }
    }

    static PickleWriter good() {
        return new PickleWriter().op(0x80, 2).op('}').str("w").tensor("0", 2, 0, new long[] {2}, new long[] {1}).op('s', '.');
    }

    static Map<String, byte[]> pickleSeeds() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("one-tensor", good().bytes());
        // {"state_dict": OrderedDict(a=view with strides, b=Parameter), "step": 7, "lists": [t]}, memoized
        PickleWriter p = new PickleWriter().op(0x80, 2).op('}', 'q', 0).str("state_dict")
                .global("collections", "OrderedDict").op(')', 'R', 'q', 1);
        p.op('(').str("a").tensor("0", 4, 1, new long[] {3}, new long[] {1});
        p.str("b").global("torch._utils", "_rebuild_parameter").op('(')
                .tensor("1", 4, 0, new long[] {2, 2}, new long[] {2, 1}).op(0x88).global("collections", "OrderedDict")
                .op(')', 'R', 't', 'R');
        p.op('u', 's').str("step").op('K', 7, 's').str("lists").op(']').op('h', 1).op('a', 's', '.');
        s.put("nested-memo", p.bytes());
        s.put("foreign-class", new PickleWriter().op(0x80, 2).op('}').str("cb").global("lightning", "Callback")
                .op(')', 'R').op('s').str("w").tensor("2", 1, 0, new long[] {}, new long[] {}).op('s', '.').bytes());
        // [[1], [1]] through the memo: shared references
        s.put("shared", new PickleWriter().op(0x80, 2).op('(', 'K', 1, 'l', 'q', 0, '(', 'h', 0, 'h', 0, 'l', '.').bytes());
        s.put("tuples-and-scalars", new PickleWriter().op(0x80, 2).op('}').op('K', 1).op(')', 0x85, 0x85).op('s')
                .str("f").op('G', 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 's').op('N', 0x88, 0x86, 0x8a, 2, 1, 0, 0x85, 0x87, '0')
                .op('.').bytes());
        return s;
    }

    static Map<String, byte[]> archiveSeeds() throws IOException {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("stored", archiveAround(good().bytes()));
        RawZip z = new RawZip();
        z.deflated("archive/data.pkl", good().bytes());
        z.deflated("archive/data/0", floats(1, 2));
        z.stored("archive/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
        s.put("deflated", z.bytes());
        Map<String, byte[]> entries = new LinkedHashMap<>();
        entries.put("model/data.pkl", good().bytes());
        entries.put("model/data/0", floats(1.5f, -2f));
        Path tmp = Files.createTempFile("seed", ".pth");
        try {
            TestZips.zip64(tmp, entries);
            s.put("zip64-aligned", Files.readAllBytes(tmp));
        } finally {
            Files.delete(tmp);
        }
        return s;
    }

    @Test
    void committedSeedsAreGenerated() throws IOException {
        FuzzSeeds.check(TorchFileFuzzTest.class, "pickle", pickleSeeds());
        FuzzSeeds.check(TorchFileFuzzTest.class, "archive", archiveSeeds());
    }
}
