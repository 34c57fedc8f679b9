package dev.atelier.engine.demo;

import dev.atelier.engine.util.Sha256;
import dev.atelier.engine.catalog.Catalog;
import dev.atelier.engine.catalog.CatalogImage;
import dev.atelier.engine.catalog.CatalogItem;
import dev.atelier.engine.catalog.DeepFashionInShop;
import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.embed.Backend;
import dev.atelier.engine.embed.EmbedderOptions;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.embed.ImageInput;
import dev.atelier.engine.embed.ClassHeads;
import dev.atelier.engine.embed.Feature;
import dev.atelier.engine.eval.GarmentCheck;
import dev.atelier.engine.eval.RetrievalPrecision;
import dev.atelier.engine.eval.StyleEvaluation;
import dev.atelier.engine.index.CatalogIndex;
import dev.atelier.engine.index.IndexSpec;
import dev.atelier.engine.lora.LoraRequest;
import dev.atelier.engine.sd.Generation;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.sd.OpKernel;
import dev.atelier.engine.sd.Pipeline;
import dev.atelier.engine.sd.ScheduleSource;
import dev.atelier.engine.synth.Person;
import dev.atelier.engine.synth.SyntheticCatalog;
import dev.atelier.engine.synth.Wardrobe;
import dev.atelier.engine.text.LongPromptMode;
import dev.atelier.engine.train.LoraTrainer;
import dev.atelier.engine.train.LoraTraining;
import dev.atelier.engine.train.LoraTrainingConfig;
import dev.atelier.engine.train.TrainingListener;
import dev.atelier.engine.util.AtomicFiles;
import dev.atelier.engine.util.FolderLock;
import dev.atelier.engine.util.TextFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The paper's workflow on the embedded default, stage by stage (each resumable, see
 * {@link Stages}): make two people's wardrobes and a catalog, fine-tune a LoRA on each wardrobe,
 * generate the prompt without a LoRA, with the person's LoRA and with the other person's LoRA,
 * embed everything with MobileNetV3-Large, index the catalog (PCA to 128-d, exact search) and
 * evaluate. {@link DemoReportBuilder} turns the result into report.html.
 */
public final class DemoWorkflow {
    /** Catalog items shown per generated image (the paper's top 5), each a different item. */
    static final int TOP_ITEMS = 5;

    /** What a run produced: where everything is, and what each stage took. */
    public record Result(Path work, DemoSettings settings, DefaultModel model, Evaluation evaluation,
            List<Float> loraLoss, List<Stages.Built> stages) {}

    private final DemoSettings settings;
    private final DefaultModel model;
    private final DemoListener listener;
    private final Stages stages;

    public DemoWorkflow(DemoSettings settings, DefaultModel model, DemoListener listener) {
        this.settings = settings;
        this.model = model;
        this.listener = listener;
        this.stages = new Stages(settings.work(), listener);
    }

    /**
     * Runs the stages, holding the work folder's {@link FolderLock}: a second run on the same
     * folder fails at once with a message naming the first, instead of both writing its stages.
     */
    public Result run() {
        try (FolderLock work = FolderLock.acquire(settings.work(), "atelier demo", Duration.ZERO)) {
            return runStages();
        }
    }

