package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.*;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * What the loaded native library reports about itself and this machine.
 *
 * @param atelierVersion libatelier's version
 * @param abiVersion     its ABI version (checked equal to the bindings' at load)
 * @param torchVersion   the libtorch it was built against
 * @param faissVersion   the FAISS it was built against
 * @param buildInfo      compiler, build type, optional parts
 * @param libraryPath    where it was loaded from
 * @param threads        intra-op threads in use
 * @param cores          cores available to the process
 * @param cpuFeatures    usable SIMD extensions (AVX2, FMA, AVX-512F, AVX512_BF16, AMX-BF16)
 * @param cudaDevices    CUDA devices usable through libtorch
 */
public record NativeInfo(String atelierVersion, int abiVersion, String torchVersion, String faissVersion,
        String buildInfo, String libraryPath, int threads, int cores, List<String> cpuFeatures, int cudaDevices) {

    public static NativeInfo read() {
        String path = NativeLibrary.load();
        int bits = atl_cpu_features();
        List<String> features = new ArrayList<>();
        if ((bits & ATL_CPU_AVX2()) != 0) features.add("AVX2");
        if ((bits & ATL_CPU_FMA()) != 0) features.add("FMA");
        if ((bits & ATL_CPU_AVX512F()) != 0) features.add("AVX-512F");
        if ((bits & ATL_CPU_AVX512_BF16()) != 0) features.add("AVX512_BF16");
        if ((bits & ATL_CPU_AMX_BF16()) != 0) features.add("AMX-BF16");
        return new NativeInfo(string(atl_version()), atl_abi_version(), string(atl_torch_version()),
                string(atl_faiss_version()), string(atl_build_info()), path, atl_num_threads(), atl_num_cores(),
                List.copyOf(features), atl_cuda_device_count());
    }

    /**
     * Changes the intra-op thread count (0: all cores). Before the library is loaded the count
     * is kept and set when it loads (before any native work), so that choosing it does not load
     * the library.
     */
    public static void setThreads(int threads) {
        NativeLibrary.requestThreads(threads);
    }

    private static String string(MemorySegment s) {
        return s.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
