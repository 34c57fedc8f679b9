package dev.atelier.engine.index.es;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import co.elastic.clients.elasticsearch._types.ElasticsearchException;
import co.elastic.clients.elasticsearch._types.OpType;
import co.elastic.clients.elasticsearch.core.GetResponse;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.BackendException;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;

/**
 * Hands out the {@code ord} numbers of items added to a built catalog, so that writers in
 * different processes adding to one catalog at the same time never number two items alike.
 *
 * <p>The next free ord of a concrete index is one document in the catalog's state index (id
 * {@code ords-<concrete index>}, field {@code next}). A writer reserves a range by optimistic
 * concurrency control: it reads the document with its sequence number and primary term, and
 * writes {@code next + count} only if nobody wrote in between ({@code if_seq_no} /
 * {@code if_primary_term}); a writer that loses the race (409) reads again. The first
 * reservation of an index creates the document ({@code op_type=create}, which also only one
 * writer can win) starting after the largest ord the index holds, so catalogs built before the
 * counter existed, and builds (whose ords are their catalog positions), continue where they end.
 */
final class OrdCounter {
    private static final String NEXT = "next";
    /**
     * Back-off after a lost race (each loss means another writer reserved meanwhile, so the
     * number of retries is generous): a few milliseconds, jittered so that writers that collided
     * do not collide again in step.
     */
    static final RetryPolicy CONFLICTS = new RetryPolicy(100, Duration.ofMillis(2), Duration.ofMillis(50));

    private final ElasticsearchTransport transport;
    private final String concreteIndex;
    private final int replicas;
    private volatile String stateIndex; // the catalog's state index, once made sure it exists

    OrdCounter(ElasticsearchTransport transport, String concreteIndex, int replicas) {
        this.transport = transport;
        this.concreteIndex = concreteIndex;
        this.replicas = replicas;
    }

    /** The state document's id for a concrete index (deleted with the index when it is replaced). */
    static String documentId(String concreteIndex) {
        return "ords-" + concreteIndex;
    }

    /** Reserves count ords and returns the first; no other writer gets any of them. */
    long reserve(int count) {
        if (stateIndex == null) {
            stateIndex = CatalogAdmin.ensureStateIndex(transport, replicas); // once: it lives as long as the catalog
        }
        String state = stateIndex;
        String id = documentId(concreteIndex);
        ElasticsearchClient c = transport.client();
        for (int retry = 0; retry <= CONFLICTS.retries(); retry++) {
            if (retry > 0) {
                RetryPolicy.pause(CONFLICTS.delay(retry), "reserve ords in " + concreteIndex);
            }
            @SuppressWarnings("rawtypes")
            GetResponse<Map> current = transport.read("read the ord counter of " + concreteIndex,
                    () -> c.get(g -> g.index(state).id(id), Map.class));
            try {
                if (current.found() && current.source() != null && current.source().get(NEXT) instanceof Number n) {
                    long first = n.longValue();
                    c.index(i -> i.index(state).id(id).document(Map.of(NEXT, first + count))
                            .ifSeqNo(current.seqNo()).ifPrimaryTerm(current.primaryTerm()));
                    return first;
                }
                long first = largestOrd() + 1;
                c.index(i -> i.index(state).id(id).document(Map.of(NEXT, first + count)).opType(OpType.Create));
                return first;
            } catch (ElasticsearchException | IOException e) {
                if (!ElasticsearchTransport.hasStatus(e, 409)) {
                    throw ElasticsearchTransport.failure(transport.location(), "reserve ords in " + concreteIndex, e);
                }
            }
        }
        throw new BackendException(AtelierException.BACKEND, "could not reserve ords in " + concreteIndex + ": other writers "
                + "reserved first " + (CONFLICTS.retries() + 1) + " times in a row");
    }

    /** The largest ord in the concrete index (after a refresh), or -1 when it holds none. */
    private long largestOrd() throws IOException {
        ElasticsearchClient c = transport.client();
        c.indices().refresh(r -> r.index(concreteIndex));
        var response = c.search(s -> s.index(concreteIndex).size(0)
                .aggregations("largest", a -> a.max(m -> m.field(CatalogDocument.ORD))), Void.class);
        double largest = response.aggregations().get("largest").max().value();
        return response.hits().total() == null || response.hits().total().value() == 0 || Double.isNaN(largest) ? -1 : (long) largest;
    }

}
