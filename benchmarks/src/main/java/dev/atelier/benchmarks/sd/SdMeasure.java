package dev.atelier.benchmarks.sd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * What the Java sides of benchmarks/sd/compare.sh share (Atelier's {@link SdBenchmark} and ONNX
 * Runtime's {@link OnnxSdBenchmark}): the report lines, memory from /proc, timing statistics, the
 * random inputs, and the end-to-end proxy's sampler arithmetic, so that both engines run the same
 * inputs through the same update.
 */
final class SdMeasure {
    /** Token ids are drawn below CLIP's BOS (49406), as baseline.py draws them. */
    static final int TOKEN_LIMIT = 49406;
    static final int CONTEXT_LENGTH = 77;
    /** Classifier-free guidance scale of the end-to-end proxy. */
    static final float CFG = 7.5f;

    private SdMeasure() {}

    /**
     * MiB from /proc/self/status: VmRSS split into RssFile (pages of mapped files, shared with the
     * page cache) and RssAnon (private memory), and VmHWM, the peak RSS.
     */
    static Map<String, Double> memory() throws IOException {
        Map<String, Double> out = new LinkedHashMap<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            int colon = line.indexOf(':');
            if (colon > 0) {
                String key = line.substring(0, colon);
                if (key.equals("VmRSS") || key.equals("RssFile") || key.equals("RssAnon") || key.equals("VmHWM")) {
                    out.put(key, Long.parseLong(line.substring(colon + 1).trim().split("\\s+")[0]) / 1024.0);
                }
            }
        }
        return out;
    }

    /** Prints {@code ENGINE KIND key=value ...}, doubles with 3 decimals: the lines compare.sh reads. */
    static void report(String engine, String kind, Object... kv) {
        StringBuilder b = new StringBuilder(engine).append(' ').append(kind);
        for (int i = 0; i < kv.length; i += 2) {
            Object v = kv[i + 1];
            b.append(' ').append(kv[i]).append('=')
                    .append(v instanceof Double d ? String.format(Locale.ROOT, "%.3f", d) : v);
        }
        System.out.println(b);
    }

    static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }

    static void checkFinite(float[] v) {
        for (float f : v) {
            if (!Float.isFinite(f)) {
                throw new IllegalStateException("non-finite output");
            }
        }
    }

    /** count unit-Gaussian floats. */
    static float[] gaussian(SplittableRandom random, long count) {
        float[] v = new float[Math.toIntExact(count)];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) random.nextGaussian();
        }
        return v;
    }

    /** Token ids for the end-to-end proxy's two prompts (uncond, cond): [2, 77], row-major. */
    static long[] tokenIds(SplittableRandom random) {
        long[] ids = new long[2 * CONTEXT_LENGTH];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = random.nextInt(TOKEN_LIMIT);
        }
        return ids;
    }

    // ---- the end-to-end proxy's sampler, as baseline.py's e2e mode: a fixed descending sigma ramp
    // (14.6 to 0.03, then 0), an Euler update with classifier-free guidance; not a real sampler,
    // the cost is the networks' ----

    /** Sigma before step i of n; n gives 0 (the end of the ramp). */
    static double sigma(int i, int n) {
        return i < n ? 14.6 + (0.03 - 14.6) * i / n : 0;
    }

    /** The UNet's timestep at step i of n (999 down towards 0). */
    static float timestep(int i, int n) {
        return (float) (999.0 * (1 - (double) i / n));
    }

    /** The batch-2 UNet input at step i: the latents twice (uncond, cond), scaled by 1/sqrt(sigma^2 + 1). */
    static float[] cfgInput(float[] latents, int i, int n) {
        double sigma = sigma(i, n);
        float scale = (float) (1 / Math.sqrt(sigma * sigma + 1));
        int per = latents.length;
        float[] in = new float[2 * per];
        for (int j = 0; j < per; j++) {
            in[j] = latents[j] * scale;
            in[per + j] = latents[j] * scale;
        }
        return in;
    }

    /** latents += (uncond + CFG (cond - uncond)) (sigma(i + 1) - sigma(i)), eps = [uncond; cond]. */
    static void eulerUpdate(float[] latents, float[] eps, int i, int n) {
        int per = latents.length;
        double dt = sigma(i + 1, n) - sigma(i, n);
        for (int j = 0; j < per; j++) {
            float uncond = eps[j];
            float cond = eps[per + j];
            latents[j] += (float) ((uncond + CFG * (cond - uncond)) * dt);
        }
    }
}
