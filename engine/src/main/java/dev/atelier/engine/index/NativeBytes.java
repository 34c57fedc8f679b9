package dev.atelier.engine.index;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.AtelierException.UnavailableException;
import dev.atelier.engine.core.NativeHandle;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.Function;

/** The bytes of an {@code atl_blob} returned by a native write function, freed after use. */
final class NativeBytes {
    private NativeBytes() {}

    /** Calls write(out) (an {@code atl_x_write}), hands the blob's bytes to use, then frees the blob. */
    static <T> T withBlob(Function<MemorySegment, MemorySegment> write, Function<MemorySegment, T> use) {
        MemorySegment blob = NativeHandle.create((arena, out) -> write.apply(out));
        try {
            return use.apply(atl_blob_data(blob).reinterpret(atl_blob_size(blob)));
        } finally {
            atl_blob_destroy(blob);
        }
    }

    /** The blob copied into a byte array. */
    static byte[] toArray(Function<MemorySegment, MemorySegment> write) {
        return withBlob(write, bytes -> {
            if (bytes.byteSize() > Integer.MAX_VALUE - 16) {
                throw new UnavailableException("serialised data of " + bytes.byteSize() + " bytes is larger than a Java array");
            }
            return bytes.toArray(ValueLayout.JAVA_BYTE);
        });
    }
}
