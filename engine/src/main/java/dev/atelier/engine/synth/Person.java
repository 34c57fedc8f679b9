package dev.atelier.engine.synth;

import static dev.atelier.engine.synth.GarmentColour.*;
import static dev.atelier.engine.synth.GarmentPattern.*;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * Someone whose wardrobe has a signature style: most garments in their primary colour with their
 * secondary colour in their pattern. The known people differ in all three, so that a LoRA trained
 * on one wardrobe is measurably closer to it than to another's.
 *
 * @param name      lower-case, used in file names and on the command line
 * @param colour    the signature primary colour
 * @param secondary the signature secondary colour
 * @param pattern   the signature pattern
 */
public record Person(String name, GarmentColour colour, GarmentColour secondary, GarmentPattern pattern) {
    public static final Person ANA = new Person("ana", BURGUNDY, CREAM, STRIPED);
    public static final Person BEN = new Person("ben", NAVY, MUSTARD, CHECKED);
    public static final Person CLEO = new Person("cleo", GREEN, PINK, DOTTED);
    public static final Person DAN = new Person("dan", BLACK, RED, COLORBLOCK);

    private static final List<Person> KNOWN = List.of(ANA, BEN, CLEO, DAN);

    public Person {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(colour, "colour");
        Objects.requireNonNull(secondary, "secondary");
        Objects.requireNonNull(pattern, "pattern");
    }

    /** The built-in people. */
    public static List<Person> known() {
        return KNOWN;
    }

    /** The built-in person of that name, or an InvalidInputException listing the names. */
    public static Person named(String name) {
        for (Person p : KNOWN) {
            if (p.name().equals(name)) {
                return p;
            }
        }
        throw new InvalidInputException("unknown person \"" + name + "\" (known: "
                + KNOWN.stream().map(Person::name).collect(Collectors.joining(", ")) + ")");
    }

    /**
     * The style of this person's garment number `index` (0-based): four in five are the signature
     * style; the others alternate between plain (the primary colour alone) and the signature
     * pattern with the two colours swapped. A little variety, the palette unchanged.
     */
    public GarmentSpec garment(GarmentType type, int index) {
        if (index % 5 != 3) {
            return new GarmentSpec(type, colour, secondary, pattern);
        }
        return (index / 5) % 2 == 0
                ? new GarmentSpec(type, colour, secondary, PLAIN)
                : new GarmentSpec(type, secondary, colour, pattern);
    }
}
