package dev.atelier.engine.core;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.ref.Cleaner;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One owner of one native object. {@link #close()} ends the owner's use and may be called any
 * number of times; any use after that throws {@link IllegalStateException}. A handle that becomes
 * unreachable without being closed is closed by a {@link Cleaner}, which logs the leak.
 *
 * <p>Lifetime: a handle is {@link Retainable} through one {@link KeepAlive}. An object that uses
 * another past the call that received it (a network reading a weight set's mapped memory, a
 * trainer attached to networks) declares it with {@link #dependOn}; the native object is
 * destroyed once its owner has closed it and every dependent is destroyed, and only then
 * releases what it depends on. So owners may close in any order, and the Cleaner may collect
 * handles in any order.
 *
 * <p>Not for sharing across a close: closing a handle while another thread is using it is a
 * bug in the caller. Subclasses say whether concurrent use (without close) is safe.
 */
public abstract class NativeHandle implements AutoCloseable, Retainable {
    private static final Logger LOG = LoggerFactory.getLogger(NativeHandle.class);
    private static final Cleaner CLEANER = Cleaner.create();
    private static final AtomicLong LEAKED = new AtomicLong();
    private static final AtomicLong LIVE = new AtomicLong();

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
     * A native call that writes a pointer through its last argument ({@code atl_x_create},
     * {@code atl_x_read}, {@code atl_x_write}) and returns its {@code atl_status*}.
     */
    @FunctionalInterface
    public interface OutPointerCall {
        /**
         * @param arena for the call's other arguments (params structs, tensor views); freed when
         *              the call returns
         * @param out   where the call writes the pointer
         */
        MemorySegment call(Arena arena, MemorySegment out);
    }

    /**
     * Runs call with a fresh out-pointer, throws the {@link AtelierException} its status maps to,
     * and returns the pointer it wrote: the one way to create a native object for a handle.
     */
    public static MemorySegment create(OutPointerCall call) {
        NativeLibrary.load();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            Status.check(call.call(arena, out));
            return out.get(ValueLayout.ADDRESS, 0);
        }
    }

    /**
     * {@link #create(OutPointerCall)} for a call that reads serialised bytes ({@code atl_x_read}):
     * a malformed-data error names source, the file the bytes came from.
     */
    public static MemorySegment create(OutPointerCall call, Path source) {
        try {
            return create(call);
        } catch (AtelierException.FormatException e) {
            throw new AtelierException.FormatException(source + ": " + e.getMessage(), e);
        }
    }

    /**
     * A native call that fills a struct the caller allocated with what an object reports about
     * itself ({@code atl_x_config}) and returns its {@code atl_status*}.
     */
    @FunctionalInterface
    public interface StructQuery {
        /**
         * @param handle the native object's pointer
         * @param out    the struct of the layout given to {@link #query}
         */
        MemorySegment call(MemorySegment handle, MemorySegment out);
    }

    /**
     * Runs query on this handle's native object with a fresh struct of layout, throws the
     * {@link AtelierException} its status maps to, and returns what convert makes of the filled
     * struct (convert copies what it keeps: the struct is freed when this returns): the one way
     * to read a native object's configuration.
     */
    protected final <T> T query(MemoryLayout layout, StructQuery query, Function<MemorySegment, T> convert) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(layout);
            Status.check(query.call(pointer(), out));
            return convert.apply(out);
        }
    }

    /**
     * Keeps dependency alive until this handle's native object is destroyed: for native objects
     * that read another's memory or call into another object after their create call returned.
     * A handle passed here is retained through its {@link KeepAlive}, not kept reachable, so
     * that the Cleaner can still close it when its owner drops it.
     */
    protected final void dependOn(Retainable dependency) {
        resource.keepAlive.dependOn(dependency instanceof NativeHandle h ? h.open().keepAlive : dependency);
    }

    /** The native pointer; throws if this handle has been closed. */
    public final MemorySegment pointer() {
        return open().pointer;
    }

    private Resource open() {
        if (resource.keepAlive.ownerReleased()) {
            throw new IllegalStateException(resource.kind + " handle is closed");
        }
        return resource;
    }

    /** Keeps the native object alive past {@link #close()}; throws if this handle has been closed. */
    @Override
    public final void retain() {
        open().keepAlive.retain();
    }

    @Override
    public final void release() {
        resource.keepAlive.release();
    }

    /** How many handles the cleaner has closed because their owner never closed them. */
    public static long leakedCount() {
        return LEAKED.get();
    }

    /** How many native objects made through handles are not destroyed yet (for leak checks). */
    public static long liveCount() {
        return LIVE.get();
    }

    /** Whether the owner has closed this handle (its native object may live on for dependents). */
    public final boolean isClosed() {
        return resource.keepAlive.ownerReleased();
    }

    @Override
    public void close() {
        resource.closedByOwner = true;
        cleanable.clean();
    }

    /** The cleaning action; it must not refer to the handle, or the handle would never be collected. */
    private static final class Resource implements Runnable {
        final String kind;
        final MemorySegment pointer;
        final KeepAlive keepAlive;
        volatile boolean closedByOwner;

        Resource(String kind, MemorySegment pointer, Consumer<MemorySegment> destroy) {
            this.kind = kind;
            this.pointer = pointer;
            this.keepAlive = new KeepAlive(kind, () -> {
                destroy.accept(pointer);
                LIVE.decrementAndGet();
            });
            LIVE.incrementAndGet();
        }

        @Override
        public void run() {
            if (!closedByOwner) {
                LEAKED.incrementAndGet();
                LOG.warn("leaked {} handle was not closed; freed by the cleaner", kind);
            }
            keepAlive.releaseOwner();
        }
    }
}
