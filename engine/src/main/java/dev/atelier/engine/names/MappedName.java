package dev.atelier.engine.names;

/**
 * A tensor or module name in the other layout.
 *
 * @param name    the converted name
 * @param reshape the shape change a weight needs on the way (only ever on a {@code .weight})
 */
public record MappedName(String name, Reshape reshape) {}
