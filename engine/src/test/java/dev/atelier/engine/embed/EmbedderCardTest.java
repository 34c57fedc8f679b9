package dev.atelier.engine.embed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.onnx.MobileNetV3Config;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a weights file declares about its preprocessing and logits, and how bad declarations are refused. */
class EmbedderCardTest {
    private static final String HEADS = "{\"type\":[\"jacket\",\"dress\"],\"pattern\":[\"plain\",\"striped\",\"dotted\"]}";

    @Test
    void readsTransformAndHeads() {
        EmbedderCard card = EmbedderCard.of(Map.of(EmbedderCard.TRANSFORM, "{\"resize\":144,\"crop\":128,\"mean\":[0.5,0.5,0.5],"
                + "\"std\":[0.25,0.25,0.25]}", EmbedderCard.HEADS, HEADS));
        ImageTransform t = card.transformOr(ImagenetWeights.IMAGENET1K_V1);
        assertEquals(144, t.resizeSize());
        assertEquals(128, t.cropSize());
        assertEquals(0.25f, t.std()[2]);
        ClassHeads heads = card.heads().orElseThrow();
        assertEquals(5, heads.size());
        // Scores: type (jacket 0.1, dress 2), pattern (plain 3, striped -1, dotted 3: the first of equals).
        float[] logits = {0.1f, 2f, 3f, -1f, 3f};
        assertEquals("dress", heads.classify(logits, "type"));
        assertEquals("plain", heads.classify(logits, "pattern"));
        assertThrows(FormatException.class, () -> heads.classify(logits, "color"));
        assertThrows(FormatException.class, () -> heads.classify(new float[4], "type"));
    }

    @Test
    void torchvisionWeightsKeepTheirImagenetTransform() {
        EmbedderCard none = EmbedderCard.of(Map.of("format", "pt"));
        assertTrue(none.heads().isEmpty());
        assertEquals(232, none.transformOr(ImagenetWeights.IMAGENET1K_V2).resizeSize());
        assertEquals(224, none.transformOr(ImagenetWeights.IMAGENET1K_V2).cropSize());
    }

    @Test
    void badDeclarationsAreFormatErrors() {
        for (String transform : List.of("not json", "[]", "{\"resize\":128}", "{\"resize\":100,\"crop\":128}",
                "{\"resize\":128,\"crop\":128,\"std\":[1,0,1]}", "{\"resize\":128,\"crop\":128,\"mean\":[1,2]}",
                "{\"resize\":100000,\"crop\":128}", "{\"resize\":128,\"crop\":0}")) {
            FormatException e = assertThrows(FormatException.class, () -> EmbedderCard.of(Map.of(EmbedderCard.TRANSFORM, transform)),
                    transform);
            assertTrue(e.getMessage().contains(EmbedderCard.TRANSFORM), e.getMessage());
        }
        for (String heads : List.of("nope", "{}", "[\"a\"]", "{\"type\":\"jacket\"}", "{\"type\":[]}", "{\"type\":[1,2]}", "null")) {
            FormatException e = assertThrows(FormatException.class, () -> EmbedderCard.of(Map.of(EmbedderCard.HEADS, heads)), heads);
            assertTrue(e.getMessage().contains("heads"), e.getMessage());
        }
    }

    /** Heads that name more or fewer outputs than the network's last Linear has are refused when the embedder opens. */
    @Test
    void headsMustCoverTheLogits(@TempDir Path dir) {
        Path random = dir.resolve("five.safetensors");
        RandomMobileNetV3.write(random, 3, MobileNetV3Config.LARGE, 6);
        Path declared = dir.resolve("declared.safetensors");
        SafeTensorsWriter w = new SafeTensorsWriter();
        try (SafeTensorsFile f = SafeTensorsFile.open(random)) {
            for (String name : f.tensors().keySet()) {
                w.add(name, f.view(name));
            }
            w.metadata(EmbedderCard.HEADS, HEADS).write(declared);
        }
        FormatException e = assertThrows(FormatException.class, () -> TorchEmbedder.open(declared, EmbedderOptions.defaults()));
        assertTrue(e.getMessage().contains("name 5 outputs, the network has 6"), e.getMessage());
    }
}
