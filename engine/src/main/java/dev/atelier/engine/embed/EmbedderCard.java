package dev.atelier.engine.embed;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * What a weights file says about itself beyond its tensors, in safetensors metadata: the
 * preprocessing its network was trained with ({@code atelier.transform}: JSON {@code {"resize":
 * 128, "crop": 128, "mean": [3], "std": [3]}}) and the meaning of its logits
 * ({@code atelier.heads}, {@link ClassHeads}). torchvision's published weights carry neither: their
 * transforms follow the {@link ImagenetWeights} chosen, and their logits are ImageNet classes.
 */
public record EmbedderCard(Optional<ImageTransform> transform, Optional<ClassHeads> heads) {
    public static final String TRANSFORM = "atelier.transform", HEADS = "atelier.heads";
    public static final EmbedderCard NONE = new EmbedderCard(Optional.empty(), Optional.empty());

    /** The card of a weights file: read from a .safetensors file's metadata, empty for other files. */
    public static EmbedderCard of(Path weights) {
        if (!weights.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".safetensors")) {
            return NONE;
        }
        try (SafeTensorsFile file = SafeTensorsFile.open(weights)) {
            return of(file.metadata());
        } catch (FormatException e) {
            throw new FormatException(weights + ": " + e.getMessage(), e);
        }
    }

    /** The card in a safetensors metadata map. */
    public static EmbedderCard of(Map<String, String> metadata) {
        Optional<ImageTransform> transform = Optional.ofNullable(metadata.get(TRANSFORM)).map(EmbedderCard::parseTransform);
        Optional<ClassHeads> heads = Optional.ofNullable(metadata.get(HEADS)).map(ClassHeads::parse);
        return new EmbedderCard(transform, heads);
    }

    /** The declared transform, else the one of the ImageNet weight set given. */
    public ImageTransform transformOr(ImagenetWeights weights) {
        return transform.orElseGet(weights::transform);
    }

    private static ImageTransform parseTransform(String json) {
        JsonNode t;
        try {
            t = new ObjectMapper().readTree(json);
        } catch (JsonProcessingException e) {
            throw new FormatException(TRANSFORM + " is not JSON: " + e.getOriginalMessage());
        }
        if (t == null || !t.isObject() || !t.path("resize").isInt() || !t.path("crop").isInt()) {
            throw new FormatException(TRANSFORM + " must be an object with integer resize and crop, got " + json);
        }
        float[] mean = triple(t, "mean", ImageTransform.IMAGENET_MEAN), std = triple(t, "std", ImageTransform.IMAGENET_STD);
        int resize = t.get("resize").asInt(), crop = t.get("crop").asInt();
        if (crop > 4096 || resize > 4096) {
            throw new FormatException(TRANSFORM + ": resize and crop must be at most 4096, got " + resize + ", " + crop);
        }
        for (float s : std) {
            if (!(s > 0)) {
                throw new FormatException(TRANSFORM + ": std values must be > 0, got " + json);
            }
        }
        try {
            return new ImageTransform(resize, crop, mean, std);
        } catch (RuntimeException e) {
            throw new FormatException(TRANSFORM + ": " + e.getMessage());
        }
    }

    private static float[] triple(JsonNode t, String field, float[] absent) {
        JsonNode a = t.get(field);
        if (a == null) {
            return absent;
        }
        if (!a.isArray() || a.size() != 3 || !a.get(0).isNumber() || !a.get(1).isNumber() || !a.get(2).isNumber()) {
            throw new FormatException(TRANSFORM + "." + field + " must be three numbers, got " + a);
        }
        return new float[] {a.get(0).floatValue(), a.get(1).floatValue(), a.get(2).floatValue()};
    }
}
