package dev.atelier.tools;

import java.util.Optional;
import picocli.CommandLine.Option;

/** {@code -k/--top} and {@code --category}: how many catalog items a search returns, and from which category. */
final class NearestItemsOptions {
    @Option(names = {"-k", "--top"}, defaultValue = "5", paramLabel = "N", description = "Catalog items per query image. Default: ${DEFAULT-VALUE}.")
    int k;

    @Option(names = "--category", paramLabel = "NAME", description = "Only catalog items of this category.")
    String category;

    Optional<String> category() {
        return Optional.ofNullable(category);
    }
}
