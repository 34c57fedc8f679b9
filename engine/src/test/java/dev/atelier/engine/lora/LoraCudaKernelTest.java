package dev.atelier.engine.lora;

import static dev.atelier.bindings.atelier_h.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.core.Status;
import dev.atelier.engine.core.TensorView;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * The CUDA LoRA kernels (native/src/lora/kernels_cuda.cu) against the CPU reference kernel on random
 * shapes, forward and backward, with |got - ref| <= atol + rtol |ref|. Needs a CUDA build and a GPU:
 * run with {@code -Dgroups=gpu}.
 */
@Tag("gpu")
class LoraCudaKernelTest {
    @Test
    void cudaMatchesTheCpuReference() {
        NativeLibrary.load();
        assertEquals(1, atl_lora_kernel_available(ATL_LORA_KERNEL_CUDA()), "this test needs a CUDA build and a GPU");
        Random rnd = new Random(42);
        try (Arena arena = Arena.ofConfined()) {
            for (int trial = 0; trial < 20; trial++) {
                int n = 1 + rnd.nextInt(300), in = 1 + rnd.nextInt(700), out = 1 + rnd.nextInt(700),
                        r = 1 + rnd.nextInt(64);
                float scale = 0.5f + rnd.nextFloat();
                TensorView x = random(arena, rnd, n, in), w = random(arena, rnd, out, in);
                TensorView bias = random(arena, rnd, out), a = random(arena, rnd, r, in), b = random(arena, rnd, out, r);
                TensorView dy = random(arena, rnd, n, out);
                TensorView[] ref = {TensorView.allocate(arena, DType.F32, n, out), TensorView.allocate(arena, DType.F32, n, in),
                    TensorView.allocate(arena, DType.F32, r, in), TensorView.allocate(arena, DType.F32, out, r)};
                TensorView[] got = {TensorView.allocate(arena, DType.F32, n, out), TensorView.allocate(arena, DType.F32, n, in),
                    TensorView.allocate(arena, DType.F32, r, in), TensorView.allocate(arena, DType.F32, out, r)};
                for (int k = 0; k < 2; k++) {
                    int kernel = k == 0 ? ATL_LORA_KERNEL_REFERENCE() : ATL_LORA_KERNEL_CUDA();
                    TensorView[] o = k == 0 ? ref : got;
                    Status.check(atl_lora_linear_forward(kernel, x.toNative(arena), w.toNative(arena), bias.toNative(arena),
                            a.toNative(arena), b.toNative(arena), scale, MemorySegment.NULL, o[0].toNative(arena)));
                    Status.check(atl_lora_linear_backward(kernel, x.toNative(arena), w.toNative(arena), a.toNative(arena),
                            b.toNative(arena), scale, dy.toNative(arena), o[1].toNative(arena), o[2].toNative(arena),
                            o[3].toNative(arena)));
                }
                int[] reduction = {in + r, out + r, n + out, n + in};
                for (int i = 0; i < 4; i++) {
                    float[] g = got[i].toFloatArray(), e = ref[i].toFloatArray();
                    for (int j = 0; j < e.length; j++) {
                        double tol = 4e-6 * reduction[i] + 1e-5 * Math.abs(e[j]);
                        assertTrue(Math.abs(g[j] - e[j]) <= tol, "output " + i + " element " + j + ": " + g[j] + " vs " + e[j]);
                    }
                }
            }
        }
    }

    private static TensorView random(Arena arena, Random rnd, long... shape) {
        float[] v = new float[(int) TensorView.numel(shape)];
        for (int i = 0; i < v.length; i++) {
            v[i] = rnd.nextFloat() * 2 - 1;
        }
        return TensorView.ofFloats(arena, v, shape);
    }
}
