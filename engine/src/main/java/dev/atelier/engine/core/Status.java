package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.*;

import java.lang.foreign.MemorySegment;

/** Turns the {@code atl_status*} every fallible native call returns into an exception. */
public final class Status {
    private Status() {}

    /**
     * Returns when status is NULL (success); otherwise reads its code and message, frees it,
     * and throws the mapped {@link AtelierException}.
     */
    public static void check(MemorySegment status) {
        if (status.equals(MemorySegment.NULL)) {
            return;
        }
        int code = atl_status_code(status);
        String message = atl_status_message(status).reinterpret(Long.MAX_VALUE).getString(0);
        atl_status_destroy(status);
        throw AtelierException.fromStatus(code, message);
    }
}
