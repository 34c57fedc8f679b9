package dev.atelier.engine.index.es;

import co.elastic.clients.elasticsearch._types.ElasticsearchException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.io.IOException;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Which Elasticsearch failures a retry can mend, and how long to wait before each retry. Both
 * the catalog's reads ({@link ElasticsearchTransport#read}) and the bulk builder's writes
 * ({@link BulkIndexer}) classify failures here, so that a status is retried everywhere or
 * nowhere.
 *
 * <p>Delays back off exponentially with jitter (AWS Architecture Blog, "Exponential Backoff and
 * Jitter"): before retry n (from 1), a random delay in [d/2, d], d = min(max, initial * 2^(n-1)).
 *
 * @param retries        retries after the first try before the failure is reported
 * @param initialBackoff d of the first retry
 * @param maxBackoff     largest d
 */
public record RetryPolicy(int retries, Duration initialBackoff, Duration maxBackoff) {
    /**
     * For idempotent reads (search, count): 3 retries within about a second. When a node leaves,
     * the searches it was serving fail until the coordinating node routes to the replica; this
     * covers that switch.
     */
    static final RetryPolicy READS = new RetryPolicy(3, Duration.ofMillis(100), Duration.ofMillis(400));

    /**
     * HTTP statuses that mean "not now" rather than "never": request timeout (408), overload
     * (429), or a node gone from under the request (502, 503, 504).
     */
    static final Set<Integer> TRANSIENT_STATUS = Set.of(408, 429, 502, 503, 504);

    /**
     * Root causes that mean a shard copy was not reachable for a moment (a node leaving or the
     * replica being promoted), whatever status the request reports: 404 "all shards failed" when
     * the copy's shard is gone from the node that was asked, or when the node holding a kNN
     * search's context (made in its first phase) stopped before the second.
     */
    static final Set<String> SHARD_COPY_LOST = Set.of("node_disconnected_exception",
            "node_not_connected_exception", "connect_transport_exception", "node_closed_exception",
            "no_shard_available_action_exception", "shard_not_found_exception", "unavailable_shards_exception",
            "search_context_missing_exception");

    public RetryPolicy {
        if (retries < 0 || initialBackoff.isNegative() || maxBackoff.compareTo(initialBackoff) < 0) {
            throw new InvalidInputException("retry policy out of range: " + retries + " retries from " + initialBackoff
                    + " to " + maxBackoff);
        }
    }

    /** A response that Elasticsearch answered but a retry can mend (partial shard results). */
    static final class TransientFailure extends IOException {
        TransientFailure(String message) {
            super(message);
        }
    }

    static boolean retryableStatus(int status) {
        return TRANSIENT_STATUS.contains(status);
    }

    /**
     * Whether a retry can mend failure: a transient status or a lost shard copy in an
     * Elasticsearch error; for I/O failures, anything but an HTTP response (anywhere in the
     * causes) of another status: connection refused, reset or timed out, another node may answer.
     */
    static boolean retryable(Exception failure) {
        if (failure instanceof ElasticsearchException e) {
            return retryableStatus(e.status()) || shardCopyLost(e);
        }
        for (Throwable t = failure; t != null; t = t.getCause()) {
            if (t instanceof org.elasticsearch.client.ResponseException r) {
                return retryableStatus(r.getResponse().getStatusLine().getStatusCode());
            }
        }
        return failure instanceof IOException;
    }

    private static boolean shardCopyLost(ElasticsearchException e) {
        if (e.error() == null) {
            return false;
        }
        if (SHARD_COPY_LOST.contains(e.error().type())) {
            return true;
        }
        return e.error().rootCause().stream().anyMatch(c -> SHARD_COPY_LOST.contains(c.type()));
    }

    /** Sleeps for delay before a retry; an interrupt ends the retries as a CancelledException naming what. */
    static void pause(Duration delay, String what) {
        try {
            Thread.sleep(delay);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new dev.atelier.engine.core.AtelierException.CancelledException(what + " interrupted while retrying");
        }
    }

    /** The delay before retry number retry (1 for the first), jittered. */
    Duration delay(int retry) {
        long d = Math.min(maxBackoff.toMillis(), initialBackoff.toMillis() << Math.min(retry - 1, 20));
        return Duration.ofMillis(d / 2 + ThreadLocalRandom.current().nextLong(d / 2 + 1));
    }
}
