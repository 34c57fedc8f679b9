package dev.atelier.engine.synth;

import java.util.Objects;

/**
 * What a garment looks like: its kind and its style (primary colour, secondary colour, pattern).
 *
 * @param type      jacket, dress, ...
 * @param colour    the main fabric colour
 * @param secondary the pattern's colour (stripes, checks, dots, blocks), buttons and trims
 * @param pattern   how the secondary colour is laid over the primary
 */
public record GarmentSpec(GarmentType type, GarmentColour colour, GarmentColour secondary, GarmentPattern pattern) {
    public GarmentSpec {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(colour, "colour");
        Objects.requireNonNull(secondary, "secondary");
        Objects.requireNonNull(pattern, "pattern");
    }

    /** "{@code <colour> <pattern> <type>}", e.g. "burgundy striped jacket": the training caption. */
    public String caption() {
        return colour.word() + " " + pattern.word() + " " + type.word();
    }
}
