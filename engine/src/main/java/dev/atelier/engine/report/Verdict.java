package dev.atelier.engine.report;

import static dev.atelier.engine.report.DemoReport.OTHER_LORA;
import static dev.atelier.engine.report.DemoReport.WITHOUT_LORA;
import static dev.atelier.engine.report.DemoReport.WITH_LORA;

import dev.atelier.engine.report.DemoReport.SimilarityFigure;
import java.util.List;
import java.util.Optional;

/**
 * The one-line plain statement of the result at the top of the report: did this person's LoRA
 * move the generated images towards their wardrobe, and more than another person's LoRA did?
 * Figures are compared as shown (three decimals), so the sentence never contradicts the numbers.
 */
final class Verdict {
    private Verdict() {}

    static String sentence(List<SimilarityFigure> figures) {
        Optional<SimilarityFigure> base = find(figures, WITHOUT_LORA), lora = find(figures, WITH_LORA),
                other = find(figures, OTHER_LORA);
        if (base.isEmpty() || lora.isEmpty()) {
            return highest(figures).map(f -> "Highest wardrobe similarity: " + f.description() + " ("
                    + Html.score(f.meanWardrobeSimilarity()) + ").").orElse("No similarity figures in this run.");
        }
        long b = shown(base.get()), l = shown(lora.get());
        String with = Html.score(lora.get().meanWardrobeSimilarity()), without = Html.score(base.get().meanWardrobeSimilarity());
        StringBuilder s = new StringBuilder();
        if (l > b) {
            s.append("The LoRA moved the images towards the wardrobe: ").append(with).append(" with it vs ").append(without)
                    .append(" without");
        } else if (l == b) {
            s.append("The LoRA made no measurable difference: ").append(with).append(" with it, ").append(without)
                    .append(" without");
        } else {
            s.append("The LoRA did not move the images towards the wardrobe: ").append(with).append(" with it vs ")
                    .append(without).append(" without");
        }
        if (other.isPresent()) {
            String o = Html.score(other.get().meanWardrobeSimilarity());
            if (l > b && shown(other.get()) < l) {
                s.append(", and ").append(o).append(" with another person's LoRA, so the shift is specific to this wardrobe");
            } else if (l > b) {
                s.append(", but another person's LoRA reached ").append(o)
                        .append(", so the shift is not specific to this wardrobe");
            } else {
                s.append(" (").append(o).append(" with another person's LoRA)");
            }
        }
        return s.append('.').toString();
    }

    /** The figure with the highest value as shown; the first of equals. */
    static Optional<SimilarityFigure> highest(List<SimilarityFigure> figures) {
        Optional<SimilarityFigure> best = Optional.empty();
        for (SimilarityFigure f : figures) {
            if (best.isEmpty() || shown(f) > shown(best.get())) {
                best = Optional.of(f);
            }
        }
        return best;
    }

    private static Optional<SimilarityFigure> find(List<SimilarityFigure> figures, String variant) {
        return figures.stream().filter(f -> f.variant().equals(variant)).findFirst();
    }

    /** The value in thousandths, as the report prints it. */
    static long shown(SimilarityFigure f) {
        return Math.round(Double.parseDouble(Html.score(f.meanWardrobeSimilarity())) * 1000);
    }
}
