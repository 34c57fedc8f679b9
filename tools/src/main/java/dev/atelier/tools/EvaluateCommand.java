package dev.atelier.tools;

import dev.atelier.engine.embed.ImageEmbedder;
import dev.atelier.engine.eval.ReportFiles;
import dev.atelier.engine.eval.StyleEvaluation;
import dev.atelier.engine.index.CatalogIndex;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code atelier evaluate}: wardrobe similarity and catalog matches of generated images. */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = "Compare generated images with a wardrobe (cosine similarity, best match) and find their nearest "
                + "catalog items; writes evaluation.json, similarity.csv, catalog.csv and evaluation.html.",
        footer = {"", "Examples:",
                "  atelier evaluate --generated out/ --wardrobe photos/ --index catalog.idx --model mnv3.pth --out eval/"})
final class EvaluateCommand implements Callable<Integer> {
    @Mixin
    EmbedderOptionsMixin embedder;

    @Option(names = "--generated", required = true, paramLabel = "DIR", description = "Generated images (a folder or files).", arity = "1..*")
    List<Path> generated;

    @Option(names = "--wardrobe", required = true, paramLabel = "DIR", description = "The person's photos (a folder or files).", arity = "1..*")
    List<Path> wardrobe;

    @Option(names = "--index", required = true, paramLabel = "DIR", description = "The catalog index (its PCA is applied to every image).")
    Path index;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Folder for the report files.")
    Path out;

    @Option(names = {"-k", "--top"}, defaultValue = "5", description = "Catalog items per generated image. Default: ${DEFAULT-VALUE}.")
    int k;

    @Option(names = "--category", paramLabel = "NAME", description = "Only catalog items of this category.")
    String category;

    @Override
    public Integer call() {
        List<Path> gen = ImageArgs.expand(generated);
        List<Path> ward = ImageArgs.expand(wardrobe);
        try (ImageEmbedder e = embedder.open(); CatalogIndex i = CatalogIndex.load(index)) {
            StyleEvaluation.Report report = StyleEvaluation.evaluate(e, i, gen, ward, k, Optional.ofNullable(category),
                    new ProgressBar("embed", "img", false));
            ReportFiles.write(report, out);
            System.out.printf(Locale.ROOT, "%d generated vs %d wardrobe photos: mean best similarity %.4f, mean %.4f%n",
                    gen.size(), ward.size(), report.meanBest(), report.meanSimilarity());
            System.out.println("report: " + out.resolve("evaluation.html"));
        }
        return 0;
    }
}
