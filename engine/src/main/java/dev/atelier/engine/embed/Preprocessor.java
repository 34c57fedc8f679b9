package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Decodes and transforms images on a small pool of threads (decoding a JPEG costs about as
 * much as embedding it on one core, so it runs beside the network). Thread-safe; close it to
 * stop its threads.
 */
public final class Preprocessor implements AutoCloseable {
    private final ImageTransform transform;
    private final ExecutorService pool;

    /**
     * @param transform the transforms to apply
     * @param threads   decoding threads; at least 1
     */
    public Preprocessor(ImageTransform transform, int threads) {
        if (threads < 1) {
            throw new AtelierException.InvalidInputException("decode threads must be >= 1, got " + threads);
        }
        this.transform = transform;
        AtomicInteger count = new AtomicInteger();
        this.pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "atelier-decode-" + count.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
    }

    public ImageTransform transform() {
        return transform;
    }

    /** One image, decoded and transformed on the calling thread: {@code 3 * crop * crop} floats (CHW). */
    public float[] preprocess(ImageInput input) {
        float[] out = new float[transform.outputSize()];
        transform.apply(ImageDecoder.decode(input.path()), input.box(), out, 0);
        return out;
    }

    /** Starts decoding inputs in the background; {@link Pending#await()} gives the batch. */
    public Pending submit(List<ImageInput> inputs) {
        List<Future<float[]>> futures = new ArrayList<>(inputs.size());
        for (ImageInput input : inputs) {
            futures.add(pool.submit(() -> preprocess(input)));
        }
        return new Pending(futures, transform.outputSize());
    }

    /** inputs as one [n, 3, crop, crop] batch, row-major, decoded in parallel. */
    public float[] preprocessAll(List<ImageInput> inputs) {
        return submit(inputs).await();
    }

    @Override
    public void close() {
        pool.shutdownNow();
    }

    /** A batch being decoded. */
    public static final class Pending {
        private final List<Future<float[]>> futures;
        private final int imageSize;

        private Pending(List<Future<float[]>> futures, int imageSize) {
            this.futures = futures;
            this.imageSize = imageSize;
        }

        /** Waits for every image; rethrows the first failure (its message names the file). */
        public float[] await() {
            float[] batch = new float[Math.multiplyExact(futures.size(), imageSize)];
            try {
                for (int i = 0; i < futures.size(); i++) {
                    System.arraycopy(futures.get(i).get(), 0, batch, i * imageSize, imageSize);
                }
            } catch (ExecutionException e) {
                cancel();
                if (e.getCause() instanceof RuntimeException r) {
                    throw r;
                }
                throw new AtelierException(AtelierException.INTERNAL, "image decoding failed: " + e.getCause(), e.getCause());
            } catch (InterruptedException | CancellationException e) {
                cancel();
                Thread.currentThread().interrupt();
                throw new AtelierException.CancelledException("image decoding was interrupted");
            }
            return batch;
        }

        /** Stops the images not yet decoded. */
        public void cancel() {
            futures.forEach(f -> f.cancel(true));
        }
    }
}