    private Result runStages() {
        DemoSettings s = settings;
        Person person = Person.named(s.person());
        Person other = Person.named(s.otherPerson());
        Stages.Built modelStage = new Stages.Built("model", model.checkpoint().getParent(), fingerprint(model), null, true);

        Stages.Built wardrobes = stages.run("wardrobes",
                "Photograph the wardrobes of " + person.name() + " and " + other.name() + " (" + s.wardrobeSize() + " garments each)",
                "size=" + s.wardrobeSize() + " px=" + s.photoPixels() + " seed=" + s.dataSeed() + " people=" + person + "," + other,
                List.of(), dir -> {
                    Wardrobe.write(person, dir.resolve(person.name()), s.wardrobeSize(), s.photoPixels(), s.dataSeed());
                    Wardrobe.write(other, dir.resolve(other.name()), s.wardrobeSize(), s.photoPixels(), s.dataSeed() + 1);
                });
        Stages.Built catalog = stages.run("catalog",
                "Stock the catalog: " + s.catalogItems() + " items in DeepFashion's In-shop layout",
                "items=" + s.catalogItems() + " px=" + s.photoPixels() + " seed=" + s.dataSeed(), List.of(),
                dir -> SyntheticCatalog.write(dir.resolve("inshop"), s.catalogItems(), s.photoPixels(), s.dataSeed() + 2, false,
                        listener.progress("catalog", "item")));
        Stages.Built embedderStage = stages.run("embedder",
                "Take the project's trained MobileNetV3-Large (garment type, pattern and colour heads)",
                "file=" + fingerprint(List.of(model.embedder())), List.of(),
                dir -> AtomicFiles.write(dir.resolve(EMBEDDER_FILE), AtomicFiles.Body.copyOf(model.embedder())));

        Stages.Built loraPerson = trainLora(person, wardrobes, modelStage);
        Stages.Built loraOther = trainLora(other, wardrobes, modelStage);

        Stages.Built generated = stages.run("generate",
                "Generate \"" + s.prompt() + "\": " + s.images() + " seeds without LoRA, with " + person.name()
                        + "'s LoRA and with " + other.name() + "'s",
                "prompt=" + s.prompt() + " negative=" + s.negative() + " images=" + s.images() + " seed=" + s.seed()
                        + " sampler=" + s.sampler() + " steps=" + s.steps() + " cfg=" + s.cfg() + " weight=" + s.loraWeight(),
                List.of(modelStage, loraPerson, loraOther), dir -> generate(dir, loraPerson, loraOther));

        Stages.Built index = stages.run("index", "Embed the catalog and index it (PCA to 128-d, exact inner-product search)",
                "pca=128 factory=Flat backend=" + EMBEDDER_BACKEND, List.of(catalog, embedderStage), dir -> buildIndex(dir, catalog, embedderStage));

        Stages.Built evaluated = stages.run("evaluate",
                "Embed wardrobe and generated images; wardrobe similarity and top-5 catalog items of each",
                "items=" + TOP_ITEMS + " distinct backend=" + EMBEDDER_BACKEND + " retrieval=queries",
                List.of(wardrobes, generated, catalog, index, embedderStage),
                dir -> evaluate(dir, person, other, wardrobes, generated, catalog, index, embedderStage));

        return new Result(s.work(), s, model, Evaluation.read(evaluated.dir().resolve("evaluation.json")),
                LossLog.read(loraPerson.dir().resolve("loss.txt")), stages.built());
    }

    private Stages.Built trainLora(Person who, Stages.Built wardrobes, Stages.Built modelStage) {
        DemoSettings s = settings;
        return stages.run("lora-" + who.name(),
                "Fine-tune a LoRA on " + who.name() + "'s wardrobe (" + s.loraSteps() + " steps, rank " + s.loraRank() + ")",
                "steps=" + s.loraSteps() + " rank=" + s.loraRank() + " lr=" + s.loraLr() + " seed=" + s.dataSeed(),
                List.of(wardrobes, modelStage), dir -> {
                    LoraTrainingConfig config = LoraTrainingConfig.builder(model.checkpoint(),
                                    wardrobes.dir().resolve(who.name()), dir.resolve("lora.safetensors"))
                            .ldm(LdmConfig.load(model.config()))
                            .tokenizer(model.tokenizer())
                            .resolution(DefaultModel.IMAGE_SIZE)
                            .flip(true)
                            .rank(s.loraRank())
                            .alpha(s.loraRank())
                            .convRank(s.loraRank())
                            .convAlpha(s.loraRank())
                            .unetLr(s.loraLr())
                            .maxSteps(s.loraSteps())
                            .batchSize(4)
                            .step(LoraTrainer.StepOptions.defaults(s.dataSeed()))
                            .build();
                    var progress = listener.progress("train " + who.name(), "step");
                    List<Float> losses = new ArrayList<>();
                    LoraTraining.run(config, new TrainingListener() {
                        @Override
                        public void onStep(Step step) {
                            losses.add(step.loss());
                            if (!progress.onStep(step.step(), step.total())) {
                                throw new AtelierException.CancelledException("demo: LoRA training cancelled");
                            }
                        }
                    });
                    LossLog.write(dir.resolve("loss.txt"), losses);
                });
    }

