package dev.atelier.engine.embed;

import dev.atelier.engine.core.AtelierException.InvalidInputException;

/**
 * How an {@link ImageEmbedder} runs.
 *
 * @param weights        which torchvision weight set the file holds; picks the transforms
 * @param feature        what {@link ImageEmbedder#embed} returns
 * @param batchSize      images per network call in {@link ImageEmbedder#embed}
 * @param threads        intra-op threads per network call; 1 is best for batch-1 latency on a
 *                       busy machine (threads of one call wait on each other when another process holds a core), 0 leaves the library-wide setting
 * @param decodeThreads  threads decoding images beside the network
 * @param foldBatchNorm  fold BatchNorm into the convolutions at load (eval mode)
 * @param channelsLast   run in channels-last memory format
 */
public record EmbedderOptions(ImagenetWeights weights, Feature feature, int batchSize, int threads,
        int decodeThreads, boolean foldBatchNorm, boolean channelsLast) {

    public EmbedderOptions {
        if (batchSize < 1 || threads < 0 || decodeThreads < 1) {
            throw new InvalidInputException("embedder options: batchSize and decodeThreads must be >= 1 and "
                    + "threads >= 0, got " + batchSize + ", " + decodeThreads + ", " + threads);
        }
    }

    /** IMAGENET1K_V1, pooled features, batches of 32, 1 network thread, up to 4 decoding threads, folded BatchNorm, channels-last. */
    public static EmbedderOptions defaults() {
        return new EmbedderOptions(ImagenetWeights.IMAGENET1K_V1, Feature.POOLED, 32, 1,
                Math.max(1, Math.min(4, Runtime.getRuntime().availableProcessors())), true, true);
    }

    public EmbedderOptions withWeights(ImagenetWeights w) {
        return new EmbedderOptions(w, feature, batchSize, threads, decodeThreads, foldBatchNorm, channelsLast);
    }

    public EmbedderOptions withFeature(Feature f) {
        return new EmbedderOptions(weights, f, batchSize, threads, decodeThreads, foldBatchNorm, channelsLast);
    }

    public EmbedderOptions withBatchSize(int n) {
        return new EmbedderOptions(weights, feature, n, threads, decodeThreads, foldBatchNorm, channelsLast);
    }

    public EmbedderOptions withThreads(int n) {
        return new EmbedderOptions(weights, feature, batchSize, n, decodeThreads, foldBatchNorm, channelsLast);
    }

    public EmbedderOptions withDecodeThreads(int n) {
        return new EmbedderOptions(weights, feature, batchSize, threads, n, foldBatchNorm, channelsLast);
    }

    public EmbedderOptions withFoldBatchNorm(boolean fold) {
        return new EmbedderOptions(weights, feature, batchSize, threads, decodeThreads, fold, channelsLast);
    }

    public EmbedderOptions withChannelsLast(boolean cl) {
        return new EmbedderOptions(weights, feature, batchSize, threads, decodeThreads, foldBatchNorm, cl);
    }
}
