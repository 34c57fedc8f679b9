package dev.atelier.engine.core;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The count behind every {@link Retainable}: the owner holds one reference from creation, each
 * {@link #retain()} adds one, and the free action runs once, when the last is released. What
 * this thing itself depends on ({@link #dependOn}) is retained until it is freed and released
 * right after, so a chain (trainer, network, weight set, mapped file) goes in dependency order
 * whatever order the owners close in.
 */
public final class KeepAlive implements Retainable {
    private final String name;
    private final Runnable free;
    private final AtomicInteger holders = new AtomicInteger(1); // the owner
    private final AtomicBoolean ownerReleased = new AtomicBoolean();
    private final List<Retainable> dependencies = new CopyOnWriteArrayList<>();

    /**
     * @param name for messages ("model.safetensors", "atl_unet")
     * @param free frees the memory or native object; runs once, on the thread of the last release
     */
    public KeepAlive(String name, Runnable free) {
        this.name = name;
        this.free = free;
    }

    /** Adds a holder; throws IllegalStateException once the thing has been freed. */
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
        int n = holders.decrementAndGet();
        if (n == 0) {
            try {
                free.run();
            } finally {
                for (Retainable d : dependencies) {
                    d.release();
                }
                dependencies.clear();
            }
        } else if (n < 0) {
            throw new IllegalStateException(name + ": released more often than retained");
        }
    }

    /** The owner's close: releases the owner's reference the first time, then does nothing. */
    public void releaseOwner() {
        if (ownerReleased.compareAndSet(false, true)) {
            release();
        }
    }

    /** Whether the owner has released its reference (holders may still keep the thing alive). */
    public boolean ownerReleased() {
        return ownerReleased.get();
    }

    /** Whether the free action has run. */
    public boolean freed() {
        return holders.get() <= 0;
    }

    /** Retains dependency until this thing is freed; throws when dependency is already freed. */
    public void dependOn(Retainable dependency) {
        dependency.retain();
        dependencies.add(dependency);
    }
}
