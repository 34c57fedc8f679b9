package dev.atelier.engine.catalog;

import dev.atelier.engine.util.EnumNames;
import java.util.List;
import java.util.Locale;

/** The evaluation split of a catalog image (DeepFashion's evaluation_status). */
public enum Split {
    TRAIN, VAL, TEST, QUERY, GALLERY, NONE;

    /**
     * The split named as in list_eval_partition.txt ("train", "query", ...), ignoring case and
     * surrounding blanks, or null: NONE (an image outside any split) has no name in those files,
     * and the readers report an unknown status with the statuses their own file allows.
     */
    static Split fromName(String name) {
        return EnumNames.find(values(), s -> s == NONE ? List.of() : List.of(s.name().toLowerCase(Locale.ROOT)), name)
                .orElse(null);
    }
}
