package dev.atelier.engine.text;

import dev.atelier.engine.util.EnumNames;
import java.util.List;
import java.util.Locale;

/** What to do with a prompt longer than the 75 tokens one CLIP window holds. */
public enum LongPromptMode {
    /** Keep the first 75 tokens (what CLIP itself and the original LDM scripts do). */
    TRUNCATE,
    /** Split into windows of 75 tokens, each encoded on its own and concatenated (A1111, kohya). */
    CHUNKED;

    /** The name users type: {@code truncate} or {@code chunked}. */
    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The mode whose {@link #cliName()} is name ({@link EnumNames#parse}). */
    public static LongPromptMode fromName(String name) {
        return EnumNames.parse(values(), m -> List.of(m.cliName()), name, "long-prompt mode");
    }
}
