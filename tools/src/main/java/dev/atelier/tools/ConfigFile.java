package dev.atelier.tools;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.util.AtomicFiles;
import dev.atelier.engine.util.TextFiles;
import dev.atelier.engine.util.YamlText;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.yaml.snakeyaml.DumperOptions;
import org.yaml.snakeyaml.Yaml;
import org.yaml.snakeyaml.representer.Representer;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Settings files for any command that has {@code --config-file} ({@link ConfigOptions}): a YAML map
 * whose keys are the command's long option names without the dashes ({@code steps: 25},
 * {@code sampler: dpmpp_2m_karras}, a list for a repeatable option).
 *
 * <p>It works as picocli's default-value provider, which picocli asks after parsing, and only for
 * options the command line did not give: so command-line flags win over the file, and a required
 * option may come from the file. Unknown keys and values of the wrong type are bad input naming
 * the file and the key. {@link #save} writes the effective settings in the same form.
 */
final class ConfigFile implements CommandLine.IDefaultValueProvider {
    static final String CONFIG_FILE = "--config-file";
    static final String SAVE_CONFIG = "--save-config";
    /** Options that are not settings of a run: where the settings come from or go, help. */
    private static final Set<String> NOT_SETTINGS = Set.of(CONFIG_FILE, SAVE_CONFIG);

    /** Validated settings per (command, file), for the provider's repeated questions in one run. */
    private final Map<String, Map<String, Object>> loaded = new HashMap<>();

    @Override
    public String defaultValue(ArgSpec arg) {
        if (!(arg instanceof OptionSpec option)) {
            return null;
        }
        CommandSpec command = arg.command();
        OptionSpec fileOption = command.findOption(CONFIG_FILE);
        Object file = fileOption == null ? null : fileOption.getValue();
        if (file == null || !isSettable(option)) {
            return null;
        }
        Map<String, Object> settings = loaded.computeIfAbsent(command.qualifiedName() + "\0" + file,
                k -> read(command, (Path) file));
        Object value = settings.get(option.longestName());
        if (value == null) {
            return null;
        }
        if (value instanceof List<?> list) {
            // A default string cannot carry several values, so a list is set directly.
            option.setValue(list);
            return null;
        }
        return value.toString();
    }

    /** Whether a file may set an option: a setting of the run, hidden aliases included. */
    static boolean isSettable(OptionSpec o) {
        return !o.inherited() && !o.usageHelp() && !o.versionHelp() && o.longestName().startsWith("--")
                && !NOT_SETTINGS.contains(o.longestName());
    }

    /** Whether {@link #save} writes an option: the visible settings (hidden aliases fold into them). */
    static boolean isSaved(OptionSpec o) {
        return isSettable(o) && !o.hidden();
    }

    /** Reads and checks a whole file: option name -> value picocli accepts (a string, or a list). */
    static Map<String, Object> read(CommandSpec command, Path file) {
        Object root;
        try {
            root = YamlText.parse(TextFiles.readString(file), file);
        } catch (FormatException e) {
            throw bad(command, e.getMessage());
        } catch (NoSuchFileException e) {
            throw bad(command, file + ": no such config file");
        } catch (IOException e) {
            throw bad(command, file + ": cannot read: " + e.getMessage());
        }
        if (root == null) {
            return Map.of();
        }
        if (!(root instanceof Map<?, ?> map)) {
            throw bad(command, file + ": expected \"key: value\" lines, one per option");
        }
        Map<String, Object> out = new HashMap<>();
        for (Map.Entry<?, ?> e : map.entrySet()) {
            String key = String.valueOf(e.getKey());
            OptionSpec option = find(command, key);
            if (option == null) {
                throw bad(command, file + ": unknown key \"" + key + "\": not an option of " + command.qualifiedName());
            }
            if (e.getValue() == null) {
                continue;
            }
            if (out.containsKey(option.longestName())) {
                throw bad(command, file + ": key \"" + key + "\" sets " + option.longestName() + " a second time");
            }
            out.put(option.longestName(), convert(command, file, key, option, e.getValue()));
        }
        return out;
    }

    private static OptionSpec find(CommandSpec command, String key) {
        for (OptionSpec o : command.options()) {
            if (isSettable(o)) {
                for (String name : o.names()) {
                    if (name.equals("--" + key)) {
                        return o;
                    }
                }
            }
        }
        return null;
    }

    private static Object convert(CommandSpec command, Path file, String key, OptionSpec option, Object value) {
        if (option.isMultiValue()) {
            if (option.isOption() && Map.class.isAssignableFrom(option.type())) {
                throw bad(command, file + ": key \"" + key + "\": map options are not supported in config files");
            }
            Class<?> element = option.auxiliaryTypes().length > 0 ? option.auxiliaryTypes()[0] : String.class;
            Collection<?> items = value instanceof Collection<?> c ? c : List.of(value);
            List<Object> list = new ArrayList<>();
            for (Object item : items) {
                list.add(typed(element, scalar(command, file, key, element, item)));
            }
            return list;
        }
        return scalar(command, file, key, option.type(), value);
    }

    /** Checks a YAML scalar against the option's type and returns it as picocli's string form. */
    private static String scalar(CommandSpec command, Path file, String key, Class<?> type, Object value) {
        if (value instanceof Map<?, ?> || value instanceof Collection<?>) {
            throw bad(command, file + ": key \"" + key + "\" needs a single " + describe(type) + ", got a "
                    + (value instanceof Map<?, ?> ? "map" : "list"));
        }
        String s = String.valueOf(value).strip();
        boolean ok = switch (describe(type)) {
            case "integer" -> isInteger(s, type);
            case "number" -> isNumber(s);
            case "boolean" -> s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false");
            default -> true;
        };
        if (!ok) {
            throw bad(command, file + ": key \"" + key + "\" needs " + article(describe(type)) + ", got \"" + value + "\"");
        }
        return value instanceof String str ? str : s;
    }

    private static String describe(Class<?> type) {
        if (type == int.class || type == Integer.class || type == long.class || type == Long.class
                || type == short.class || type == Short.class || type == byte.class || type == Byte.class) {
            return "integer";
        }
        if (type == float.class || type == Float.class || type == double.class || type == Double.class) {
            return "number";
        }
        if (type == boolean.class || type == Boolean.class) {
            return "boolean";
        }
        return type == Path.class ? "path" : "string";
    }

    private static String article(String word) {
        return (word.equals("integer") ? "an " : "a ") + word + (word.equals("boolean") ? " (true or false)" : "");
    }

    private static boolean isInteger(String s, Class<?> type) {
        try {
            BigInteger v = new BigInteger(s);
            boolean small = type == int.class || type == Integer.class || type == short.class || type == Short.class
                    || type == byte.class || type == Byte.class;
            return v.bitLength() < (small ? 32 : 64);
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static boolean isNumber(String s) {
        try {
            Double.parseDouble(s);
            return !s.isEmpty() && !s.endsWith("d") && !s.endsWith("D") && !s.endsWith("f") && !s.endsWith("F");
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static Object typed(Class<?> type, String s) {
        return switch (describe(type)) {
            case "integer" -> type == long.class || type == Long.class ? (Object) Long.valueOf(s) : (Object) Integer.valueOf(s);
            case "number" -> type == float.class || type == Float.class ? (Object) Float.valueOf(s) : (Object) Double.valueOf(s);
            case "boolean" -> Boolean.valueOf(s);
            case "path" -> Path.of(s);
            default -> s;
        };
    }

    /**
     * The effective settings of a parsed command as YAML: every setting with a value, after the
     * command line, the config file and the defaults were merged.
     */
    static String toYaml(CommandSpec command) {
        Map<String, Object> settings = new LinkedHashMap<>();
        for (OptionSpec o : command.options()) {
            Object v = o.getValue();
            if (isSaved(o) && v != null) {
                settings.put(o.longestName().substring(2), yamlValue(v));
            }
        }
        DumperOptions style = new DumperOptions();
        style.setDefaultFlowStyle(DumperOptions.FlowStyle.BLOCK);
        style.setWidth(Integer.MAX_VALUE);
        String body = new Yaml(new Representer(style), style).dump(settings);
        return "# atelier " + command.qualifiedName().replaceFirst("^atelier ", "") + " settings (--save-config); "
                + "repeat the run with --config-file\n" + body;
    }

    /** Writes {@link #toYaml} to target atomically. */
    static void save(CommandSpec command, Path target) {
        AtomicFiles.write(target, toYaml(command).getBytes(StandardCharsets.UTF_8));
    }

    private static Object yamlValue(Object v) {
        if (v instanceof Collection<?> c) {
            return c.stream().map(ConfigFile::yamlValue).toList();
        }
        if (v instanceof Float f) {
            // As a string that reads back to the same float (a double would print more digits).
            return Double.valueOf(Float.toString(f));
        }
        if (v instanceof Number || v instanceof Boolean || v instanceof String) {
            return v;
        }
        return v instanceof Enum<?> e ? e.name() : v.toString();
    }

    private static CommandLine.ParameterException bad(CommandSpec command, String message) {
        return new CommandLine.ParameterException(command.commandLine(), message);
    }
}
