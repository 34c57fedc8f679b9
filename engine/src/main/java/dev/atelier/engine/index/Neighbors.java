package dev.atelier.engine.index;

/**
 * Results of a k-nearest search of {@code queries} vectors, row-major: entry {@code q * k + j}
 * is the j-th best of query q. An id of -1 marks a slot with no vector (fewer than k found).
 *
 * @param scores inner product (larger is closer) or squared L2 distance (smaller is closer)
 */
public record Neighbors(int queries, int k, long[] ids, float[] scores) {
    public long id(int query, int rank) {
        return ids[query * k + rank];
    }

    public float score(int query, int rank) {
        return scores[query * k + rank];
    }
}
