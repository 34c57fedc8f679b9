package dev.atelier.engine.safetensors;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.testing.FuzzSeeds;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Fuzzes the safetensors parser: any bytes either open (and every tensor view can be read at both
 * ends) or fail with a {@link FormatException}; anything else (another exception, an error, a
 * hang) is a finding. The bytes are parsed from native memory, as the mapping of a file would be.
 *
 * <p>In the normal test run Jazzer runs in regression mode: each seed of
 * {@code src/test/resources/dev/atelier/engine/safetensors/SafeTensorsFuzzTestInputs/header/}
 * once (the seeds are made by {@link #seeds()}, and {@link #committedSeedsAreGenerated()} keeps
 * them so), plus any crash reproducer saved there. A longer, coverage-guided run, one target at
 * a time, for the time {@code maxDuration} gives unless {@code JAZZER_MAX_DURATION} says otherwise:
 *
 * <pre>JAZZER_FUZZ=1 JAZZER_MAX_DURATION=10m mvn -pl engine -am test -Dtest='SafeTensorsFuzzTest#header' \
 *     -Dsurefire.failIfNoSpecifiedTests=false</pre>
 *
 * With {@code JAZZER_INSTRUMENTATION_INCLUDES='com.fasterxml.jackson.**:dev.atelier.**'} the
 * fuzzer also sees inside the JSON parser (about 3,300 coverage edges after a few minutes instead
 * of about 200).
 *
 * The fuzzer keeps its growing corpus in {@code engine/.cifuzz-corpus/} (not committed) and writes
 * a crashing input to {@code engine/crash-*}; copy it into the inputs folder above, so that it
 * runs in every test run, and fix the parser.
 */
class SafeTensorsFuzzTest {
    private static final Path PATH = Path.of("fuzz.safetensors");

    @FuzzTest(maxDuration = "60s")
    void header(byte[] bytes) {
        Arena arena = Arena.ofConfined();
        SafeTensorsFile file = null;
        try {
            MemorySegment data = arena.allocate(Math.max(bytes.length, 1), 64).asSlice(0, bytes.length);
            MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
            file = SafeTensorsFile.parse(PATH, arena, data);
            for (String name : file.tensors().keySet()) {
                TensorView v = file.view(name);
                long n = v.data().byteSize();
                if (n > 0) {
                    v.data().get(ValueLayout.JAVA_BYTE, 0);
                    v.data().get(ValueLayout.JAVA_BYTE, n - 1);
                }
            }
        } catch (FormatException expected) {
            // the one way a bad file may fail
        } finally {
            if (file != null) {
                file.close();
            } else {
                arena.close();
            }
        }
    }

    /** A safetensors file of header (padded with spaces to 8 bytes, as the format allows) and dataBytes bytes. */
    static byte[] file(String header, int dataBytes) {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer b = ByteBuffer.allocate(8 + padded + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(padded).put(json);
        while (b.position() < 8 + padded) {
            b.put((byte) ' ');
        }
        for (int i = 0; i < dataBytes; i++) {
            b.put((byte) (i * 37));
        }
        return b.array();
    }

    static Map<String, byte[]> seeds() {
        Map<String, byte[]> s = new LinkedHashMap<>();
        s.put("two-tensors-and-metadata", file("{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[8,16]}}", 16));
        s.put("empty", file("{}", 0));
        s.put("scalar", file("{\"s\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[0,2]}}", 2));
        s.put("zero-size", file("{\"z\":{\"dtype\":\"I64\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
                + "\"u\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1],\"data_offsets\":[0,1]}}", 1));
        return s;
    }

    @Test
    void committedSeedsAreGenerated() {
        FuzzSeeds.check(SafeTensorsFuzzTest.class, "header", seeds());
    }
}
