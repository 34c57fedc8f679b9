package dev.atelier.engine.safetensors;

import dev.atelier.engine.core.DType;
import java.util.Arrays;

/**
 * One entry of a safetensors header.
 *
 * @param name   tensor name
 * @param dtype  element type
 * @param shape  sizes per dimension
 * @param begin  first byte, relative to the start of the data section
 * @param end    one past the last byte, relative to the start of the data section
 */
public record TensorInfo(String name, DType dtype, long[] shape, long begin, long end) {
    public TensorInfo {
        shape = shape.clone();
    }

    public long byteSize() {
        return end - begin;
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorInfo t && name.equals(t.name) && dtype == t.dtype
                && Arrays.equals(shape, t.shape) && begin == t.begin && end == t.end;
    }

    @Override
    public int hashCode() {
        return name.hashCode();
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
