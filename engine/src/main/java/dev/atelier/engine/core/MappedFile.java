package dev.atelier.engine.core;

import java.lang.foreign.Arena;

/**
 * A weights file mapped into a shared arena, whose views native objects may borrow past the
 * owner's {@link #close()}: the mapping is unmapped once the owner has closed the file and no
 * borrower retains it ({@link KeepAlive}).
 */
public abstract class MappedFile implements AutoCloseable, Retainable {
    private final KeepAlive mapping;

    /** Takes ownership of arena, which holds the mapping; name is for messages (the path). */
    protected MappedFile(String name, Arena arena) {
        this.mapping = new KeepAlive(name, arena::close);
    }

    /**
     * Unmaps the file, once no native object retains it (see {@link #retain()}); views handed out
     * are invalid afterwards. Closing twice is harmless.
     */
    @Override
    public final void close() {
        mapping.releaseOwner();
    }

    /** Keeps the mapping alive past {@link #close()} for a native object that borrows it. */
    @Override
    public final void retain() {
        mapping.retain();
    }

    @Override
    public final void release() {
        mapping.release();
    }
}
