package dev.atelier.engine.index.es;

import dev.atelier.engine.core.AtelierException;

/** No Elasticsearch node of a location answered (refused, timed out, unknown host). */
public final class ClusterUnreachableException extends AtelierException.BackendException {
    public ClusterUnreachableException(String message, Throwable cause) {
        super(AtelierException.IO, message);
        initCause(cause);
    }
}
