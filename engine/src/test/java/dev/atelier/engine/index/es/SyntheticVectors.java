package dev.atelier.engine.index.es;

import dev.atelier.engine.catalog.CatalogItem;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Seeded synthetic catalog: clustered, L2-normalised vectors (cluster centres plus Gaussian
 * noise), one item per vector, a category per cluster. Queries come from the same clusters
 * but are not in the catalog.
 */
final class SyntheticVectors {
    final float[][] vectors;
    final List<CatalogItem> items;
    final float[][] queries;

    private SyntheticVectors(float[][] vectors, List<CatalogItem> items, float[][] queries) {
        this.vectors = vectors;
        this.items = items;
        this.queries = queries;
    }

    /** n vectors of dim values in clusters (noise sigma per dimension relative to unit-variance centres). */
    static SyntheticVectors make(int n, int dim, int clusters, int categories, int queryCount, float noise, long seed) {
        Random random = new Random(seed);
        float[][] centres = new float[clusters][dim];
        for (float[] c : centres) {
            for (int j = 0; j < dim; j++) {
                c[j] = (float) random.nextGaussian();
            }
        }
        float[][] vectors = new float[n][];
        List<CatalogItem> items = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int c = random.nextInt(clusters);
            vectors[i] = point(centres[c], noise, random);
            items.add(new CatalogItem("img/c" + c + "/item" + i + ".jpg", "item" + i, "cat" + (c % categories)));
        }
        float[][] queries = new float[queryCount][];
        for (int q = 0; q < queryCount; q++) {
            queries[q] = point(centres[random.nextInt(clusters)], noise, random);
        }
        return new SyntheticVectors(vectors, items, queries);
    }

    private static float[] point(float[] centre, float noise, Random random) {
        float[] v = new float[centre.length];
        double norm = 0;
        for (int j = 0; j < v.length; j++) {
            v[j] = centre[j] + noise * (float) random.nextGaussian();
            norm += v[j] * v[j];
        }
        float inv = (float) (1 / Math.sqrt(norm));
        for (int j = 0; j < v.length; j++) {
            v[j] *= inv;
        }
        return v;
    }
}