    private void generate(Path dir, Stages.Built loraPerson, Stages.Built loraOther) {
        DemoSettings s = settings;
        Pipeline.Options options = new Pipeline.Options(Optional.of(model.tokenizer()), Optional.of(model.config()),
                Optional.empty(), DType.F32, LongPromptMode.CHUNKED, OpKernel.AUTO, ScheduleSource.CONFIG);
        try (Pipeline pipeline = Pipeline.load(model.checkpoint(), options)) {
            GenerationRequest request = GenerationRequest.of(s.prompt(), s.negative(), s.seed())
                    .withSampler(s.sampler(), s.steps()).withCfg(s.cfg()).withSize(DefaultModel.IMAGE_SIZE, DefaultModel.IMAGE_SIZE).withBatch(s.images(), 1);
            record Way(String name, List<LoraRequest> loras) {}
            List<Way> ways = List.of(new Way("base", List.of()),
                    new Way("lora", List.of(new LoraRequest(loraPerson.dir().resolve("lora.safetensors"), s.loraWeight(), s.loraWeight()))),
                    new Way("other-lora", List.of(new LoraRequest(loraOther.dir().resolve("lora.safetensors"), s.loraWeight(), s.loraWeight()))));
            for (Way way : ways) {
                Generation g = pipeline.generate(request, way.loras(), listener.progress("generate " + way.name(), "step"));
                List<Path> pngs = g.writePngs(dir.resolve(way.name()), way.name());
                StringBuilder settingsText = new StringBuilder();
                for (int i = 0; i < pngs.size(); i++) {
                    settingsText.append(pngs.get(i).getFileName()).append('\t')
                            .append(g.images().get(i).parameters().replace("\n", "\\n")).append('\n');
                }
                write(dir.resolve(way.name()).resolve("settings.tsv"), settingsText.toString());
            }
        }
    }

    /**
     * ONNX Runtime: on 2 cores it embeds the 4781 catalog images in 49 s where libtorch takes 168 s
     * (same weights; the two backends agree within 1e-4, RandomMobileNetV3Test).
     */
    static final Backend EMBEDDER_BACKEND = Backend.ONNX;
    static final String EMBEDDER_FILE = "mobilenet_v3_large.safetensors";

    private ImageEmbedder openEmbedder(Stages.Built embedderStage) {
        return ImageEmbedder.open(embedderStage.dir().resolve(EMBEDDER_FILE), EMBEDDER_BACKEND, EmbedderOptions.defaults());
    }

    private void buildIndex(Path dir, Stages.Built catalogStage, Stages.Built embedderStage) {
        Catalog c = DeepFashionInShop.read(catalogStage.dir().resolve("inshop"));
        if (!c.problems().isEmpty()) {
            throw new AtelierException.FormatException("demo catalog: " + c.problems().get(0));
        }
        List<ImageInput> inputs = new ArrayList<>();
        List<CatalogItem> items = new ArrayList<>();
        Path work = settings.work().toAbsolutePath();
        for (CatalogImage image : c.images()) {
            Path file = c.resolve(image.item()).toAbsolutePath();
            inputs.add(c.input(image));
            items.add(new CatalogItem(work.relativize(file).toString(), image.item().itemId(), image.item().category()));
        }
        float[][] vectors;
        try (ImageEmbedder embedder = openEmbedder(embedderStage)) {
            vectors = embedder.embed(inputs, listener.progress("embed catalog", "img"));
        }
        try (CatalogIndex index = CatalogIndex.build(vectors, items, CatalogIndex.Options.of(IndexSpec.flat()).withPca(128))) {
            index.save(dir.resolve("catalog.idx"));
        }
    }

