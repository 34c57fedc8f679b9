package dev.atelier.engine.lora;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.util.RelativeNames;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * One LoRA asked for by a user, with separate UNet and text-encoder multipliers, from the CLI
 * option {@code --lora PATH[:MULT[:TE_MULT]]} or from A1111's prompt syntax {@code <lora:name:MULT>}.
 *
 * @param path           the LoRA file
 * @param unetMultiplier multiplier of the UNet adapters
 * @param textMultiplier multiplier of the text-encoder adapters
 */
public record LoraRequest(Path path, float unetMultiplier, float textMultiplier) {
    // A1111 extra-network syntax: <lora:name>, <lora:name:m>, <lora:name:te:unet>, named te=/unet=.
    private static final Pattern PROMPT_TAG = Pattern.compile("<lora:([^:>]+)((?::[^:>]*)*)>");

    public LoraRequest {
        if (!Float.isFinite(unetMultiplier) || !Float.isFinite(textMultiplier)) {
            throw new InvalidInputException("lora " + path + ": multipliers must be finite numbers");
        }
    }

    /**
     * Parses {@code PATH}, {@code PATH:MULT} or {@code PATH:MULT:TE_MULT} (TE_MULT defaults to MULT, MULT to 1).
     * Trailing fields are taken as multipliers only when they are numbers, so paths with colons work.
     */
    public static LoraRequest parseOption(String spec) {
        String path = spec;
        List<Float> mults = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            int colon = path.lastIndexOf(':');
            if (colon < 0) {
                break;
            }
            Optional<Float> m = number(path.substring(colon + 1));
            if (m.isEmpty()) {
                break;
            }
            mults.addFirst(m.get());
            path = path.substring(0, colon);
        }
        if (path.isBlank()) {
            throw new InvalidInputException("--lora " + spec + ": no file given");
        }
        float unet = mults.isEmpty() ? 1f : mults.get(0);
        float text = mults.size() > 1 ? mults.get(1) : unet;
        return new LoraRequest(Path.of(path), unet, text);
    }

    private static Optional<Float> number(String s) {
        try {
            return s.isBlank() ? Optional.empty() : Optional.of(Float.parseFloat(s.trim()));
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    /**
     * A prompt with its {@code <lora:...>} tags removed, and the LoRAs they name.
     *
     * @param prompt the prompt as the text encoder should see it
     * @param loras  in the order of the tags
     */
    public record FromPrompt(String prompt, List<LoraRequest> loras) {}

    /**
     * Removes A1111's {@code <lora:name[:te[:unet]]>} tags (also {@code te=}/{@code unet=} named values)
     * from prompt and looks each name up in loraDir. A1111's positional order: the first number is
     * the text-encoder multiplier, the second the UNet's (default: the first).
     */
    public static FromPrompt fromPrompt(String prompt, Path loraDir) {
        Matcher m = PROMPT_TAG.matcher(prompt);
        List<LoraRequest> loras = new ArrayList<>();
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String name = m.group(1).trim();
            Float te = null;
            Float unet = null;
            List<Float> positional = new ArrayList<>();
            for (String field : m.group(2).isEmpty() ? new String[0] : m.group(2).substring(1).split(":")) {
                String f = field.trim();
                int eq = f.indexOf('=');
                String value = eq < 0 ? f : f.substring(eq + 1);
                float v = number(value).orElseThrow(() -> new InvalidInputException(
                        "prompt tag " + m.group() + ": \"" + field + "\" is not a number"));
                if (eq < 0) {
                    positional.add(v);
                } else if (f.startsWith("te")) {
                    te = v;
                } else if (f.startsWith("unet")) {
                    unet = v;
                } else {
                    throw new InvalidInputException("prompt tag " + m.group() + ": unknown setting \"" + f + "\"");
                }
            }
            if (te == null) {
                te = positional.isEmpty() ? 1f : positional.get(0);
            }
            if (unet == null) {
                unet = positional.size() > 1 ? positional.get(1) : te;
            }
            loras.add(new LoraRequest(find(name, loraDir), unet, te));
            m.appendReplacement(out, "");
        }
        m.appendTail(out);
        return new FromPrompt(tidy(out.toString()), List.copyOf(loras));
    }

    /**
     * The prompt as the text encoder sees it: {@link #fromPrompt} without looking the LoRAs up.
     * The tags stay in the prompt A1111 records in the PNG; they never reach the text encoder.
     */
    public static String withoutTags(String prompt) {
        return tidy(PROMPT_TAG.matcher(prompt).replaceAll(""));
    }

    /** Spaces left where tags were removed: runs of blanks become one, none before a comma. */
    private static String tidy(String prompt) {
        return prompt.replaceAll("[ \\t]{2,}", " ").replaceAll("\\s+,", ",").strip();
    }

    /** name.safetensors in dir or any folder below it (A1111 searches subfolders too). */
    static Path find(String name, Path dir) {
        if (dir == null) {
            throw new InvalidInputException("prompt asks for LoRA \"" + name + "\" but no --lora-dir is set");
        }
        String file = name.toLowerCase(Locale.ROOT).endsWith(".safetensors") ? name : name + ".safetensors";
        // A name is a file under dir: "../x", "/etc/x" or "a/../../x" would load files from elsewhere.
        if (!RelativeNames.staysInside(file)) {
            throw new InvalidInputException("LoRA name \"" + name + "\" leaves the LoRA folder " + dir);
        }
        Path root = dir.toAbsolutePath().normalize();
        Path direct = root.resolve(file).normalize();
        try {
            Path found;
            if (Files.isRegularFile(direct)) {
                found = direct;
            } else {
                try (Stream<Path> s = Files.walk(root)) {
                    found = s.filter(p -> p.getFileName().toString().equals(file) && Files.isRegularFile(p)).sorted()
                            .findFirst()
                            .orElseThrow(() -> new InvalidInputException(
                                    "prompt asks for LoRA \"" + name + "\": no " + file + " in " + dir));
                }
            }
            // A link inside the folder may point out of it.
            if (!found.toRealPath().startsWith(root.toRealPath())) {
                throw new InvalidInputException("LoRA name \"" + name + "\" leads out of the LoRA folder " + dir);
            }
            return found;
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": " + e.getMessage(), e);
        }
    }
}
