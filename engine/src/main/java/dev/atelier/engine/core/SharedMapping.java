package dev.atelier.engine.core;

import java.lang.foreign.Arena;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The arena behind a memory-mapped file, freed when its opener has closed it AND every native
 * object that borrows its memory has been closed. Native networks read weights straight from the
 * mapping on every call: unmapping under them would crash the JVM, so a network retains the
 * mapping for its whole life (see {@link NativeHandle#retainAll}).
 */
public final class SharedMapping implements Retainable {
    private final Arena arena;
    private final String name;
    private final AtomicInteger holders = new AtomicInteger(1); // the opener
    private final AtomicBoolean openerClosed = new AtomicBoolean();

    public SharedMapping(Arena arena, String name) {
        this.arena = arena;
        this.name = name;
    }

    public Arena arena() {
        return arena;
    }

    @Override
    public void retain() {
        while (true) {
            int n = holders.get();
            if (n <= 0) {
                throw new IllegalStateException(name + " is closed");
            }
            if (holders.compareAndSet(n, n + 1)) {
                return;
            }
        }
    }

    @Override
    public void release() {
        if (holders.decrementAndGet() == 0) {
            arena.close();
        }
    }

    /** The opener's close: idempotent; the memory goes when the last borrower is gone too. */
    public void close() {
        if (openerClosed.compareAndSet(false, true)) {
            release();
        }
    }

    /** Whether the opener has closed it (the memory may still be held by borrowers). */
    public boolean isClosed() {
        return openerClosed.get();
    }
}
