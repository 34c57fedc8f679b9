package dev.atelier.engine.catalog;

import java.util.Locale;

/** The evaluation split of a catalog image (DeepFashion's evaluation_status). */
public enum Split {
    TRAIN, VAL, TEST, QUERY, GALLERY, NONE;

    /** The split named as in list_eval_partition.txt ("train", "query", ...), or null. */
    static Split fromName(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "train" -> TRAIN;
            case "val" -> VAL;
            case "test" -> TEST;
            case "query" -> QUERY;
            case "gallery" -> GALLERY;
            default -> null;
        };
    }
}
