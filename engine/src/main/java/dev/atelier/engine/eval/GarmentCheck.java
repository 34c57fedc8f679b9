package dev.atelier.engine.eval;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.embed.ClassHeads;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.OptionalDouble;

/**
 * Whether generated images are the garment their prompt asked for (prompt fidelity, as
 * personalisation papers report it beside style similarity): the type the embedder's type head
 * sees in each image, the share of images seen as the garment, and the share of their nearest
 * catalog items that have the garment's catalog category.
 *
 * @param garment          the asked-for garment, a label of the type head
 * @param seenTypes        per image, the type head's label (empty when the embedder has no type head)
 * @param typeFidelity     share of images whose seen type is the garment (empty without a type head)
 * @param catalogTypeShare share of the images' catalog items in the garment's category (empty when
 *                         the category is not known)
 */
public record GarmentCheck(String garment, List<String> seenTypes, OptionalDouble typeFidelity, OptionalDouble catalogTypeShare) {
    /** The head that names garment types in {@link ClassHeads}. */
    public static final String TYPE_HEAD = "type";

    public GarmentCheck {
        seenTypes = List.copyOf(seenTypes);
    }

    /**
     * @param logits        the embedder's logits for each image (ignored without heads)
     * @param category      the garment's catalog category, if known
     * @param catalogHits   per image, the categories of the catalog items shown for it
     */
    public static GarmentCheck of(String garment, Optional<ClassHeads> heads, float[][] logits, Optional<String> category,
            List<List<String>> catalogHits) {
        List<String> seen = new ArrayList<>();
        OptionalDouble fidelity = OptionalDouble.empty();
        if (heads.isPresent() && heads.get().labels(TYPE_HEAD).isPresent()) {
            if (!heads.get().labels(TYPE_HEAD).get().contains(garment)) {
                throw new InvalidInputException("garment \"" + garment + "\" is not a label of the embedder's type head "
                        + heads.get().labels(TYPE_HEAD).get());
            }
            int kept = 0;
            for (float[] row : logits) {
                String type = heads.get().classify(row, TYPE_HEAD);
                seen.add(type);
                kept += type.equals(garment) ? 1 : 0;
            }
            fidelity = logits.length == 0 ? OptionalDouble.empty() : OptionalDouble.of((double) kept / logits.length);
        }
        OptionalDouble share = OptionalDouble.empty();
        if (category.isPresent()) {
            long shown = catalogHits.stream().mapToLong(List::size).sum();
            long right = catalogHits.stream().flatMap(List::stream).filter(category.get()::equals).count();
            share = shown == 0 ? OptionalDouble.empty() : OptionalDouble.of((double) right / shown);
        }
        return new GarmentCheck(garment, seen, fidelity, share);
    }
}
