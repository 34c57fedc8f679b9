package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * A native set of named tensors ({@code atl_weights}) that borrows its tensors' memory.
 *
 * <p>Ownership: the memory behind every added view is NOT copied. This object keeps a
 * reference to each added view's owner ({@code keepAlive}, typically the open
 * {@link dev.atelier.engine.safetensors.SafeTensorsFile}) and the caller must not close
 * that owner while this handle, or a model built from it, is open.
 */
public final class Weights extends NativeHandle {
    private final List<Object> keepAlive = new ArrayList<>();

    public Weights() {
        super("atl_weights", create(), p -> atl_weights_destroy(p));
    }

    private static MemorySegment create() {
        NativeLibrary.load();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            Status.check(atl_weights_create(out));
            return out.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Adds view under name without copying; owner is kept reachable for as long as this handle. */
    public void add(String name, TensorView view, Object owner) {
        try (Arena arena = Arena.ofConfined()) {
            Status.check(atl_weights_add(pointer(), arena.allocateFrom(name), view.toNative(arena)));
        }
        if (owner != null && (keepAlive.isEmpty() || keepAlive.getLast() != owner)) {
            keepAlive.add(owner);
        }
    }

    /** The owners of the borrowed memory, for objects built from these weights to retain. */
    public List<Object> owners() {
        return List.copyOf(keepAlive);
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
