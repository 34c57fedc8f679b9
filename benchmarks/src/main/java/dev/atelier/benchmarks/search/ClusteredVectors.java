package dev.atelier.benchmarks.search;

import java.util.SplittableRandom;
import java.util.stream.IntStream;

/**
 * Synthetic search data: unit vectors drawn around random cluster centres (a Gaussian centre of
 * unit expected length plus Gaussian noise of {@code spread} per coordinate, then L2-normalised),
 * the base set and held-out queries drawn the same way. Rows are generated in fixed chunks, each
 * from its own seeded generator, so the data depends only on the seed, not on the thread count.
 *
 * @param base    n rows of dimension values, row-major
 * @param queries nq rows, row-major, not in base
 */
public record ClusteredVectors(int dimension, int n, float[] base, int nq, float[] queries) {
    private static final int CHUNK = 4096;

    public static ClusteredVectors generate(int n, int nq, int dimension, int clusters, float spread, long seed) {
        float[] centres = new float[clusters * dimension];
        SplittableRandom random = new SplittableRandom(seed);
        double scale = 1 / Math.sqrt(dimension);
        for (int i = 0; i < centres.length; i++) {
            centres[i] = (float) (random.nextGaussian() * scale);
        }
        float[] base = draw(centres, clusters, dimension, n, spread, random.split());
        float[] queries = draw(centres, clusters, dimension, nq, spread, random.split());
        return new ClusteredVectors(dimension, n, base, nq, queries);
    }

    private static float[] draw(float[] centres, int clusters, int d, int rows, float spread, SplittableRandom parent) {
        float[] out = new float[Math.multiplyExact(rows, d)];
        int chunks = (rows + CHUNK - 1) / CHUNK;
        long[] seeds = new long[chunks];
        for (int c = 0; c < chunks; c++) {
            seeds[c] = parent.nextLong();
        }
        IntStream.range(0, chunks).parallel().forEach(c -> {
            SplittableRandom random = new SplittableRandom(seeds[c]);
            for (int r = c * CHUNK; r < Math.min(rows, (c + 1) * CHUNK); r++) {
                int centre = random.nextInt(clusters) * d;
                double norm = 0;
                for (int j = 0; j < d; j++) {
                    float v = centres[centre + j] + (float) (random.nextGaussian() * spread);
                    out[r * d + j] = v;
                    norm += (double) v * v;
                }
                float inv = (float) (1 / Math.sqrt(norm));
                for (int j = 0; j < d; j++) {
                    out[r * d + j] *= inv;
                }
            }
        });
        return out;
    }

    public float[] query(int i) {
        return java.util.Arrays.copyOfRange(queries, i * dimension, (i + 1) * dimension);
    }

    public float[] row(int i) {
        return java.util.Arrays.copyOfRange(base, i * dimension, (i + 1) * dimension);
    }
}