    private void evaluate(Path dir, Person person, Person other, Stages.Built wardrobes, Stages.Built generated,
            Stages.Built catalogStage, Stages.Built indexStage, Stages.Built embedderStage) throws IOException {
        Path work = settings.work().toAbsolutePath();
        List<Path> wardrobe = images(wardrobes.dir().resolve(person.name()));
        String[][] ways = {
            {"base", "without a LoRA"},
            {"lora", "with " + person.name() + "'s LoRA (trained on this wardrobe)"},
            {"other-lora", "with " + other.name() + "'s LoRA (another person's wardrobe)"}};
        List<Path> all = new ArrayList<>(wardrobe);
        List<List<Path>> perWay = new ArrayList<>();
        for (String[] way : ways) {
            List<Path> pngs = images(generated.dir().resolve(way[0]));
            perWay.add(pngs);
            all.addAll(pngs);
        }
        Catalog catalog = DeepFashionInShop.read(catalogStage.dir().resolve("inshop"));
        List<CatalogImage> queries = RetrievalPrecision.queries(catalog);
        float[][] features, logits, queryFeatures;
        Optional<ClassHeads> heads;
        try (ImageEmbedder embedder = openEmbedder(embedderStage)) {
            heads = embedder.card().heads();
            List<ImageInput> inputs = all.stream().map(ImageInput::of).toList();
            features = embedder.embed(inputs, listener.progress("embed images", "img"));
            logits = heads.isPresent() ? embedder.embed(inputs, Feature.LOGITS, listener.progress("classify images", "img")) : null;
            queryFeatures = embedder.embed(queries.stream().map(catalog::input).toList(), listener.progress("embed catalog queries", "img"));
        }
        // The garment the prompt names, as the type head and the catalog's categories call it.
        Optional<String> garment = heads.flatMap(h -> h.labels(GarmentCheck.TYPE_HEAD))
                .flatMap(types -> GarmentWords.named(settings.prompt(), types));
        Optional<String> garmentCategory = garment.flatMap(GarmentWords::catalogCategory);
        float[][] wardrobeFeatures = java.util.Arrays.copyOfRange(features, 0, wardrobe.size());
        List<Evaluation.VariantResult> variants = new ArrayList<>();
        Evaluation.Retrieval retrieval;
        try (CatalogIndex index = CatalogIndex.load(indexStage.dir().resolve("catalog.idx"))) {
            List<String> patterns = heads.flatMap(h -> h.labels("pattern")).orElse(List.of());
            RetrievalPrecision.Result precision = RetrievalPrecision.measure(index, catalog, queries, queryFeatures, patterns, TOP_ITEMS);
            retrieval = new Evaluation.Retrieval(precision.k(), Evaluation.Precision.of(precision.type()),
                    precision.pattern().map(Evaluation.Precision::of).orElse(null));
            listener.note(String.format(Locale.ROOT, "catalog search precision@%d on %d query images: type %.3f%s", precision.k(),
                    precision.type().queries(), precision.type().precision(),
                    precision.pattern().map(p -> String.format(Locale.ROOT, ", pattern %.3f", p.precision())).orElse("")));
            int offset = wardrobe.size();
            for (int w = 0; w < ways.length; w++) {
                List<Path> pngs = perWay.get(w);
                float[][] g = java.util.Arrays.copyOfRange(features, offset, offset + pngs.size());
                float[][] gLogits = logits == null ? null : java.util.Arrays.copyOfRange(logits, offset, offset + pngs.size());
                offset += pngs.size();
                // Twice as many hits as shown: a catalog item has up to two views, a shopper wants 5 different items.
                StyleEvaluation.Report r = StyleEvaluation.compare(index, pngs, g, wardrobe, wardrobeFeatures, 2 * TOP_ITEMS,
                        Optional.empty());
                List<String> settingsLines = TextFiles.readLines(generated.dir().resolve(ways[w][0]).resolve("settings.tsv"));
                List<List<Evaluation.Hit>> shown = new ArrayList<>();
                for (StyleEvaluation.GeneratedResult gr : r.results()) {
                    java.util.Set<String> seenItems = new java.util.HashSet<>();
                    shown.add(gr.catalog().stream().filter(m -> seenItems.add(m.item().itemId()))
                            .limit(TOP_ITEMS).map(m -> new Evaluation.Hit(m.item().path(), m.item().itemId(),
                                    m.item().category(), m.score())).toList());
                }
                Optional<GarmentCheck> check = garment.map(word -> GarmentCheck.of(word, heads, gLogits, garmentCategory,
                        shown.stream().map(hits -> hits.stream().map(Evaluation.Hit::category).toList()).toList()));
                List<Evaluation.ImageResult> results = new ArrayList<>();
                for (int i = 0; i < r.results().size(); i++) {
                    StyleEvaluation.GeneratedResult gr = r.results().get(i);
                    String name = gr.image().getFileName().toString();
                    String infotext = settingsLines.stream().filter(l -> l.startsWith(name + "\t"))
                            .map(l -> l.substring(name.length() + 1).replace("\\n", "\n")).findFirst().orElse("");
                    // The check already classified each image when the prompt names a garment.
                    String seenType = gLogits == null ? null : check.isPresent() ? check.get().seenTypes().get(i)
                            : heads.get().classify(gLogits[i], GarmentCheck.TYPE_HEAD);
                    results.add(new Evaluation.ImageResult(work.relativize(gr.image().toAbsolutePath()).toString(), infotext,
                            gr.similarities(), gr.bestWardrobe(), gr.bestSimilarity(), shown.get(i), seenType));
                }
                Double fidelity = check.flatMap(c -> boxed(c.typeFidelity())).orElse(null);
                Double catalogShare = check.flatMap(c -> boxed(c.catalogTypeShare())).orElse(null);
                variants.add(new Evaluation.VariantResult(ways[w][0], ways[w][1], r.meanBest(), r.meanSimilarity(), fidelity,
                        catalogShare, results));
                listener.note(String.format(Locale.ROOT, "%-10s mean best wardrobe similarity %.4f, mean over all pairs %.4f%s%s",
                        ways[w][0], r.meanBest(), r.meanSimilarity(),
                        fidelity == null ? "" : String.format(Locale.ROOT, ", classified as %s %.0f%%", garment.get(), 100 * fidelity),
                        catalogShare == null ? "" : String.format(Locale.ROOT, ", catalog hits of that type %.0f%%", 100 * catalogShare)));
            }
        }
        List<String> wardrobeNames = wardrobe.stream().map(p -> work.relativize(p.toAbsolutePath()).toString()).toList();
        new Evaluation(wardrobeNames, variants, garment.orElse(null), retrieval).write(dir.resolve("evaluation.json"));
    }

    /** The PNG/JPEG files of a folder, by name (generated files and wardrobe photos are named in order). */
    static List<Path> images(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.filter(p -> {
                String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
                return n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg");
            }).sorted().toList();
        }
    }

    private static void write(Path file, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(file, ch -> ch.write(ByteBuffer.wrap(bytes)));
    }

    /** The default model's identity for reuse decisions: a digest of its files. */
    static String fingerprint(DefaultModel m) {
        return fingerprint(List.of(m.checkpoint(), m.config(), m.tokenizer().resolve("vocab.json"), m.tokenizer().resolve("merges.txt")));
    }

    private static String fingerprint(List<Path> files) {
        try {
            return Sha256.hexOfFiles(files);
        } catch (IOException e) {
            throw new AtelierException.FormatException(files.get(0) + ": cannot read the default model: " + e.getMessage());
        }
    }

    private static Optional<Double> boxed(java.util.OptionalDouble v) {
        return v.isPresent() ? Optional.of(v.getAsDouble()) : Optional.empty();
    }

}
