package dev.atelier.engine.demo;

import dev.atelier.engine.synth.GarmentType;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/** The garment a prompt asks for, in the words of the embedder's type head and the demo catalog. */
final class GarmentWords {
    private GarmentWords() {}

    /** The last word of prompt that is one of types ("red jacket" -> "jacket"), if any. */
    static Optional<String> named(String prompt, List<String> types) {
        String[] words = prompt.toLowerCase(Locale.ROOT).split("[^a-z0-9]+");
        for (int i = words.length - 1; i >= 0; i--) {
            if (types.contains(words[i])) {
                return Optional.of(words[i]);
            }
        }
        return Optional.empty();
    }

    /** The demo catalog's category of a garment word ("jacket" -> "MEN/Jackets_Vests"), if it draws that garment. */
    static Optional<String> catalogCategory(String word) {
        try {
            return Optional.of(GarmentType.fromWord(word).deepFashionFolder());
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }
}
