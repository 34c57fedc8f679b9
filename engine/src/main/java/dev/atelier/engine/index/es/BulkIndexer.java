package dev.atelier.engine.index.es;

import co.elastic.clients.elasticsearch._types.ElasticsearchException;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.BackendException;
import dev.atelier.engine.core.AtelierException.CancelledException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.index.Pca;
import dev.atelier.engine.index.es.ElasticsearchTransport.ItemFailure;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Moves a whole catalog into Elasticsearch ({@code atelier index build --index es://...}).
 *
 * <p>Producers (parallel: they embed images) read chunks of the catalog from a {@link Source},
 * project them (PCA, normalisation) and put them on a bounded queue; when the senders fall
 * behind the queue is full and producers wait (back-pressure). Senders write each chunk as one
 * bulk request; items Elasticsearch rejects with a status {@link RetryPolicy} calls transient
 * (overload, a node gone), and whole requests that fail the same way or find no node, are
 * retried with exponential back-off and jitter; any other item failure (a mapping error) stops
 * the build with the item's path and reason. Document ids are SHA-256 of the image path, so writing a chunk twice
 * overwrites it. A chunk is recorded in the checkpoint file only once every one of its items is
 * acknowledged; a build started again with the same checkpoint resumes into the same concrete
 * index and skips those chunks. A build ends by checking that the index holds exactly the
 * catalog's number of documents, and only then moves the alias onto it.
 */
public final class BulkIndexer {
    private static final Logger LOG = LoggerFactory.getLogger(BulkIndexer.class);

    /** The catalog to index, read in chunks from several threads at once. */
    public interface Source {
        /** Number of items. */
        long size();

        /** Raw feature vectors and items of positions [start, start + count); called from many threads. */
        Chunk read(long start, int count) throws Exception;
    }

    /** Raw vectors (one per item, before PCA) and their items. */
    public record Chunk(float[][] vectors, List<CatalogItem> items) {}

    /** A Source over vectors and items already in memory. */
    public static Source of(float[][] vectors, List<CatalogItem> items) {
        if (vectors.length != items.size()) {
            throw new InvalidInputException(vectors.length + " vectors for " + items.size() + " items");
        }
        return new Source() {
            @Override
            public long size() {
                return vectors.length;
            }

            @Override
            public Chunk read(long start, int count) {
                int s = Math.toIntExact(start);
                return new Chunk(java.util.Arrays.copyOfRange(vectors, s, s + count), items.subList(s, s + count));
            }
        };
    }

    /**
     * @param chunkSize     items per bulk request (500 x 128 floats: about 1 MB of JSON)
     * @param producers     threads reading (embedding) chunks
     * @param senders       threads sending bulk requests (concurrent requests to the cluster)
     * @param queueCapacity chunks waiting to be sent before producers block
     * @param retry         retries of a chunk's rejected items before the build fails, and their delays
     * @param checkpoint    progress file for resuming; null: no resume
     */
    public record Options(int chunkSize, int producers, int senders, int queueCapacity, RetryPolicy retry, Path checkpoint) {
        public Options {
            if (chunkSize <= 0 || producers <= 0 || senders <= 0 || queueCapacity <= 0 || retry == null) {
                throw new InvalidInputException("bulk options out of range: chunk " + chunkSize + ", producers " + producers
                        + ", senders " + senders + ", queue " + queueCapacity + ", retry " + retry);
            }
        }

        /** Chunks of 500, 2 producers, 2 senders, 4 queued chunks, 8 retries from 100 ms to 10 s, no checkpoint. */
        public static Options defaults() {
            return new Options(500, 2, 2, 4, new RetryPolicy(8, Duration.ofMillis(100), Duration.ofSeconds(10)), null);
        }

        public Options withCheckpoint(Path file) {
            return new Options(chunkSize, producers, senders, queueCapacity, retry, file);
        }

        public Options withChunkSize(int value) {
            return new Options(value, producers, senders, queueCapacity, retry, checkpoint);
        }

        public Options withRetries(int value, Duration initial, Duration max) {
            return new Options(chunkSize, producers, senders, queueCapacity, new RetryPolicy(value, initial, max), checkpoint);
        }

        public Options withThreads(int producerThreads, int senderThreads) {
            return new Options(chunkSize, producerThreads, senderThreads, queueCapacity, retry, checkpoint);
        }
    }

    /**
     * Progress of a build: documents acknowledged (including those a resumed build found done),
     * throughput of this run, and the estimated time left.
     */
    public record Progress(long done, long total, double perSecond, Optional<Duration> eta, long retries) {
        /** One line for a terminal: "45,000/100,000 45.0% 3,100 vectors/s ETA 0:18". */
        public String line() {
            String eta = this.eta.map(d -> String.format("%d:%02d", d.toMinutes(), d.toSecondsPart())).orElse("?");
            return String.format("%,d/%,d %.1f%% %,.0f vectors/s ETA %s%s", done, total, total == 0 ? 100.0 : 100.0 * done / total,
                    perSecond, eta, retries == 0 ? "" : " (" + retries + " retried items)");
        }
    }

    /** Receives progress after every finished chunk, and each retry (from sender threads). */
    @FunctionalInterface
    public interface Listener {
        Listener NONE = p -> {};

        void onProgress(Progress progress);

        /** A bulk request or some of its items failed in a retryable way; it is sent again after delay. */
        default void onRetry(String reason, int attempt, Duration delay) {}
    }

    /**
     * @param index           the concrete index now behind the alias
     * @param documents       documents it holds (= catalog size)
     * @param writtenThisRun  documents this run sent (less than documents after a resume)
     * @param chunksSkipped   chunks the checkpoint said were done
     * @param retriedItems    items sent again after a rejection
     */
    public record Result(String index, long documents, long writtenThisRun, int chunksSkipped, long retriedItems, Duration elapsed) {}

    private BulkIndexer() {}

    /**
     * Builds (or, with a checkpoint naming an unfinished build, resumes) the catalog at location
     * and publishes it under its alias.
     *
     * @param pca            the catalog's PCA, or null (a resume uses the PCA stored with the index)
     * @param inputDimension length of the raw vectors
     * @param cancelled      polled between chunks: true stops the build (CancelledException);
     *                       finished chunks stay in the checkpoint
     */
    public static Result build(ElasticsearchLocation location, ElasticsearchOptions esOptions, Pca pca, int inputDimension,
            Source source, Options options, Listener listener, BooleanSupplier cancelled) {
        return buildWithLazyPca(location, esOptions, () -> pca, inputDimension, source, options, listener, cancelled);
    }

    /**
     * The same, with the PCA made only when a new index is created (a resume uses the stored
     * one, so a caller that trains its PCA on the catalog skips that work). The supplier's PCA
     * stays the caller's to close; it may return null (vectors used as they are, normalised).
     */
    public static Result buildWithLazyPca(ElasticsearchLocation location, ElasticsearchOptions esOptions, Supplier<Pca> pca, int inputDimension,
            Source source, Options options, Listener listener, BooleanSupplier cancelled) {
        long total = source.size();
        long startNanos = System.nanoTime();
        Optional<BuildCheckpoint.State> saved = BuildCheckpoint.read(options.checkpoint());
        ElasticsearchCatalog target = null;
        BuildCheckpoint checkpoint = null;
        if (saved.isPresent()) {
            BuildCheckpoint.State s = saved.get();
            if (s.total() == total && s.chunkSize() == options.chunkSize() && CatalogAdmin.exists(location, esOptions, s.index())) {
                target = CatalogAdmin.openConcrete(location, esOptions, s.index());
                checkpoint = new BuildCheckpoint(options.checkpoint(), s.index(), total, options.chunkSize(), BuildCheckpoint.bits(s.done()));
                LOG.info("resuming the build into {}: {} chunks of {} done", s.index(), checkpoint.doneCount(), options.chunkSize());
            } else {
                LOG.info("checkpoint {} is for another build ({} items in chunks of {} into {}); starting over",
                        options.checkpoint(), s.total(), s.chunkSize(), s.index());
            }
        }
        if (target == null) {
            target = ElasticsearchCatalog.create(location, esOptions, pca.get(), inputDimension);
            checkpoint = new BuildCheckpoint(options.checkpoint(), target.concreteIndex(), total, options.chunkSize(), new BitSet());
            checkpoint.save();
        }
        try (ElasticsearchCatalog catalog = target) {
            catalog.admin().beginBulkLoad();
            Loaded loaded = load(catalog, source, options, checkpoint, listener, cancelled);
            catalog.admin().endBulkLoad();
            long count = catalog.count();
            if (count != total) {
                throw new BackendException(AtelierException.BACKEND, "index " + catalog.concreteIndex() + " holds " + count
                        + " documents after the build, the catalog has " + total
                        + (count < total ? " (do several items share an image path? ids are derived from it)" : "")
                        + "; the alias was not moved");
            }
            catalog.publish();
            checkpoint.delete();
            return new Result(catalog.concreteIndex(), count, loaded.written(), loaded.skipped(), loaded.retried(),
                    Duration.ofNanos(System.nanoTime() - startNanos));
        }
    }

    record Loaded(long written, int skipped, long retried) {}

    /** Writes every chunk the checkpoint lacks into catalog's concrete index. */
    static Loaded load(ElasticsearchCatalog catalog, Source source, Options options, BuildCheckpoint checkpoint,
            Listener listener, BooleanSupplier cancelled) {
        long total = source.size();
        int chunkSize = options.chunkSize();
        int chunks = Math.toIntExact((total + chunkSize - 1) / chunkSize);
        record Batch(int chunk, List<CatalogDocument> docs) {}
        BlockingQueue<Batch> queue = new ArrayBlockingQueue<>(options.queueCapacity());
        AtomicInteger nextChunk = new AtomicInteger();
        AtomicInteger producersLeft = new AtomicInteger(options.producers());
        AtomicInteger skipped = new AtomicInteger();
        AtomicLong done = new AtomicLong();
        AtomicLong written = new AtomicLong();
        AtomicLong retried = new AtomicLong();
        AtomicReference<RuntimeException> failure = new AtomicReference<>();
        long start = System.nanoTime();
        for (int c = 0; c < chunks; c++) {
            if (checkpoint.isDone(c)) {
                done.addAndGet(chunkLength(c, chunkSize, total));
            }
        }
        BooleanSupplier stop = () -> failure.get() != null || cancelled.getAsBoolean();

        Runnable producer = () -> {
            try {
                for (int c = nextChunk.getAndIncrement(); c < chunks && !stop.getAsBoolean(); c = nextChunk.getAndIncrement()) {
                    if (checkpoint.isDone(c)) {
                        skipped.incrementAndGet();
                        continue;
                    }
                    long first = (long) c * chunkSize;
                    int n = chunkLength(c, chunkSize, total);
                    Chunk chunk = source.read(first, n);
                    if (chunk.vectors().length != n || chunk.items().size() != n) {
                        throw new InvalidInputException("catalog source gave " + chunk.vectors().length + " vectors and "
                                + chunk.items().size() + " items for positions " + first + ".." + (first + n - 1));
                    }
                    float[][] projected = catalog.projection().apply(chunk.vectors());
                    List<CatalogDocument> docs = new ArrayList<>(n);
                    for (int i = 0; i < n; i++) {
                        docs.add(CatalogDocument.of(chunk.items().get(i), first + i, projected[i]));
                    }
                    Batch batch = new Batch(c, docs);
                    // A full queue blocks here (back-pressure), waking to notice a stop.
                    while (!queue.offer(batch, 200, TimeUnit.MILLISECONDS)) {
                        if (stop.getAsBoolean()) {
                            return;
                        }
                    }
                }
            } catch (RuntimeException e) {
                failure.compareAndSet(null, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                failure.compareAndSet(null, new CancelledException("bulk build interrupted"));
            } catch (Exception e) {
                failure.compareAndSet(null, new BackendException(AtelierException.IO, "reading the catalog failed: " + e));
            } finally {
                producersLeft.decrementAndGet();
            }
        };

        Runnable sender = () -> {
            try {
                while (!stop.getAsBoolean()) {
                    Batch batch = queue.poll(200, TimeUnit.MILLISECONDS);
                    if (batch == null) {
                        if (producersLeft.get() == 0 && queue.isEmpty()) {
                            return;
                        }
                        continue;
                    }
                    retried.addAndGet(send(catalog.transport(), catalog.concreteIndex(), batch.docs(), options, listener, stop));
                    if (stop.getAsBoolean() && failure.get() != null) {
                        return;
                    }
                    checkpoint.markDone(batch.chunk());
                    written.addAndGet(batch.docs().size());
                    long d = done.addAndGet(batch.docs().size());
                    double seconds = (System.nanoTime() - start) / 1e9;
                    double rate = seconds > 0 ? written.get() / seconds : 0;
                    Optional<Duration> eta = rate > 0 ? Optional.of(Duration.ofMillis((long) ((total - d) / rate * 1000))) : Optional.empty();
                    listener.onProgress(new Progress(d, total, rate, eta, retried.get()));
                }
            } catch (RuntimeException e) {
                failure.compareAndSet(null, e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                failure.compareAndSet(null, new CancelledException("bulk build interrupted"));
            }
        };

        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < options.producers(); i++) {
            threads.add(Thread.ofPlatform().name("atelier-bulk-producer-" + i).start(producer));
        }
        for (int i = 0; i < options.senders(); i++) {
            threads.add(Thread.ofPlatform().name("atelier-bulk-sender-" + i).start(sender));
        }
        for (Thread t : threads) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                failure.compareAndSet(null, new CancelledException("bulk build interrupted"));
            }
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        if (cancelled.getAsBoolean() && checkpoint.doneCount() < chunks) {
            throw new CancelledException("bulk build cancelled after " + checkpoint.doneCount() + " of " + chunks
                    + " chunks; run it again with the same checkpoint to resume");
        }
        return new Loaded(written.get(), skipped.get(), retried.get());
    }

    /**
     * Sends docs into index until every item is acknowledged; returns how many items were sent
     * again. Whole requests and items are retried when {@link RetryPolicy} calls their failure
     * retryable, after the options' {@link RetryPolicy#delay}; any other failure throws.
     */
    static long send(ElasticsearchTransport transport, String index, List<CatalogDocument> docs, Options options,
            Listener listener, BooleanSupplier stop) throws InterruptedException {
        RetryPolicy policy = options.retry();
        List<CatalogDocument> pending = docs;
        long retriedItems = 0;
        for (int retry = 1; ; retry++) {
            String lastError;
            List<CatalogDocument> again;
            try {
                List<ItemFailure> failed = transport.bulk(index, pending);
                if (failed.isEmpty()) {
                    return retriedItems;
                }
                for (ItemFailure f : failed) {
                    if (!f.retryable()) {
                        throw new BackendException(AtelierException.BACKEND, failed.size() + " of " + pending.size()
                                + " items rejected by " + index + "; " + pending.get(f.position()).path()
                                + ": " + f.status() + " " + f.type() + ": " + f.reason());
                    }
                }
                again = new ArrayList<>(failed.size());
                for (ItemFailure f : failed) {
                    again.add(pending.get(f.position()));
                }
                ItemFailure first = failed.getFirst();
                lastError = failed.size() + " items rejected: " + first.status() + " " + first.type() + ": " + first.reason();
            } catch (ElasticsearchException e) {
                if (!RetryPolicy.retryable(e)) {
                    throw new BackendException(AtelierException.BACKEND, "bulk request to " + index + " refused: "
                            + e.status() + " " + (e.error() == null ? e.getMessage() : e.error().type() + ": " + e.error().reason()));
                }
                again = pending;
                lastError = "bulk request refused: " + e.status() + " " + e.getMessage();
            } catch (IOException e) {
                if (!RetryPolicy.retryable(e)) {
                    throw ElasticsearchTransport.failure(transport.location(), "bulk write to " + index, e);
                }
                // No node answered (down, restarting): the request may or may not have been applied;
                // sending it again is safe because ids are derived from the images.
                again = pending;
                lastError = "no node answered: " + e;
            }
            if (retry > policy.retries()) {
                throw new BackendException(AtelierException.BACKEND, "bulk write to " + index + " still failing after "
                        + policy.retries() + " retries (" + lastError + "); finished chunks are in the checkpoint");
            }
            if (stop.getAsBoolean()) {
                throw new CancelledException("bulk build stopped while retrying: " + lastError);
            }
            Duration delay = policy.delay(retry);
            LOG.warn("{}; retry {} of {} in {} ms", lastError, retry, policy.retries(), delay.toMillis());
            listener.onRetry(lastError, retry, delay);
            Thread.sleep(delay);
            retriedItems += again.size();
            pending = again;
        }
    }

    private static int chunkLength(int chunk, int chunkSize, long total) {
        return (int) Math.min(chunkSize, total - (long) chunk * chunkSize);
    }
}
