package dev.atelier.engine.core;

/** Something whose memory native objects may borrow past its owner's close(). */
public interface Retainable {
    /** Adds a holder; throws IllegalStateException when the memory is already gone. */
    void retain();

    /** Drops a holder; the last one frees the memory. */
    void release();
}
