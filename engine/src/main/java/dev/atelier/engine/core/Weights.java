package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Set;

/**
 * A native set of named tensors ({@code atl_weights}) that borrows its tensors' memory.
 *
 * <p>Ownership: the memory behind every added view is NOT copied. This object retains each
 * added view's owner (typically the open {@link dev.atelier.engine.safetensors.SafeTensorsFile})
 * until its native object is destroyed, and objects built from it retain it in turn
 * ({@link NativeHandle#dependOn}): the owner may be closed at any time, the memory stays mapped
 * for as long as something reads it.
 */
public final class Weights extends NativeHandle {
    private final Set<Retainable> owners = Collections.newSetFromMap(new IdentityHashMap<>());

    public Weights() {
        super("atl_weights", create(), p -> atl_weights_destroy(p));
    }

    private static MemorySegment create() {
        return create((arena, out) -> atl_weights_create(out));
    }

    /**
     * Adds view under name without copying. owner holds the view's memory and is retained until
     * these weights and everything built from them are destroyed; null when the caller keeps the
     * memory valid for that long itself (an arena it closes after them).
     */
    public synchronized void add(String name, TensorView view, Retainable owner) {
        try (Arena arena = Arena.ofConfined()) {
            Status.check(atl_weights_add(pointer(), arena.allocateFrom(name), view.toNative(arena)));
        }
        if (owner != null && owners.add(owner)) {
            dependOn(owner);
        }
    }

    public long count() {
        return atl_weights_count(pointer());
    }

    /** The address libtorch holds for name: equal to the view's address when nothing was copied. */
    public long address(String name) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.JAVA_LONG);
            Status.check(atl_weights_address(pointer(), arena.allocateFrom(name), out));
            return out.get(ValueLayout.JAVA_LONG, 0);
        }
    }
}
