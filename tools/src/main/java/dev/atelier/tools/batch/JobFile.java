package dev.atelier.tools.batch;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.lora.LoraRequest;
import dev.atelier.engine.util.TextFiles;
import dev.atelier.tools.serve.ApiException;
import dev.atelier.tools.serve.ServerLimits;
import dev.atelier.tools.serve.Txt2ImgRequest;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A JSON Lines file of txt2img requests, read and checked whole before any work starts: each
 * non-blank line is an object with the HTTP API's fields (same names, defaults and errors) and
 * an optional "id" (default: the line number). The first bad line is an input error that names
 * the file, the line and the problem.
 */
public final class JobFile {
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9._-]{1,100}");
    // One value per line: "{} {}" is an error, not the first object.
    private static final ObjectMapper JSON = new ObjectMapper().enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private JobFile() {}

    /**
     * The requests of file in order. LoRAs named by {@code <lora:NAME:W>} must exist under
     * loraDir; seeds of -1 are drawn here.
     */
    public static List<BatchJob> read(Path file, ServerLimits limits, Path loraDir) {
        List<BatchJob> jobs = new ArrayList<>();
        Map<String, Integer> seen = new HashMap<>();
        try {
            int number = 0;
            for (String text : TextFiles.readLines(file)) {
                number++;
                if (text.isBlank()) {
                    continue;
                }
                BatchJob job = line(file, number, text, limits, loraDir);
                Integer earlier = seen.putIfAbsent(job.id(), number);
                if (earlier != null) {
                    throw bad(file, number, "id \"" + job.id() + "\" is already used on line " + earlier);
                }
                jobs.add(job);
            }
        } catch (IOException e) {
            if (e instanceof java.nio.file.NoSuchFileException) {
                throw new InvalidInputException(file + ": no such file");
            }
            throw new UncheckedIOException(file + ": " + e.getMessage(), e);
        }
        if (jobs.isEmpty()) {
            throw new InvalidInputException(file + ": no requests (one JSON object per line)");
        }
        return jobs;
    }

    private static BatchJob line(Path file, int number, String text, ServerLimits limits, Path loraDir) {
        JsonNode root;
        try {
            root = JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw bad(file, number, "malformed JSON: " + e.getOriginalMessage());
        }
        String id = root != null && root.isObject() ? id(file, number, root) : null;
        try {
            Txt2ImgRequest request = Txt2ImgRequest.parse(root, limits);
            LoraRequest.fromPrompt(request.generation().prompt(), loraDir); // unknown LoRAs fail now, not mid-run
            return new BatchJob(id, number, request.generation());
        } catch (ApiException | InvalidInputException e) {
            throw bad(file, number, e.getMessage());
        }
    }

    private static String id(Path file, int number, JsonNode root) {
        JsonNode v = root.get("id");
        if (v == null || v.isNull()) {
            return Integer.toString(number);
        }
        String id = v.isTextual() ? v.asText() : v.isIntegralNumber() ? v.asText() : null;
        if (id == null || !ID.matcher(id).matches()) {
            throw bad(file, number, "field \"id\" must be 1 to 100 of A-Z a-z 0-9 . _ - (it names the files), got "
                    + v);
        }
        return id;
    }

    private static InvalidInputException bad(Path file, int number, String problem) {
        return new InvalidInputException(file + ":" + number + ": " + problem);
    }
}
