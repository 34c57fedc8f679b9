package dev.atelier.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.embed.Backend;
import dev.atelier.engine.embed.EmbedderOptions;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.index.CatalogIndex;
import dev.atelier.engine.index.CatalogSearch;
import dev.atelier.engine.index.CatalogSearches;
import dev.atelier.engine.index.IndexSpec;
import dev.atelier.engine.lora.LoraRequest;
import dev.atelier.engine.sd.GeneratedImage;
import dev.atelier.engine.sd.Generation;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.OpKernel;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.Sampler;
import dev.atelier.engine.sd.ScheduleSource;
import dev.atelier.engine.testing.Fixtures;
import dev.atelier.engine.text.LongPromptMode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's "Embedding Atelier in a service" pattern on the sd15-tiny fixtures. One
 * service (pipeline, embedder, catalog loaded once) serves 4 threads sending mixed generate
 * requests (different seeds; no LoRA, the fixture LoRA at two multipliers) and search requests
 * at once; every result equals, bit for bit, the same request run alone on one thread, and
 * nothing throws.
 */
class EmbeddedServiceTest {
    private static final int THREADS = 4;
    private static final int ROUNDS = 3;

    /** The README's service, with the fixture's model and a tiny request (64x64, 3 steps). */
    static final class StyleService implements AutoCloseable {
        private final Pipeline sd;
        private final ImageEmbedder embedder;
        private final CatalogSearch catalog;

        StyleService(Path model, Path yaml, Path mobilenet, String index) {
            sd = Pipeline.load(model, new Pipeline.Options(Optional.empty(), Optional.of(yaml), Optional.empty(),
                    DType.F32, LongPromptMode.CHUNKED, OpKernel.AUTO, ScheduleSource.CONFIG));
            embedder = ImageEmbedder.open(mobilenet, Backend.TORCH, EmbedderOptions.defaults());
            catalog = CatalogSearches.open(index);
        }

        GeneratedImage generate(String prompt, long seed, List<LoraRequest> loras) {
            GenerationRequest r = GenerationRequest.of(prompt, "blurry", seed).withSize(64, 64)
                    .withSampler(Sampler.EULER_A, 3);
            return sd.generate(r, loras, null).images().getFirst();
        }

        List<CatalogSearch.Hit> search(Path image) {
            return catalog.search(embedder.embedPaths(List.of(image), null)[0], 3, Optional.empty());
        }

        @Override
        public void close() {
            sd.close();
            embedder.close();
            catalog.close();
        }
    }

    /** One request of the mix; equal results compare equal. */
    private sealed interface Request permits Generate, Search {
        Object run(StyleService service);
    }

    private record Generate(String prompt, long seed, List<LoraRequest> loras) implements Request {
        @Override
        public Object run(StyleService service) {
            GeneratedImage g = service.generate(prompt, seed, loras);
            return List.of(g.seed(), g.width(), g.height(), java.nio.ByteBuffer.wrap(g.rgb()) /* equals: same bytes */, g.parameters());
        }
    }

    private record Search(Path image) implements Request {
        @Override
        public Object run(StyleService service) {
            return service.search(image).stream()
                    .map(h -> List.of(h.id(), h.item().path(), Float.floatToRawIntBits(h.score()))).toList();
        }
    }

    @Test
    void concurrentRequestsGiveTheResultsOfSingleThreadedOnes(@TempDir Path tmp) throws Exception {
        Path root = Fixtures.sd15Tiny();
        Path mobilenet = root.resolve("mobilenet_v3_large/mobilenet_v3_large.safetensors");
        List<Path> images;
        try (Stream<Path> s = Files.list(root.resolve("mobilenet_v3_large/images"))) {
            images = s.sorted().toList();
        }
        Path index = buildCatalog(mobilenet, images, tmp.resolve("catalog"));
        Path lora = root.resolve("lora_kohya.safetensors");
        List<LoraRequest> none = List.of();
        List<LoraRequest> strong = List.of(new LoraRequest(lora, 0.8f, 0.8f));
        List<LoraRequest> weak = List.of(new LoraRequest(lora, 0.3f, 0.5f));

        List<Request> mix = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            List<LoraRequest> loras = switch (i % 3) {
                case 0 -> none;
                case 1 -> strong;
                default -> weak;
            };
            mix.add(new Generate(i % 2 == 0 ? "jacket" : "a photo of a denim jacket", 100 + i, loras));
            mix.add(new Generate("jacket", 7, loras)); // the same seed with each LoRA set: must differ
            mix.add(new Search(images.get(i % images.size())));
        }

