package dev.atelier.benchmarks.search;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;
import org.apache.lucene.document.Document;
import org.apache.lucene.document.KnnFloatVectorField;
import org.apache.lucene.document.NumericDocValuesField;
import org.apache.lucene.index.DirectoryReader;
import org.apache.lucene.index.IndexWriter;
import org.apache.lucene.index.IndexWriterConfig;
import org.apache.lucene.index.LeafReaderContext;
import org.apache.lucene.index.NumericDocValues;
import org.apache.lucene.index.VectorSimilarityFunction;
import org.apache.lucene.search.DocIdSetIterator;
import org.apache.lucene.search.IndexSearcher;
import org.apache.lucene.search.KnnFloatVectorQuery;
import org.apache.lucene.search.ScoreDoc;
import org.apache.lucene.search.TopDocs;
import org.apache.lucene.store.Directory;
import org.apache.lucene.store.FSDirectory;

/**
 * Lucene's HNSW (the engine of Elasticsearch's kNN) on the same vectors: one
 * {@link KnnFloatVectorField} per document with DOT_PRODUCT similarity (the vectors are unit
 * length), the default vectors format (Lucene99HnswVectorsFormat: M 16, beamWidth 100, as
 * Elasticsearch's {@code type: hnsw} defaults), written by one thread into one segment (a RAM
 * buffer large enough for all documents, then forceMerge(1) in case it flushed early: one graph,
 * as FAISS has) on an mmap'ed directory. A query is a {@link KnnFloatVectorQuery} with k =
 * numCandidates (what Elasticsearch passes for {@code num_candidates}), of which the best 5 count.
 */
final class LuceneRunner implements AutoCloseable {
    private static final String FIELD = "v";

    private final ClusteredVectors data;
    private final Path dir;
    private final int k;
    private Directory directory;
    private DirectoryReader reader;
    private IndexSearcher searcher;
    private long[] docToId;
    double buildSeconds;
    double sizeMiB;
    int segments;

    LuceneRunner(ClusteredVectors data, Path dir, int k) {
        this.data = data;
        this.dir = dir;
        this.k = k;
    }

    void build() throws IOException {
        long t0 = System.nanoTime();
        directory = FSDirectory.open(dir);
        IndexWriterConfig config = new IndexWriterConfig()
                .setOpenMode(IndexWriterConfig.OpenMode.CREATE)
                .setRAMPerThreadHardLimitMB(2000)
                .setRAMBufferSizeMB(2000);
        try (IndexWriter writer = new IndexWriter(directory, config)) {
            for (int i = 0; i < data.n(); i++) {
                Document doc = new Document();
                doc.add(new KnnFloatVectorField(FIELD, data.row(i), VectorSimilarityFunction.DOT_PRODUCT));
                doc.add(new NumericDocValuesField("id", i));
                writer.addDocument(doc);
            }
            writer.forceMerge(1);
            writer.commit();
        }
        buildSeconds = (System.nanoTime() - t0) / 1e9;
        try (Stream<Path> files = Files.list(dir)) {
            sizeMiB = files.mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }).sum() / (1024.0 * 1024.0);
        }
        reader = DirectoryReader.open(directory);
        segments = reader.leaves().size();
        searcher = new IndexSearcher(reader);
        docToId = new long[reader.maxDoc()];
        for (LeafReaderContext leaf : reader.leaves()) {
            NumericDocValues ids = leaf.reader().getNumericDocValues("id");
            for (int doc = ids.nextDoc(); doc != DocIdSetIterator.NO_MORE_DOCS; doc = ids.nextDoc()) {
                docToId[leaf.docBase + doc] = ids.longValue();
            }
        }
    }

    /** The ids of query i's top k, searched with numCandidates. */
    long[] search(int i, int numCandidates) {
        try {
            TopDocs top = searcher.search(new KnnFloatVectorQuery(FIELD, data.query(i), Math.max(k, numCandidates)), k);
            long[] ids = new long[k];
            java.util.Arrays.fill(ids, -1);
            ScoreDoc[] docs = top.scoreDocs;
            for (int j = 0; j < Math.min(k, docs.length); j++) {
                ids[j] = docToId[docs[j].doc];
            }
            return ids;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Full measurements at numCandidates: recall, single-query latency, parallel throughput. */
    Row measure(int numCandidates, long[][] exact, int threads) throws Exception {
        Measurements.Latency latency = Measurements.singles(data.nq(), i -> search(i, numCandidates));
        double recall = Measurements.recall(latency.results(), exact, k);
        double qps = Measurements.parallelSingles(data.nq(), threads, 3, i -> search(i, numCandidates));
        return new Row("lucene", "HNSW M=16 beamWidth=100 (" + segments + " segment)", "numCandidates=" + numCandidates,
                buildSeconds, sizeMiB, Double.NaN, recall, latency.p50Micros(), latency.p99Micros(), qps, qps);
    }

    /** As FaissRunner.sweep, over numCandidates, searching on threads threads. */
    int sweep(int[] values, long[][] exact, double target, int threads) throws Exception {
        return Measurements.sweep("numCandidates", values, exact, k, target, "qps_" + threads + "threads", v -> {
            long[][] found = new long[data.nq()][];
            double qps = Measurements.parallelSingles(data.nq(), threads, 1, i -> found[i] = search(i, v));
            return new Measurements.SweepStep(found, qps);
        });
    }

    @Override
    public void close() throws IOException {
        if (reader != null) reader.close();
        if (directory != null) directory.close();
        try (Stream<Path> files = Files.walk(dir)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
