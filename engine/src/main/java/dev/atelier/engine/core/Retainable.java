package dev.atelier.engine.core;

/**
 * Something whose memory or native object others may depend on past its owner's close(): the
 * engine's one keep-alive contract. Each {@link #retain()} is matched by one {@link #release()};
 * the thing is freed when its owner has closed it and every holder has released it
 * ({@link KeepAlive} counts them). Native handles, mapped files and checkpoints implement it.
 */
public interface Retainable {
    /** Adds a holder; throws IllegalStateException when the thing is already closed. */
    void retain();

    /** Drops a holder; the last one (owner included) frees the thing. */
    void release();
}