        try (StyleService service = new StyleService(root.resolve("model/model.safetensors"),
                root.resolve("model/model.yaml"), mobilenet, index.toString())) {
            List<Object> alone = new ArrayList<>();
            for (Request r : mix) {
                alone.add(r.run(service));
            }
            // The LoRA reaches the pixels, so equal results below mean each request saw its own LoRAs.
            Object base = alone.get(1), withStrong = alone.get(4), withWeak = alone.get(7);
            assertFalse(base.equals(withStrong) || base.equals(withWeak) || withStrong.equals(withWeak),
                    "the LoRA multipliers must change the images");

            // Each thread takes every THREADS-th request from a different starting point, so that
            // requests naming different LoRAs (and searches) are in flight together. Fresh threads
            // each round: a thread's first native call is where libtorch fixes its thread count.
            for (int round = 0; round < ROUNDS; round++) {
                assertSameAsAlone(service, mix, alone);
            }
        }
    }

    /** Runs mix on THREADS fresh threads at once; every result must equal the one run alone. */
    private static void assertSameAsAlone(StyleService service, List<Request> mix, List<Object> alone) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            CountDownLatch start = new CountDownLatch(1);
            List<Future<List<Object>>> futures = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int first = t;
                Callable<List<Object>> job = () -> {
                    start.await();
                    List<Object> out = new ArrayList<>();
                    for (int k = first; k < mix.size(); k += THREADS) {
                        out.add(mix.get(k).run(service));
                    }
                    return out;
                };
                futures.add(pool.submit(job));
            }
            start.countDown();
            for (int t = 0; t < THREADS; t++) {
                List<Object> got = futures.get(t).get(); // rethrows any request's exception
                for (int j = 0; j < got.size(); j++) {
                    int k = t + j * THREADS;
                    assertEquals(alone.get(k), got.get(j), "request " + k + " " + mix.get(k) + " run concurrently");
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void closeWaitsForTheRunningRequestAndRefusesLaterOnes() throws Exception {
        Path root = Fixtures.sd15Tiny();
        Pipeline sd = Pipeline.load(root.resolve("model/model.safetensors"), new Pipeline.Options(Optional.empty(),
                Optional.of(root.resolve("model/model.yaml")), Optional.empty(), DType.F32, LongPromptMode.CHUNKED,
                OpKernel.AUTO, ScheduleSource.CONFIG));
        GenerationRequest r = GenerationRequest.of("jacket", "", 1).withSize(64, 64).withSampler(Sampler.EULER, 4);
        CountDownLatch started = new CountDownLatch(1);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<Generation> running = pool.submit(() -> sd.generate(r, (done, total) -> {
                started.countDown();
                return true;
            }));
            started.await();
            sd.close(); // must not free the networks under the running request
            assertEquals(1, running.get().images().size());
            assertThrows(IllegalStateException.class, () -> sd.generate(r, null));
        } finally {
            pool.shutdownNow();
        }
    }

    private static Path buildCatalog(Path mobilenet, List<Path> images, Path dir) {
        try (ImageEmbedder embedder = ImageEmbedder.open(mobilenet, Backend.TORCH, EmbedderOptions.defaults())) {
            float[][] features = embedder.embedPaths(images, null);
            List<CatalogItem> items = images.stream()
                    .map(p -> new CatalogItem(p.toString(), p.getFileName().toString(), "jacket")).toList();
            try (CatalogIndex index = CatalogIndex.build(features, items, CatalogIndex.Options.of(IndexSpec.flat()))) {
                index.save(dir);
            }
        }
        return dir;
    }
}
