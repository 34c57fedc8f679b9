package dev.atelier.tools;

import dev.atelier.engine.catalog.Catalog;
import dev.atelier.engine.catalog.CatalogImage;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.embed.Feature;
import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.embed.ImageInput;
import dev.atelier.engine.eval.GarmentCheck;
import dev.atelier.engine.eval.RetrievalPrecision;
import dev.atelier.engine.eval.ReportFiles;
import dev.atelier.engine.eval.StyleEvaluation;
import dev.atelier.engine.index.CatalogSearch;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code atelier evaluate}: wardrobe similarity and catalog matches of generated images. */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = "Compare generated images with a wardrobe (cosine similarity, best match) and find their nearest "
                + "catalog items; writes evaluation.json, similarity.csv, catalog.csv and evaluation.html.",
        footer = {"", "Examples:",
                "  atelier evaluate --model mnv3.pth --index catalog.idx --generated out/ \\",
                "      --wardrobe photos/ --out eval/",
                "  atelier evaluate --model mnv3.pth --index catalog.idx --generated a.png \\",
                "      b.png --wardrobe photos/ --out eval/ -k 3 --json"})
final class EvaluateCommand extends CliCommand {
    @Mixin
    EmbedderOptionsMixin embedder;

    @Option(names = "--generated", required = true, paramLabel = "DIR", description = "Generated images (a folder or files).", arity = "1..*")
    List<Path> generated;

    @Option(names = "--wardrobe", required = true, paramLabel = "DIR", description = "The person's photos (a folder or files).", arity = "1..*")
    List<Path> wardrobe;

    /** The catalog; its PCA is applied to every image. */
    @Mixin
    CatalogLocationOptions catalog;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder for the report files.")
    Path out;

    @Mixin
    NearestItemsOptions nearest;

    @Option(names = "--garment", paramLabel = "WORD",
            description = "The garment the images were asked for (a label of the embedder's type head, e.g. jacket): "
                    + "reports the share of images the type head sees as it.")
    String garment;

    @Option(names = "--garment-category", paramLabel = "NAME",
            description = "The catalog category of that garment (e.g. MEN/Jackets_Vests): reports the share of nearest "
                    + "catalog items in it. Needs --garment.")
    String garmentCategory;

    @Option(names = "--catalog-images", paramLabel = "DIR",
            description = "The indexed catalog's images (DeepFashion In-shop or Category layout): measures precision@k of "
                    + "search by garment type and, with pattern attributes, by pattern, on its query images.")
    Path catalogImages;

    @Override
    public Integer call() {
        List<Path> gen = ImageArgs.expand(generated);
        List<Path> ward = ImageArgs.expand(wardrobe);
        if (garmentCategory != null && garment == null) {
            throw new InvalidInputException("--garment-category needs --garment");
        }
        try (ImageEmbedder e = embedder.open(); CatalogSearch i = catalog.open()) {
            StyleEvaluation.Report report = StyleEvaluation.evaluate(e, i, gen, ward, nearest.k, nearest.category(),
                    new ProgressBar("embed", "img"));
            if (garment != null) {
                float[][] logits = e.card().heads().isPresent()
                        ? e.embed(gen.stream().map(ImageInput::of).toList(), Feature.LOGITS, new ProgressBar("classify", "img"))
                        : new float[0][];
                report = report.withGarment(GarmentCheck.of(garment, e.card().heads(), logits, Optional.ofNullable(garmentCategory),
                        report.results().stream().map(r -> r.catalog().stream().map(m -> m.item().category()).toList()).toList()));
            }
            if (catalogImages != null) {
                Catalog c = CatalogFolderOptions.readCatalog(catalogImages, "auto");
                List<CatalogImage> queries = RetrievalPrecision.queries(c);
                float[][] features = e.embed(queries.stream().map(c::input).toList(), new ProgressBar("embed queries", "img"));
                List<String> patterns = e.card().heads().flatMap(h -> h.labels("pattern")).orElse(List.of());
                report = report.withRetrieval(RetrievalPrecision.measure(i, c, queries, features, patterns, nearest.k));
            }
            ReportFiles.write(report, out);
            if (json()) {
                printJson(toJson(report));
            } else {
                out().printf(Locale.ROOT, "%d generated vs %d wardrobe photos: mean best similarity %.4f, mean %.4f%n",
                        gen.size(), ward.size(), report.meanBest(), report.meanSimilarity());
                report.garment().ifPresent(g -> {
                    g.typeFidelity().ifPresent(v -> out().printf(Locale.ROOT, "seen as %s by the type head: %.1f%%%n", g.garment(), 100 * v));
                    g.catalogTypeShare().ifPresent(v -> out().printf(Locale.ROOT, "nearest catalog items in %s: %.1f%%%n", garmentCategory, 100 * v));
                });
                report.retrieval().ifPresent(r -> out().printf(Locale.ROOT, "catalog search precision@%d on %d queries: type %.3f%s%n",
                        r.k(), r.type().queries(), r.type().precision(),
                        r.pattern().map(p -> String.format(Locale.ROOT, ", pattern %.3f", p.precision())).orElse("")));
                out().println("report: " + out.resolve("evaluation.html"));
            }
        }
        return 0;
    }

    private Map<String, Object> toJson(StyleEvaluation.Report report) {
        List<Map<String, Object>> results = new ArrayList<>();
        for (StyleEvaluation.GeneratedResult r : report.results()) {
            Map<String, Object> one = new LinkedHashMap<>();
            one.put("image", r.image().toString());
            one.put("best_wardrobe", report.wardrobe().get(r.bestWardrobe()).toString());
            one.put("best_similarity", r.bestSimilarity());
            List<Map<String, Object>> catalog = new ArrayList<>();
            for (StyleEvaluation.CatalogMatch m : r.catalog()) {
                Map<String, Object> c = new LinkedHashMap<>();
                c.put("path", m.item().path());
                c.put("item_id", m.item().itemId());
                c.put("category", m.item().category());
                c.put("score", m.score());
                catalog.add(c);
            }
            one.put("catalog", catalog);
            results.add(one);
        }
        Map<String, Object> result = new LinkedHashMap<>();
        result.put("generated", report.results().size());
        result.put("wardrobe", report.wardrobe().size());
        result.put("mean_best_similarity", report.meanBest());
        result.put("mean_similarity", report.meanSimilarity());
        result.put("out", out.toString());
        result.put("report", out.resolve("evaluation.html").toString());
        result.put("results", results);
        com.fasterxml.jackson.databind.node.ObjectNode tree = ReportFiles.tree(report);
        if (tree.has("garment")) {
            result.put("garment", tree.get("garment"));
        }
        if (tree.has("retrieval")) {
            result.put("retrieval", tree.get("retrieval"));
        }
        return result;
    }
}
