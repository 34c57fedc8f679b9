package dev.atelier.engine.index.es;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.index.CatalogIndex;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.CatalogSearches;
import dev.atelier.engine.index.IndexSpec;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Locations, the backend factory and an unreachable cluster: no cluster needed. */
class ElasticsearchLocationTest {
    @Test
    void parsesHostsAndName() {
        ElasticsearchLocation l = ElasticsearchLocation.parse("es://127.0.0.1:9200,localhost:9201/shop");
        assertEquals(List.of(new ElasticsearchLocation.Host("127.0.0.1", 9200), new ElasticsearchLocation.Host("localhost", 9201)), l.hosts());
        assertEquals("shop", l.name());
        assertEquals("es://127.0.0.1:9200,localhost:9201/shop", l.toString());
        assertEquals(9200, ElasticsearchLocation.parse("es://h/x").hosts().getFirst().port());
        assertThrows(InvalidInputException.class, () -> ElasticsearchLocation.parse("es://h:9200"));
        assertThrows(InvalidInputException.class, () -> ElasticsearchLocation.parse("es://h:port/x"));
        assertThrows(InvalidInputException.class, () -> ElasticsearchLocation.parse("es://h:9200/Upper"));
        assertEquals(VectorIndexType.INT8_HNSW, VectorIndexType.fromName("int8_hnsw"));
        assertThrows(InvalidInputException.class, () -> VectorIndexType.fromName("ivf"));
    }

    @Test
    void documentIdsComeFromTheImagePath() {
        String a = CatalogDocument.idOf(new CatalogItem("img/a.jpg", "1", "x"));
        assertEquals(a, CatalogDocument.idOf(new CatalogItem("img/a.jpg", "2", "y")));
        assertNotEquals(a, CatalogDocument.idOf(new CatalogItem("img/b.jpg", "1", "x")));
        assertEquals(64, a.length());
    }

    @Test
    void theFactoryOpensAFolderAsAFaissIndex(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        SyntheticVectors data = SyntheticVectors.make(200, 16, 10, 2, 3, 0.3f, 5);
        java.nio.file.Path folder = dir.resolve("index");
        try (CatalogIndex built = CatalogIndex.build(data.vectors, data.items, CatalogIndex.Options.of(IndexSpec.flat()))) {
            built.save(folder);
        }
        try (CatalogSearch opened = CatalogSearches.open(folder.toString())) {
            assertInstanceOf(CatalogIndex.class, opened);
            assertEquals(200, opened.count());
            assertEquals(16, opened.inputDimension());
            CatalogSearch.Hit top = opened.search(data.vectors[17], 1, java.util.Optional.empty()).getFirst();
            assertEquals(17, top.id());
            assertEquals(data.items.get(17), top.item());
        }
    }

    @Test
    void anUnreachableClusterIsAClearError() {
        // Port 1 on loopback: nothing listens there, the connection is refused at once.
        ElasticsearchOptions quick = ElasticsearchOptions.defaults().withTimeout(Duration.ofSeconds(5));
        ClusterUnreachableException e = assertThrows(ClusterUnreachableException.class,
                () -> CatalogSearches.open("es://127.0.0.1:1/shop", quick));
        assertTrue(e.getMessage().contains("cannot reach Elasticsearch at es://127.0.0.1:1/shop"), e.getMessage());
        ClusterUnreachableException b = assertThrows(ClusterUnreachableException.class,
                () -> BulkIndexer.build(ElasticsearchLocation.parse("es://127.0.0.1:1/shop"), quick, null, 4,
                        BulkIndexer.of(new float[][] {{1, 0, 0, 0}}, List.of(new CatalogItem("a.jpg", "a", ""))),
                        BulkIndexer.Options.defaults(), BulkIndexer.Listener.NONE, () -> false));
        assertTrue(b.getMessage().contains("cannot reach"), b.getMessage());
    }
}
