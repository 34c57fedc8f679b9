package dev.atelier.engine.index.es;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import co.elastic.clients.elasticsearch._types.ElasticsearchException;
import co.elastic.clients.elasticsearch.core.BulkResponse;
import co.elastic.clients.elasticsearch.core.bulk.BulkResponseItem;
import co.elastic.clients.json.jackson.JacksonJsonpMapper;
import co.elastic.clients.transport.rest_client.RestClientTransport;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.BackendException;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.http.HttpHost;
import org.elasticsearch.client.RestClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The connection to one cluster: the REST client, the typed client over it, and the one way
 * their failures become Atelier's ({@link #failure}): a node that does not answer is
 * {@link ClusterUnreachableException}, an Elasticsearch error is a {@link BackendException}
 * naming what was being done. Reads are retried by {@link RetryPolicy#READS}; writes and admin
 * requests run once (the bulk builder retries its writes itself, by the same policy's rules).
 * Thread-safe: the clients are.
 */
final class ElasticsearchTransport implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ElasticsearchTransport.class);

    /** A request to the cluster; throws what the client throws. */
    @FunctionalInterface
    interface Request<T> {
        T send() throws IOException;
    }

    /** One bulk item that failed: its position in the request, HTTP status and reason. */
    record ItemFailure(int position, int status, String type, String reason) {
        boolean retryable() {
            return RetryPolicy.retryableStatus(status);
        }
    }

    private final ElasticsearchLocation location;
    private final RestClient rest;
    private final ElasticsearchClient client;

    private ElasticsearchTransport(ElasticsearchLocation location, RestClient rest) {
        this.location = location;
        this.rest = rest;
        this.client = new ElasticsearchClient(new RestClientTransport(rest, mapper()));
    }

    /** A client for location's hosts (no request is sent yet). */
    static ElasticsearchTransport connect(ElasticsearchLocation location, ElasticsearchOptions options) {
        HttpHost[] hosts = location.hosts().stream().map(h -> new HttpHost(h.host(), h.port(), "http")).toArray(HttpHost[]::new);
        RestClient rest = RestClient.builder(hosts)
                .setRequestConfigCallback(r -> r.setConnectTimeout(5_000)
                        .setSocketTimeout(Math.toIntExact(options.timeout().toMillis())))
                .build();
        return new ElasticsearchTransport(location, rest);
    }

    /** JSON as the catalog's documents need it: properties this code does not know are ignored. */
    static JacksonJsonpMapper mapper() {
        ObjectMapper json = new ObjectMapper().configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);
        return new JacksonJsonpMapper(json);
    }

    ElasticsearchLocation location() {
        return location;
    }

    ElasticsearchClient client() {
        return client;
    }

    /** Sends request once, with its failures as {@link #failure} maps them. */
    <T> T call(String what, Request<T> request) {
        try {
            return request.send();
        } catch (ElasticsearchException | IOException e) {
            throw failure(location, what, e);
        }
    }

    /**
     * Sends an idempotent request (search, count), retrying the failures {@link RetryPolicy}
     * calls retryable (a node leaving, overload, a {@link RetryPolicy.TransientFailure} the
     * request throws for partial results) so that a search running across a node's failure
     * still answers. Other failures are reported at once.
     */
    <T> T read(String what, Request<T> request) {
        RetryPolicy policy = RetryPolicy.READS;
        for (int retry = 1; ; retry++) {
            Exception failure;
            try {
                return request.send();
            } catch (ElasticsearchException | IOException e) {
                failure = e;
            }
            if (!RetryPolicy.retryable(failure) || retry > policy.retries()) {
                throw failure(location, what, failure);
            }
            Duration delay = policy.delay(retry);
            LOG.debug("{} failed (retry {} of {} in {} ms): {}", what, retry, policy.retries(), delay.toMillis(), failure.getMessage());
            RetryPolicy.pause(delay, what);
        }
    }

    /**
     * Writes documents (id = {@link CatalogDocument#idOf}) into index in one bulk request and
     * returns the items that failed; a whole-request failure throws ({@link ElasticsearchException}
     * with its status, or IOException when no node answers), unmapped, for the caller to retry.
     */
    List<ItemFailure> bulk(String index, List<CatalogDocument> docs) throws IOException {
        BulkResponse response = client.bulk(b -> {
            b.index(index);
            for (CatalogDocument doc : docs) {
                String id = CatalogDocument.idOf(doc.item());
                b.operations(op -> op.index(i -> i.id(id).document(doc)));
            }
            return b;
        });
        List<ItemFailure> failed = new ArrayList<>();
        if (response.errors()) {
            List<BulkResponseItem> items = response.items();
            for (int i = 0; i < items.size(); i++) {
                BulkResponseItem item = items.get(i);
                if (item.error() != null) {
                    failed.add(new ItemFailure(i, item.status(), item.error().type(), item.error().reason()));
                }
            }
        }
        return failed;
    }

    /**
     * Whether a failure is Elasticsearch's answer with this HTTP status, as the typed client
     * reports it ({@link ElasticsearchException}) or as the REST client does (a
     * {@link org.elasticsearch.client.ResponseException} in the cause chain; the typed client
     * passes some statuses, such as 409 from a conditional write, through that way).
     */
    static boolean hasStatus(Throwable e, int status) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof org.elasticsearch.client.ResponseException r && r.getResponse().getStatusLine().getStatusCode() == status) {
                return true;
            }
            if (t instanceof ElasticsearchException ee && ee.status() == status) {
                return true;
            }
        }
        return false;
    }

    /** The client's failures as Atelier's: unreachable nodes and Elasticsearch errors, with what was being done. */
    static AtelierException failure(ElasticsearchLocation location, String what, Exception e) {
        if (e instanceof ElasticsearchException es) {
            return new BackendException(AtelierException.BACKEND, "Elasticsearch at " + location + " refused to " + what + ": "
                    + es.status() + " " + (es.error() == null ? es.getMessage() : es.error().type() + ": " + es.error().reason()
                    + (es.error().rootCause().isEmpty() ? "" : " (" + es.error().rootCause().getFirst().type() + ": "
                    + es.error().rootCause().getFirst().reason() + ")")));
        }
        if (e instanceof org.elasticsearch.client.ResponseException r) {
            // A node answered, with an error status the typed client did not parse.
            return new BackendException(AtelierException.BACKEND, "Elasticsearch at " + location + " refused to " + what + ": "
                    + r.getResponse().getStatusLine());
        }
        return new ClusterUnreachableException("cannot reach Elasticsearch at " + location + " to " + what + ": " + e, e);
    }

    @Override
    public void close() {
        try {
            rest.close();
        } catch (IOException ignored) {
            // closing a client whose connections are gone
        }
    }
}
