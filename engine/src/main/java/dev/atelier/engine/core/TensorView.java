package dev.atelier.engine.core;

import dev.atelier.bindings.atl_tensor_view;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A tensor over memory someone else owns: a {@link MemorySegment} (a file mapping, an arena
 * allocation) with dtype, shape and strides in elements. Handing it to native code copies
 * nothing: {@link #toNative(Arena)} writes only the small {@code atl_tensor_view} descriptor.
 *
 * @param data    the elements; its owner keeps it alive while native code may read it
 * @param dtype   element type
 * @param shape   sizes per dimension
 * @param strides element strides per dimension
 */
public record TensorView(MemorySegment data, DType dtype, long[] shape, long[] strides) {
    public static final int MAX_DIMS = 8;

    public TensorView {
        if (shape.length != strides.length || shape.length > MAX_DIMS) {
            throw new AtelierException.InvalidInputException("tensor view: shape " + Arrays.toString(shape)
                    + " and strides " + Arrays.toString(strides) + " must have the same rank, at most " + MAX_DIMS);
        }
        long lastElement = 0;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0 || strides[i] < 0) {
                throw new AtelierException.InvalidInputException(
                        "tensor view: negative size or stride in shape " + Arrays.toString(shape));
            }
            lastElement += (shape[i] - 1) * strides[i];
        }
        long needed = numel(shape) == 0 ? 0 : (lastElement + 1) * dtype.byteSize();
        if (data.byteSize() < needed) {
            throw new AtelierException.InvalidInputException("tensor view: shape " + Arrays.toString(shape) + " of "
                    + dtype + " needs " + needed + " bytes but the memory holds " + data.byteSize());
        }
        shape = shape.clone();
        strides = strides.clone();
    }

    /** A row-major view of data. */
    public static TensorView of(MemorySegment data, DType dtype, long... shape) {
        return new TensorView(data, dtype, shape, contiguousStrides(shape));
    }

    /** A new zeroed row-major tensor allocated in arena. */
    public static TensorView allocate(Arena arena, DType dtype, long... shape) {
        return of(arena.allocate(numel(shape) * dtype.byteSize(), 64), dtype, shape);
    }

    /** A row-major F32 tensor holding a copy of values. */
    public static TensorView ofFloats(Arena arena, float[] values, long... shape) {
        if (numel(shape) != values.length) {
            throw new AtelierException.InvalidInputException("tensor view: " + values.length
                    + " values do not fill shape " + Arrays.toString(shape));
        }
        MemorySegment data = arena.allocate(ValueLayout.JAVA_FLOAT, values.length);
        MemorySegment.copy(values, 0, data, ValueLayout.JAVA_FLOAT, 0, values.length);
        return of(data, DType.F32, shape);
    }

    /** A row-major F32 [rows.length, width] tensor holding a copy of rows, each of width values. */
    public static TensorView ofRows(Arena arena, float[][] rows, int width) {
        MemorySegment data = arena.allocate(ValueLayout.JAVA_FLOAT, Math.max(1L, (long) rows.length * width));
        for (int i = 0; i < rows.length; i++) {
            if (rows[i].length != width) {
                throw new AtelierException.InvalidInputException("row " + i + " has " + rows[i].length + " values, expected " + width);
            }
            MemorySegment.copy(rows[i], 0, data, ValueLayout.JAVA_FLOAT, (long) i * width * Float.BYTES, width);
        }
        return of(data, DType.F32, rows.length, width);
    }

    public static long[] contiguousStrides(long[] shape) {
        long[] strides = new long[shape.length];
        long stride = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = stride;
            stride *= shape[i];
        }
        return strides;
    }

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public long numel() {
        return numel(shape);
    }

    public int rank() {
        return shape.length;
    }

    public boolean isContiguous() {
        return Arrays.equals(strides, contiguousStrides(shape));
    }

    /**
     * How many elements are NaN or infinite: all ones in the exponent of an F64, F32, F16 or BF16
     * value (no integer dtype has such values: 0). Contiguous views only (a file's tensors), read
     * in place without the native library, so a file can be checked before it is loaded.
     */
    public long countNonFinite() {
        if (!isContiguous()) {
            throw new AtelierException.InvalidInputException("countNonFinite needs a contiguous view, got strides "
                    + Arrays.toString(strides) + " for shape " + Arrays.toString(shape));
        }
        long n = numel();
        long bad = 0;
        switch (dtype) {
            case F64 -> {
                for (long i = 0; i < n; i++) {
                    bad += (data.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i) & 0x7ff0000000000000L) == 0x7ff0000000000000L ? 1 : 0;
                }
            }
            case F32 -> {
                for (long i = 0; i < n; i++) {
                    bad += (data.getAtIndex(ValueLayout.JAVA_INT_UNALIGNED, i) & 0x7f800000) == 0x7f800000 ? 1 : 0;
                }
            }
            case F16, BF16 -> {
                int exponent = dtype == DType.F16 ? 0x7c00 : 0x7f80;
                for (long i = 0; i < n; i++) {
                    bad += (data.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i) & exponent) == exponent ? 1 : 0;
                }
            }
            default -> { }
        }
        return bad;
    }

    /** The elements as floats (F32 only, any strides), for tests and small results. */
    public float[] toFloatArray() {
        if (dtype != DType.F32) {
            throw new AtelierException.InvalidInputException("toFloatArray needs F32, this tensor is " + dtype);
        }
        if (isContiguous()) {
            return data.asSlice(0, numel() * 4).toArray(ValueLayout.JAVA_FLOAT);
        }
        float[] out = new float[Math.toIntExact(numel())];
        long[] index = new long[shape.length];
        for (int i = 0; i < out.length; i++) {
            long offset = 0;
            for (int d = 0; d < shape.length; d++) {
                offset += index[d] * strides[d];
            }
            out[i] = data.getAtIndex(ValueLayout.JAVA_FLOAT, offset);
            for (int d = shape.length - 1; d >= 0 && ++index[d] == shape[d]; d--) {
                index[d] = 0;
            }
        }
        return out;
    }

    /** The elements as floats, one array per index of the first dimension (F32 only). */
    public float[][] toFloatRows() {
        float[] all = toFloatArray();
        int n = Math.toIntExact(shape[0]);
        int per = n == 0 ? 0 : all.length / n;
        float[][] rows = new float[n][];
        for (int i = 0; i < n; i++) {
            rows[i] = Arrays.copyOfRange(all, i * per, (i + 1) * per);
        }
        return rows;
    }

    /**
     * The view an {@code atl_tensor_view} descriptor describes (a callback's argument): its data
     * is the native memory itself, valid only while the native code that handed it over allows.
     */
    public static TensorView fromNative(MemorySegment descriptor) {
        MemorySegment view = descriptor.reinterpret(atl_tensor_view.sizeof());
        int ndim = atl_tensor_view.ndim(view);
        if (ndim < 0 || ndim > MAX_DIMS) {
            throw new AtelierException.InvalidInputException("tensor view: rank " + ndim + " out of range");
        }
        long[] shape = new long[ndim];
        long[] strides = new long[ndim];
        long lastElement = 0;
        for (int i = 0; i < ndim; i++) {
            shape[i] = atl_tensor_view.shape(view, i);
            strides[i] = atl_tensor_view.strides(view, i);
            lastElement += Math.max(0, shape[i] - 1) * strides[i];
        }
        DType dtype = DType.fromCode(atl_tensor_view.dtype(view));
        long bytes = numel(shape) == 0 ? 0 : (lastElement + 1) * dtype.byteSize();
        return new TensorView(atl_tensor_view.data(view).reinterpret(bytes), dtype, shape, strides);
    }

    /** Writes the {@code atl_tensor_view} descriptor for this view into arena. */
    public MemorySegment toNative(Arena arena) {
        MemorySegment view = atl_tensor_view.allocate(arena);
        atl_tensor_view.data(view, data);
        atl_tensor_view.dtype(view, dtype.code());
        atl_tensor_view.ndim(view, shape.length);
        atl_tensor_view.device(view, 0);
        atl_tensor_view.device_index(view, 0);
        for (int i = 0; i < shape.length; i++) {
            atl_tensor_view.shape(view, i, shape[i]);
            atl_tensor_view.strides(view, i, strides[i]);
        }
        return view;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorView v && data.equals(v.data) && dtype == v.dtype
                && Arrays.equals(shape, v.shape) && Arrays.equals(strides, v.strides);
    }

    @Override
    public int hashCode() {
        return data.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return "TensorView[" + dtype + " " + Arrays.toString(shape) + " @0x" + Long.toHexString(data.address()) + "]";
    }
}
