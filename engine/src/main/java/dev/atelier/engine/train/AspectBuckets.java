package dev.atelier.engine.train;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

/**
 * Aspect-ratio buckets as kohya's sd-scripts makes them ({@code model_util.make_bucket_resolutions}):
 * the square bucket of the target area, then for every width from minSize to maxSize in steps
 * of 64 the largest height (a multiple of 64, at most maxSize) whose area stays within
 * resolution², and the same transposed. An image goes to the bucket whose aspect ratio is
 * closest to its own (kohya {@code BucketManager.select_bucket}).
 */
public final class AspectBuckets {
    /** Bucket sides are multiples of this (the VAE factor 8 times the UNet's 8). */
    public static final int STEP = 64;

    /** One bucket, width x height in pixels. */
    public record Bucket(int width, int height) implements Comparable<Bucket> {
        double aspect() {
            return (double) width / height;
        }

        @Override
        public int compareTo(Bucket o) {
            return width != o.width ? Integer.compare(width, o.width) : Integer.compare(height, o.height);
        }

        @Override
        public String toString() {
            return width + "x" + height;
        }
    }

    private final List<Bucket> buckets;

    private AspectBuckets(List<Bucket> buckets) {
        this.buckets = List.copyOf(buckets);
    }

    /**
     * Buckets of about resolution² pixels. kohya's defaults are min 256 and max 1024 for 512; here
     * min = resolution / 2 and max = resolution * 2 (the same for 512), so that small test
     * resolutions get sensible buckets too.
     */
    public static AspectBuckets forResolution(int resolution) {
        int minSize = Math.max(STEP, resolution / 2 / STEP * STEP);
        int maxSize = resolution * 2;
        long maxArea = (long) resolution * resolution;
        TreeSet<Bucket> set = new TreeSet<>();
        int square = (int) (Math.sqrt(maxArea) / STEP) * STEP;
        set.add(new Bucket(square, square));
        for (int width = minSize; width <= maxSize; width += STEP) {
            int height = (int) Math.min(maxSize, maxArea / width / STEP * STEP);
            if (height >= minSize) {
                set.add(new Bucket(width, height));
                set.add(new Bucket(height, width));
            }
        }
        return new AspectBuckets(new ArrayList<>(set));
    }

    public List<Bucket> buckets() {
        return buckets;
    }

    /** The bucket whose aspect ratio is closest to width / height. */
    public Bucket select(int width, int height) {
        double aspect = (double) width / height;
        Bucket best = buckets.get(0);
        for (Bucket b : buckets) {
            if (Math.abs(b.aspect() - aspect) < Math.abs(best.aspect() - aspect)) {
                best = b;
            }
        }
        return best;
    }
}
