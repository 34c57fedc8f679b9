package dev.atelier.engine.index;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.NativeHandle;
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
        return create((arena, out) -> {
            MemorySegment data = arena.allocate(ValueLayout.JAVA_LONG, Math.max(ids.length, 1));
            MemorySegment.copy(ids, 0, data, ValueLayout.JAVA_LONG, 0, ids.length);
            var view = dev.atelier.engine.core.TensorView.of(data, dev.atelier.engine.core.DType.I64, ids.length);
            return atl_id_filter_create(view.toNative(arena), out);
        });
    }

    /** Number of distinct allowed ids. */
    public long count() {
        return atl_id_filter_count(pointer());
    }
}
