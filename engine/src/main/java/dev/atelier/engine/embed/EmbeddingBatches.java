package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.Progress;
import dev.atelier.engine.core.TensorView;
import java.lang.foreign.Arena;
import java.util.List;

/**
 * The one embedding loop of every backend: images are decoded and transformed on the
 * {@link Preprocessor}'s threads, the next batch while the network runs on the current one, and
 * the network runs on each batch in turn. Progress hears (images done, total) after each batch
 * and may cancel; a cancel or a failure cancels the batch being decoded. Safe to call from
 * several threads at once when the network is: each call stages its own images.
 */
final class EmbeddingBatches implements AutoCloseable {
    /** A backend's network on one batch of transformed images, F32 [n, 3, crop, crop]: one row per image. */
    @FunctionalInterface
    interface Network {
        float[][] run(TensorView input);
    }

    private final Preprocessor preprocessor;
    private final int batchSize;

    EmbeddingBatches(ImageTransform transform, EmbedderOptions options) {
        this.preprocessor = new Preprocessor(transform, options.decodeThreads());
        this.batchSize = options.batchSize();
    }

    ImageTransform transform() {
        return preprocessor.transform();
    }

    /**
     * network's rows for each input, in order.
     *
     * @throws AtelierException.FormatException naming the first file that cannot be decoded
     * @throws AtelierException.CancelledException when progress returned false
     */
    float[][] embed(List<ImageInput> inputs, Network network, Progress progress) {
        int total = inputs.size();
        float[][] result = new float[total][];
        if (total == 1) {
            // One image: decoding on the calling thread saves two thread hand-offs of latency.
            result[0] = run(network, preprocessor.preprocess(inputs.get(0)), 1)[0];
            report(progress, 1, 1, null);
            return result;
        }
        Preprocessor.Pending next = total == 0 ? null : preprocessor.submit(inputs.subList(0, Math.min(batchSize, total)));
        for (int start = 0; start < total; start += batchSize) {
            int end = Math.min(start + batchSize, total);
            float[] pixels = next.await();
            next = end < total ? preprocessor.submit(inputs.subList(end, Math.min(end + batchSize, total))) : null;
            try {
                float[][] rows = run(network, pixels, end - start);
                System.arraycopy(rows, 0, result, start, rows.length);
            } catch (RuntimeException e) {
                if (next != null) {
                    next.cancel();
                }
                throw e;
            }
            report(progress, end, total, next);
        }
        return result;
    }

    private float[][] run(Network network, float[] pixels, int n) {
        int crop = preprocessor.transform().cropSize();
        try (Arena arena = Arena.ofConfined()) {
            return network.run(TensorView.ofFloats(arena, pixels, n, 3, crop, crop));
        }
    }

    private static void report(Progress progress, int done, int total, Preprocessor.Pending next) {
        if (progress != null && !progress.onStep(done, total)) {
            if (next != null) {
                next.cancel();
            }
            throw new AtelierException.CancelledException("embedding cancelled after " + done + " of " + total + " images");
        }
    }

    /** Stops the decoding threads. */
    @Override
    public void close() {
        preprocessor.close();
    }
}
