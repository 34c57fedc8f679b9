package dev.atelier.engine.util;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * The one parser of enum constants from names that users give: every enum read from such a name
 * (command-line options, request fields, list files, the C enums' mirrors) goes through it, so all
 * of them accept names the same way and reject them with the same message. Names fixed by a file
 * format are matched exactly where they are read (a safetensors header's dtype, DType.fromName).
 *
 * <p>A name matches a constant when it equals one of the constant's names ignoring case and
 * surrounding blanks; a null name matches nothing.
 */
public final class EnumNames {
    private EnumNames() {}

    /**
     * The one of values that namesOf gives name for, ignoring case and surrounding blanks; empty
     * for null and for a name no constant has. A constant with no names is never found.
     */
    public static <E> Optional<E> find(E[] values, Function<? super E, List<String>> namesOf, String name) {
        if (name == null) {
            return Optional.empty();
        }
        String n = name.trim();
        for (E e : values) {
            for (String known : namesOf.apply(e)) {
                if (known.equalsIgnoreCase(n)) {
                    return Optional.of(e);
                }
            }
        }
        return Optional.empty();
    }

    /**
     * As {@link #find}, but a name that matches nothing is bad input: InvalidInputException
     * {@code unknown WHAT "NAME"; known: a, b, c}, where what names the kind of value
     * ("backend") and the list is {@link #known}.
     */
    public static <E> E parse(E[] values, Function<? super E, List<String>> namesOf, String name, String what) {
        return find(values, namesOf, name).orElseThrow(() -> new InvalidInputException(
                "unknown " + what + " \"" + name + "\"; known: " + known(values, namesOf)));
    }

    /** Every name namesOf gives, constant by constant, comma-separated: for messages and help texts. */
    public static <E> String known(E[] values, Function<? super E, List<String>> namesOf) {
        return Arrays.stream(values).flatMap(e -> namesOf.apply(e).stream()).collect(Collectors.joining(", "));
    }
}
