package dev.atelier.engine.util;

import java.util.concurrent.locks.Lock;

/**
 * Whether an object whose work runs under a {@link Lock} is closed, guarded by that lock: its
 * {@code close()} runs once however often it is called, and its work refuses to start after it.
 */
public final class ClosedFlag {
    private final Lock lock;
    private final String what;
    private boolean closed; // guarded by lock

    /**
     * @param lock the lock the owner's work runs under
     * @param what the owner, for the message of {@link #checkOpen()} ("pipeline")
     */
    public ClosedFlag(Lock lock, String what) {
        this.lock = lock;
        this.what = what;
    }

    /**
     * Takes the lock (so waits for the work holding it), marks the owner closed and runs shutdown
     * still holding it, on the first call only.
     *
     * @return whether this call closed the owner (false when it was closed already)
     */
    public boolean close(Runnable shutdown) {
        lock.lock();
        try {
            if (closed) {
                return false;
            }
            closed = true;
            shutdown.run();
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Whether the owner is closed; the caller holds the lock. */
    public boolean isClosed() {
        return closed;
    }

    /** Throws IllegalStateException when the owner is closed; the caller holds the lock. */
    public void checkOpen() {
        if (closed) {
            throw new IllegalStateException(what + " is closed");
        }
    }
}
