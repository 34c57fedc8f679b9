package dev.atelier.engine.index.es;

import co.elastic.clients.elasticsearch.ElasticsearchClient;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The 2-node test cluster that scripts/es-cluster.sh runs (scripts/test.sh starts it before the
 * tests tagged "es"). Hosts: -Datelier.es.hosts (default 127.0.0.1:9200,127.0.0.1:9201).
 */
final class TestCluster {
    static final String HOSTS = System.getProperty("atelier.es.hosts", "127.0.0.1:9200,127.0.0.1:9201");
    static final String PREFIX = "atelier-test-";

    private TestCluster() {}

    static ElasticsearchLocation location(String name) {
        return ElasticsearchLocation.parse("es://" + HOSTS + "/" + PREFIX + name);
    }

    /** Deletes what earlier runs left: every index named atelier-test-*. */
    static void deleteTestIndices() throws IOException {
        ElasticsearchLocation any = location("cleanup");
        try (ElasticsearchTransport transport = ElasticsearchTransport.connect(any, ElasticsearchOptions.defaults())) {
            ElasticsearchClient c = transport.client();
            List<String> names = List.copyOf(c.indices().get(g -> g.index(PREFIX + "*")).result().keySet());
            for (String name : names) {
                c.indices().delete(d -> d.index(name));
            }
        }
    }

    /** Runs scripts/es-cluster.sh with args, failing on a non-zero exit. */
    static void script(String... args) throws IOException, InterruptedException {
        Path root = Path.of(System.getProperty("atelier.root", "."));
        List<String> command = new java.util.ArrayList<>();
        command.add(root.resolve("scripts/es-cluster.sh").toString());
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).inheritIO().start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroy();
            throw new IllegalStateException("es-cluster.sh " + String.join(" ", args) + " did not finish in 300 s");
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException("es-cluster.sh " + String.join(" ", args) + " exited with " + p.exitValue());
        }
    }
}
