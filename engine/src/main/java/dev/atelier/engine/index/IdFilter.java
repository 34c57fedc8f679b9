package dev.atelier.engine.index;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.NativeHandle;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.Status;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A set of allowed ids ({@code atl_id_filter}) for {@link VectorIndex#search}: built once,
 * read by any number of concurrent searches.
 */
public final class IdFilter extends NativeHandle {
    public IdFilter(long[] ids) {
        super("atl_id_filter", create(ids), p -> atl_id_filter_destroy(p));
    }

    private static MemorySegment create(long[] ids) {
        NativeLibrary.load();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(ValueLayout.JAVA_LONG, Math.max(ids.length, 1));
            MemorySegment.copy(ids, 0, data, ValueLayout.JAVA_LONG, 0, ids.length);
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            var view = dev.atelier.engine.core.TensorView.of(data, dev.atelier.engine.core.DType.I64, ids.length);
            Status.check(atl_id_filter_create(view.toNative(arena), out));
            return out.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Number of distinct allowed ids. */
    public long count() {
        return atl_id_filter_count(pointer());
    }
}
