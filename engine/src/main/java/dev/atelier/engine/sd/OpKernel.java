package dev.atelier.engine.sd;

import static dev.atelier.bindings.atelier_h.*;

import dev.atelier.engine.core.NativeEnum;
import dev.atelier.engine.core.NativeLibrary;

/**
 * Which kernels run the SD networks' attention, convolutions, Linear layers and normalisations
 * ({@code atl_op_kernel}), one choice per network ({@code kernels} in {@link UNetParams},
 * {@link VaeParams}, {@link TextEncoderParams}). Training (where a gradient flows) always uses
 * libtorch's ops.
 */
public enum OpKernel implements NativeEnum {
    /** Atelier's AVX-512 kernels where this CPU has AVX-512, else libtorch's (the default). */
    AUTO(ATL_OP_KERNEL_AUTO()),
    /** Plain scalar C++ with double accumulation: slow, for checking. */
    REFERENCE(ATL_OP_KERNEL_REFERENCE()),
    /** Atelier's AVX-512 kernels. */
    AVX512(ATL_OP_KERNEL_AVX512()),
    /** libtorch's ops (oneDNN, OpenBLAS). */
    TORCH(ATL_OP_KERNEL_TORCH());

    private final int code;

    OpKernel(int code) {
        this.code = code;
    }

    /** The {@code atl_op_kernel} value. */
    @Override
    public int code() {
        return code;
    }

    /**
     * Whether this CPU runs it ({@code atl_op_kernel_available}). Only {@link #AVX512} depends on
     * the CPU; the others run everywhere, and answering for them without the library lets a
     * command check its input before paying the library's load (about 0.6 s).
     */
    public boolean available() {
        if (this != AVX512) {
            return true;
        }
        NativeLibrary.load();
        return atl_op_kernel_available(code) != 0;
    }

    /** The kernels with the given {@link #nativeName()}, ignoring case; anything else lists the names. */
    public static OpKernel fromName(String name) {
        return NativeEnum.fromName(values(), name, "op kernels");
    }

    /** The kernels with the given {@link #code()}. */
    public static OpKernel fromCode(int code) {
        return NativeEnum.fromCode(values(), code, "atl_op_kernel");
    }

    /** The names, comma-separated, for help texts. */
    public static String names() {
        return NativeEnum.names(values());
    }
}
