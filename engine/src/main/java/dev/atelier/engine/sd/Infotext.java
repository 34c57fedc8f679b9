package dev.atelier.engine.sd;

import dev.atelier.engine.lora.LoraFile;
import dev.atelier.engine.lora.LoraRequest;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** A1111's generation-parameters text ("infotext"), stored in the PNG {@code parameters} chunk. */
public final class Infotext {
    private Infotext() {}

    /**
     * "prompt\nNegative prompt: neg\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 512x512,
     * Model hash: 0123456789, Model: name[, Clip skip: 2][, Schedule source: checkpoint]"; the negative
     * line only when there is one, settings at their default left out (A1111 processing.py
     * create_infotext).
     */
    public static String of(GenerationRequest r, long seed, String modelHash, String modelName, ScheduleSource schedule) {
        return of(r, seed, modelHash, modelName, schedule, List.of());
    }

    /**
     * {@link #of(GenerationRequest, long, String, String, ScheduleSource)} for a request run with
     * LoRAs: A1111's {@code Lora hashes: "name: hash, ..."} (the file name without extension,
     * {@link LoraFile#shortHash}), after the other settings. The prompt is the request's, with any
     * {@code <lora:NAME:W>} tags in it, as A1111 records it.
     */
    public static String of(GenerationRequest r, long seed, String modelHash, String modelName, ScheduleSource schedule,
            List<LoraRequest> loras) {
        StringBuilder sb = new StringBuilder(oneLine(r.prompt()));
        if (!r.negative().isEmpty()) {
            sb.append("\nNegative prompt: ").append(oneLine(r.negative()));
        }
        sb.append("\nSteps: ").append(r.steps());
        sb.append(", Sampler: ").append(r.sampler().displayName());
        sb.append(", CFG scale: ").append(number(r.cfg()));
        sb.append(", Seed: ").append(seed);
        sb.append(", Size: ").append(r.width()).append('x').append(r.height());
        if (modelHash != null) {
            sb.append(", Model hash: ").append(modelHash);
        }
        if (modelName != null) {
            sb.append(", Model: ").append(modelName);
        }
        if (r.eta() >= 0) {
            sb.append(", Eta: ").append(number(r.eta()));
        }
        if (r.clipSkip() > 1) {
            sb.append(", Clip skip: ").append(r.clipSkip());
        }
        if (schedule != ScheduleSource.CONFIG) {
            sb.append(", Schedule source: ").append(schedule.id());
        }
        if (!loras.isEmpty()) {
            Map<String, String> hashes = new LinkedHashMap<>();
            for (LoraRequest l : loras) {
                hashes.putIfAbsent(name(l.path()), LoraFile.shortHash(l.path()));
            }
            StringBuilder list = new StringBuilder();
            hashes.forEach((name, hash) -> list.append(list.isEmpty() ? "" : ", ").append(name).append(": ").append(hash));
            sb.append(", Lora hashes: ").append(quote(list.toString()));
        }
        return sb.toString();
    }

    /** A LoRA's name as A1111 shows it: the file name without its extension. */
    static String name(Path lora) {
        return lora.getFileName().toString().replaceFirst("\\.[^.]*$", "");
    }

    /**
     * A prompt on one line: each line break as a space. The parameters text is read line by line
     * (the prompt, a line starting "Negative prompt: ", the settings last), so a line break in a
     * prompt could forge a negative prompt or a settings line for whoever reads the file back;
     * the CLIP tokenizer reads any run of whitespace as one space, so the line still says exactly
     * what the text encoder was given.
     */
    static String oneLine(String prompt) {
        return prompt.replaceAll("\\R", " ");
    }

    /** A1111's infotext quoting of a value holding ',', ':' or a line break: a JSON string. */
    static String quote(String value) {
        if (value.indexOf(',') < 0 && value.indexOf(':') < 0 && value.indexOf('\n') < 0) {
            return value;
        }
        StringBuilder q = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            switch (c) {
                case '"' -> q.append("\\\"");
                case '\\' -> q.append("\\\\");
                case '\n' -> q.append("\\n");
                case '\r' -> q.append("\\r");
                case '\t' -> q.append("\\t");
                default -> q.append(c < 0x20 ? String.format(Locale.ROOT, "\\u%04x", (int) c) : String.valueOf(c));
            }
        }
        return q.append('"').toString();
    }

    /** 7 -> "7", 7.5 -> "7.5". */
    static String number(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) {
            return Long.toString((long) v);
        }
        return String.format(Locale.ROOT, "%s", v);
    }
}
