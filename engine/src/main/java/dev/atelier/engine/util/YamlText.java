package dev.atelier.engine.util;

import dev.atelier.engine.core.AtelierException.FormatException;
import java.nio.file.Path;
import org.yaml.snakeyaml.LoaderOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.constructor.SafeConstructor;
import org.yaml.snakeyaml.error.YAMLException;

/** YAML text parsed into plain maps, lists and scalars, for every YAML file Atelier reads. */
public final class YamlText {
    private YamlText() {}

    /**
     * The document in text (from file, which errors name): SafeConstructor builds no objects of
     * named classes, and SnakeYAML's default limits bound nesting depth, alias expansion and size.
     * Malformed YAML is a FormatException with the parser's first line.
     */
    public static Object parse(String text, Path file) {
        try {
            return new Yaml(new SafeConstructor(new LoaderOptions())).load(text);
        } catch (YAMLException | IllegalArgumentException e) {
            // SnakeYAML reports some malformed tags ("!!%2") with IllegalArgumentException.
            String message = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            throw new FormatException(file + ": not valid YAML: " + message.lines().findFirst().orElse(""));
        }
    }
}
