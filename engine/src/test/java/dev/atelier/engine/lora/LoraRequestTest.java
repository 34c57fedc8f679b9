package dev.atelier.engine.lora;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LoraRequestTest {
    @Test
    void optionTakesOneOrTwoMultipliers() {
        assertEquals(new LoraRequest(Path.of("a.safetensors"), 1f, 1f), LoraRequest.parseOption("a.safetensors"));
        assertEquals(new LoraRequest(Path.of("a.safetensors"), 0.8f, 0.8f), LoraRequest.parseOption("a.safetensors:0.8"));
        assertEquals(new LoraRequest(Path.of("a.safetensors"), 0.8f, 0.3f),
                LoraRequest.parseOption("a.safetensors:0.8:0.3"));
        // A colon in the path that is not followed by a number stays in the path.
        assertEquals(new LoraRequest(Path.of("C:/x/a.safetensors"), -0.5f, -0.5f),
                LoraRequest.parseOption("C:/x/a.safetensors:-0.5"));
        assertThrows(InvalidInputException.class, () -> LoraRequest.parseOption(":0.5"));
    }

    @Test
    void promptTagsAreRemovedAndResolved(@TempDir Path dir) throws IOException {
        Path jacket = Files.createFile(dir.resolve("jacket.safetensors"));
        Files.createDirectories(dir.resolve("styles"));
        Path denim = Files.createFile(dir.resolve("styles/denim.safetensors"));
        LoraRequest.FromPrompt p = LoraRequest.fromPrompt(
                "a photo of <lora:jacket:0.8> a jacket, <lora:denim:0.5:1.2> studio light <lora:jacket>", dir);
        assertEquals("a photo of a jacket, studio light", p.prompt());
        assertEquals(List.of(new LoraRequest(jacket, 0.8f, 0.8f), new LoraRequest(denim, 1.2f, 0.5f),
                new LoraRequest(jacket, 1f, 1f)), p.loras());
        LoraRequest.FromPrompt named = LoraRequest.fromPrompt("<lora:jacket:te=0.2:unet=0.7>x", dir);
        assertEquals("x", named.prompt());
        assertEquals(List.of(new LoraRequest(jacket, 0.7f, 0.2f)), named.loras());
        assertEquals("no tags here", LoraRequest.fromPrompt("no tags here", null).prompt());
    }

    @Test
    void badTagsAreClearErrors(@TempDir Path dir) {
        assertThrows(InvalidInputException.class, () -> LoraRequest.fromPrompt("<lora:missing:1>", dir));
        assertThrows(InvalidInputException.class, () -> LoraRequest.fromPrompt("<lora:x:1>", null));
        assertThrows(InvalidInputException.class, () -> LoraRequest.fromPrompt("<lora:x:abc>", dir));
    }
}
