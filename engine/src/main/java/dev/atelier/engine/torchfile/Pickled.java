package dev.atelier.engine.torchfile;

import dev.atelier.engine.core.DType;
import java.util.List;

/**
 * The values {@link PickleReader} builds besides Java's own (String, Long, BigInteger, Double,
 * Boolean, null, byte[], {@code List} for lists, {@code Map} for dicts). Nothing here runs code:
 * a pickle can only describe these inert records.
 */
final class Pickled {
    private Pickled() {}

    /** A pickle tuple (kept apart from lists so argument tuples can be checked). */
    record Tuple(List<Object> items) {
        Object get(int i) {
            return items.get(i);
        }

        int size() {
            return items.size();
        }
    }

    /** A reference to {@code module.name}, resolved only against the whitelist. */
    record Global(String module, String name) {
        @Override
        public String toString() {
            return module + "." + name;
        }
    }

    /** torch's persistent id for a storage: {@code ('storage', FloatStorage, key, location, numel)}. */
    record StorageRef(DType dtype, String key, String location, long numel) {}

    /** {@code torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)}: a view of a storage. */
    record TensorRef(StorageRef storage, long offset, long[] shape, long[] stride) {}

    /**
     * An object of a class that is not on the whitelist, read in lenient mode; never instantiated.
     * Equal only to itself and printed without its arguments: they may be deep, shared or contain
     * the object, and a dict key is hashed and compared.
     */
    record Opaque(Global type, Object args) {
        @Override
        public boolean equals(Object o) {
            return this == o;
        }

        @Override
        public int hashCode() {
            return System.identityHashCode(this);
        }

        @Override
        public String toString() {
            return type + "(...)";
        }
    }
}
