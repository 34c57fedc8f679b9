package dev.atelier.benchmarks;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.*;

/**
 * The cost of crossing into libatelier: an empty downcall, and handing a tensor view to
 * libtorch (descriptor written, wrapped without copy, address read back). The pattern for
 * later benchmarks: state in a @State class, parameters as @Param.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -jar benchmarks/target/benchmarks.jar FfmCall</pre>
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--enable-native-access=ALL-UNNAMED"})
public class FfmCallBenchmark {
    /** Elements in the handed-off tensor: the hand-off cost must not depend on it. */
    @Param({"1024", "16777216"})
    public int elements;

    private Arena arena;
    private TensorView view;
    private MemorySegment descriptor;
    private MemorySegment address;

    @Setup
    public void setUp() {
        NativeLibrary.load();
        arena = Arena.ofConfined();
        view = TensorView.allocate(arena, DType.F32, elements);
        descriptor = view.toNative(arena);
        address = arena.allocate(ValueLayout.JAVA_LONG);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void emptyCall() {
        atl_noop();
    }

    /** A prepared descriptor: the bare hand-off into libtorch (from_blob) and back. */
    @Benchmark
    public long tensorViewHandOff() {
        Status.check(atl_tensor_address(descriptor, address));
        return address.get(ValueLayout.JAVA_LONG, 0);
    }

    /** Including writing the descriptor, as every engine call does. */
    @Benchmark
    public long tensorViewHandOffWithDescriptor() {
        try (Arena call = Arena.ofConfined()) {
            Status.check(atl_tensor_address(view.toNative(call), address));
            return address.get(ValueLayout.JAVA_LONG, 0);
        }
    }
}
