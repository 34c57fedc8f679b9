package dev.atelier.engine.core;

import dev.atelier.bindings.atl_progress;
import dev.atelier.bindings.atl_progress_fn;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Receives progress from a long native call (an FFM upcall) and may cancel it.
 * Returning false cancels: the native loop stops between steps and the call throws
 * {@link AtelierException.CancelledException}.
 */
@FunctionalInterface
public interface Progress {
    Progress NONE = (done, total) -> true;

    /** Called after each unit of work; return false to stop. */
    boolean onStep(long done, long total);

    /**
     * An {@code atl_progress} for one native call. An exception thrown by the listener must
     * not unwind into native code (that would crash the JVM), so it is caught here, the call
     * is cancelled, and {@link #rethrowIfFailed()} rethrows it once the call has returned.
     */
    final class Upcall {
        private final MemorySegment struct;
        private volatile Throwable failure;

        public Upcall(Progress progress, Arena arena) {
            struct = atl_progress.allocate(arena);
            if (progress != null && progress != NONE) {
                atl_progress_fn.Function fn = (userData, done, total) -> {
                    try {
                        return progress.onStep(done, total) ? 0 : 1;
                    } catch (Throwable t) {
                        failure = t;
                        return 1;
                    }
                };
                atl_progress.fn(struct, atl_progress_fn.allocate(fn, arena));
            }
            atl_progress.user_data(struct, MemorySegment.NULL);
        }

        public MemorySegment struct() {
            return struct;
        }

        /**
         * Records that another callback of the same native call failed (it must have told the
         * native code to stop): {@link #check(MemorySegment)} rethrows the first failure.
         */
        public void failed(Throwable t) {
            if (failure == null) {
                failure = t;
            }
        }

        /** Runs a native call that takes this upcall, rethrowing a listener failure first. */
        public void check(MemorySegment status) {
            rethrowIfFailed(status);
            Status.check(status);
        }

        private void rethrowIfFailed(MemorySegment status) {
            Throwable t = failure;
            if (t == null) {
                return;
            }
            if (!status.equals(MemorySegment.NULL)) {
                dev.atelier.bindings.atelier_h.atl_status_destroy(status);
            }
            if (t instanceof RuntimeException r) {
                throw r;
            }
            if (t instanceof Error e) {
                throw e;
            }
            throw new AtelierException(AtelierException.INTERNAL, "progress listener failed: " + t, t);
        }
    }
}
