package dev.atelier.engine.synth;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * The kinds of garment the renderer draws. {@link #word()} is the caption word (one lower-case
 * token of the CLIP vocabulary); {@link #deepFashionFolder()} the In-shop folder a catalog item of
 * this kind goes to, and {@link #clothesType()} its {@code clothes_type} in list_bbox_inshop.txt
 * (1 upper body, 2 lower body, 3 full body).
 */
public enum GarmentType {
    JACKET("MEN/Jackets_Vests", 1),
    COAT("WOMEN/Jackets_Coats", 1),
    SHIRT("MEN/Shirts_Polos", 1),
    TSHIRT("MEN/Tees_Tanks", 1),
    HOODIE("MEN/Sweatshirts_Hoodies", 1),
    DRESS("WOMEN/Dresses", 3),
    SKIRT("WOMEN/Skirts", 2),
    TROUSERS("MEN/Pants", 2),
    SHORTS("WOMEN/Shorts", 2);

    private final String deepFashionFolder;
    private final int clothesType;

    GarmentType(String deepFashionFolder, int clothesType) {
        this.deepFashionFolder = deepFashionFolder;
        this.clothesType = clothesType;
    }

    /** The caption word: "jacket", "tshirt", ... */
    public String word() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The In-shop category folder below img/, e.g. "MEN/Jackets_Vests". */
    public String deepFashionFolder() {
        return deepFashionFolder;
    }

    /** DeepFashion's clothes_type: 1 upper body, 2 lower body, 3 full body. */
    public int clothesType() {
        return clothesType;
    }

    /** The type named by its caption word, or an IllegalArgumentException listing the known words. */
    public static GarmentType fromWord(String word) {
        for (GarmentType t : values()) {
            if (t.word().equals(word)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown garment \"" + word + "\" (known: " + words() + ")");
    }

    /** The caption words, comma-separated. */
    public static String words() {
        return Arrays.stream(values()).map(GarmentType::word).collect(Collectors.joining(", "));
    }
}
