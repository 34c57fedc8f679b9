package dev.atelier.engine.embed;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException.FormatException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What an embedder's logits mean when its last Linear holds several classifiers side by side:
 * each head (e.g. "type", "pattern", "color") owns consecutive outputs, in order, one per label.
 * Declared by the weights file's {@code atelier.heads} metadata, a JSON object of head name to
 * label list: {@code {"type": ["jacket", "coat", ...], "pattern": [...], ...}}.
 */
public record ClassHeads(Map<String, List<String>> heads) {
    public ClassHeads {
        Map<String, List<String>> copy = new LinkedHashMap<>();
        heads.forEach((name, labels) -> {
            if (labels.isEmpty()) {
                throw new FormatException("class heads: head \"" + name + "\" has no labels");
            }
            copy.put(name, List.copyOf(labels));
        });
        heads = java.util.Collections.unmodifiableMap(copy);
    }

    /** Parses the metadata value; a FormatException names what is wrong. */
    public static ClassHeads parse(String json) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(json);
        } catch (JsonProcessingException e) {
            throw new FormatException("atelier.heads is not JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject() || root.isEmpty()) {
            throw new FormatException("atelier.heads must be a JSON object of head name to label list");
        }
        Map<String, List<String>> heads = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : root.properties()) {
            List<String> labels = new ArrayList<>();
            if (!e.getValue().isArray()) {
                throw new FormatException("atelier.heads." + e.getKey() + " must be a list of labels");
            }
            for (JsonNode label : e.getValue()) {
                if (!label.isTextual()) {
                    throw new FormatException("atelier.heads." + e.getKey() + " must hold strings, got " + label);
                }
                labels.add(label.asText());
            }
            heads.put(e.getKey(), labels);
        }
        return new ClassHeads(heads);
    }

    /** Outputs over all heads. */
    public int size() {
        return heads.values().stream().mapToInt(List::size).sum();
    }

    /** The labels of a head, if the weights have it. */
    public Optional<List<String>> labels(String head) {
        return Optional.ofNullable(heads.get(head));
    }

    /** The label of head with the highest score in one row of logits (first on ties). */
    public String classify(float[] logits, String head) {
        if (logits.length != size()) {
            throw new FormatException("class heads: a logits row has " + logits.length + " values, the heads " + size());
        }
        int offset = 0;
        for (Map.Entry<String, List<String>> e : heads.entrySet()) {
            int n = e.getValue().size();
            if (e.getKey().equals(head)) {
                int best = offset;
                for (int i = offset + 1; i < offset + n; i++) {
                    if (logits[i] > logits[best]) {
                        best = i;
                    }
                }
                return e.getValue().get(best - offset);
            }
            offset += n;
        }
        throw new FormatException("class heads: no head \"" + head + "\" (have " + new ArrayList<>(heads.keySet()) + ")");
    }
}
