package dev.atelier.engine.core;

import java.lang.foreign.MemorySegment;
import java.lang.ref.Cleaner;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One owner of one native object. {@link #close()} frees it and may be called any number of
 * times; any use after that throws {@link IllegalStateException}. A handle that becomes
 * unreachable without being closed is freed by a {@link Cleaner}, which logs the leak.
 *
 * <p>Not for sharing across a close: closing a handle while another thread is using it is a
 * bug in the caller. Subclasses say whether concurrent use (without close) is safe.
 */
public abstract class NativeHandle implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(NativeHandle.class);
    private static final Cleaner CLEANER = Cleaner.create();
    private static final java.util.concurrent.atomic.AtomicLong LEAKED = new java.util.concurrent.atomic.AtomicLong();

    private final Resource resource;
    private final Cleaner.Cleanable cleanable;

    /**
     * @param kind    the C type name, for messages ("atl_weights")
     * @param pointer the handle; this object becomes its owner
     * @param destroy the matching {@code atl_x_destroy}
     */
    protected NativeHandle(String kind, MemorySegment pointer, Consumer<MemorySegment> destroy) {
        if (pointer == null || pointer.equals(MemorySegment.NULL)) {
            throw new AtelierException(AtelierException.INTERNAL, kind + ": native create returned NULL");
        }
        this.resource = new Resource(kind, pointer, destroy);
        this.cleanable = CLEANER.register(this, resource);
    }

    /**
     * Keeps the memory of owners (those that are {@link Retainable}) alive until this handle is
     * freed: for native objects that read borrowed memory (mapped weights) on every call.
     */
    protected final void retainAll(Iterable<?> owners) {
        for (Object o : owners) {
            if (o instanceof Retainable r) {
                r.retain();
                resource.retained.add(r);
            }
        }
    }

    /** The native pointer; throws if this handle has been closed. */
    public final MemorySegment pointer() {
        MemorySegment p = resource.pointer;
        if (p == null) {
            throw new IllegalStateException(resource.kind + " handle is closed");
        }
        return p;
    }

    /** How many handles the cleaner has freed because their owner never closed them. */
    public static long leakedCount() {
        return LEAKED.get();
    }

    public final boolean isClosed() {
        return resource.pointer == null;
    }

    @Override
    public void close() {
        resource.closedByOwner = true;
        cleanable.clean();
    }

    /** The cleaning action; it must not refer to the handle, or the handle would never be collected. */
    private static final class Resource implements Runnable {
        final String kind;
        final Consumer<MemorySegment> destroy;
        volatile MemorySegment pointer;
        volatile boolean closedByOwner;
        final java.util.List<Retainable> retained = new java.util.concurrent.CopyOnWriteArrayList<>();

        Resource(String kind, MemorySegment pointer, Consumer<MemorySegment> destroy) {
            this.kind = kind;
            this.pointer = pointer;
            this.destroy = destroy;
        }

        @Override
        public synchronized void run() {
            MemorySegment p = pointer;
            if (p == null) {
                return;
            }
            pointer = null;
            if (!closedByOwner) {
                LEAKED.incrementAndGet();
                LOG.warn("leaked {} handle was not closed; freed by the cleaner", kind);
            }
            destroy.accept(p);
            retained.forEach(Retainable::release);
            retained.clear();
        }
    }
}
