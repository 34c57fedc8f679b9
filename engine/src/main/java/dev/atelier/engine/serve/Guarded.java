package dev.atelier.engine.serve;

import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * An object that one thread at a time may use (a network: its LoRA slots, its selection and its
 * forward calls go together): every use runs under its lock, in arrival order.
 */
public final class Guarded<T> {
    private final T value;
    private final ReentrantLock lock = new ReentrantLock(true);

    public Guarded(T value) {
        this.value = value;
    }

    public <R> R apply(Function<? super T, ? extends R> use) {
        lock.lock();
        try {
            return use.apply(value);
        } finally {
            lock.unlock();
        }
    }

    public void accept(Consumer<? super T> use) {
        lock.lock();
        try {
            use.accept(value);
        } finally {
            lock.unlock();
        }
    }
}
