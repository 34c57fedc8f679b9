package dev.atelier.engine.index.es;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Where an Elasticsearch catalog lives: {@code es://host:port[,host:port...]/name}. Several hosts
 * let the client go on when one node is down. {@code name} is the alias searches use; the
 * documents live in concrete indices {@code name-<timestamp>} that a rebuild swaps behind it.
 */
public record ElasticsearchLocation(List<Host> hosts, String name) {
    /** One node's HTTP address. */
    public record Host(String host, int port) {
        @Override
        public String toString() {
            return host + ":" + port;
        }
    }

    public static final String SCHEME = "es://";
    // Elasticsearch index names: lowercase, no leading '-', '_' or '+', none of \/*?"<>| ,#:
    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,200}");

    public ElasticsearchLocation {
        hosts = List.copyOf(hosts);
        if (hosts.isEmpty()) {
            throw new InvalidInputException("an Elasticsearch location needs at least one host");
        }
        if (name == null || !NAME.matcher(name).matches()) {
            throw new InvalidInputException("not a valid Elasticsearch index name (lowercase letters, digits, . _ -): " + name);
        }
    }

    public static boolean isLocation(String text) {
        return text != null && text.startsWith(SCHEME);
    }

    /** Parses {@code es://host:port[,host:port...]/name}. */
    public static ElasticsearchLocation parse(String text) {
        if (!isLocation(text)) {
            throw new InvalidInputException("not an Elasticsearch location (es://host:port/name): " + text);
        }
        String rest = text.substring(SCHEME.length());
        int slash = rest.indexOf('/');
        if (slash < 0 || slash == rest.length() - 1) {
            throw new InvalidInputException("Elasticsearch location lacks the index name (es://host:port/name): " + text);
        }
        List<Host> hosts = new ArrayList<>();
        for (String part : rest.substring(0, slash).split(",")) {
            int colon = part.lastIndexOf(':');
            try {
                String host = colon < 0 ? part : part.substring(0, colon);
                int port = colon < 0 ? 9200 : Integer.parseInt(part.substring(colon + 1));
                if (host.isEmpty() || port <= 0 || port > 65535) {
                    throw new NumberFormatException();
                }
                hosts.add(new Host(host, port));
            } catch (NumberFormatException e) {
                throw new InvalidInputException("bad host:port '" + part + "' in Elasticsearch location " + text);
            }
        }
        return new ElasticsearchLocation(hosts, rest.substring(slash + 1));
    }

    @Override
    public String toString() {
        return SCHEME + String.join(",", hosts.stream().map(Host::toString).toList()) + "/" + name;
    }
}
