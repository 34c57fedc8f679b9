package dev.atelier.benchmarks.search;

/**
 * One line of the search table.
 *
 * @param engine       "atelier/faiss" or "lucene"
 * @param index        what was built, e.g. "HNSW32 efC=200"
 * @param setting      the search-time setting measured, e.g. "efSearch=32"
 * @param buildSeconds train + add (FAISS) or index + forceMerge + commit (Lucene)
 * @param sizeMiB      serialised index (FAISS) or index files on disk (Lucene)
 * @param rssDeltaMiB  growth of the process's resident memory over the build (FAISS; the JVM heap hides Lucene's)
 * @param recall       recall@k against exact search
 * @param p50Micros    single-query latency, one query at a time on one thread
 * @param batchQps     queries/s in batches of 1,000 (FAISS, one call, OpenMP threads); Lucene has
 *                     no batch call: its single queries spread over the same number of threads
 * @param parallelQps  queries/s of single queries spread over the threads
 */
record Row(String engine, String index, String setting, double buildSeconds, double sizeMiB, double rssDeltaMiB,
        double recall, double p50Micros, double p99Micros, double batchQps, double parallelQps) {}
