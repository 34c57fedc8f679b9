package dev.atelier.engine.sd;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.lora.LoraFile;
import dev.atelier.engine.lora.LoraRequest;
import dev.atelier.engine.util.Sha256;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A1111's "Lora hashes" in the PNG parameters, the prompt tags that stay in them, and prompts kept on their lines. */
class InfotextLorasTest {
    @TempDir
    Path dir;

    /** A safetensors file: header JSON, then body bytes. */
    private Path safetensors(String name, String header, byte[] body) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + body.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).put(body);
        Path p = dir.resolve(name);
        Files.write(p, b.array());
        return p;
    }

    @Test
    void loraHashesNameEachFileByItsStemWithTheHashOfItsTensorBytes() throws IOException {
        byte[] body = new byte[16];
        body[3] = 7;
        Path a = safetensors("style_a.safetensors", "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", body);
        // Same tensor bytes, other metadata: kohya's hash leaves the header out.
        Path b = safetensors("style_b.safetensors",
                "{\"__metadata__\":{\"ss_output_name\":\"b\"},\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                body);
        String want = Sha256.hex(body).substring(0, 12);
        assertEquals(want, LoraFile.shortHash(a));
        assertEquals(want, LoraFile.shortHash(b));

        GenerationRequest r = GenerationRequest.of("a jacket <lora:style_a:0.8>", "", 3);
        String text = Infotext.of(r, 3, "0123456789", "model", ScheduleSource.CONFIG,
                List.of(new LoraRequest(a, 0.8f, 0.8f), new LoraRequest(b, 1f, 1f), new LoraRequest(a, 0.5f, 0.5f)));
        assertTrue(text.startsWith("a jacket <lora:style_a:0.8>\nSteps: 20,"), text);
        assertTrue(text.endsWith(", Model: model, Lora hashes: \"style_a: " + want + ", style_b: " + want + "\""), text);
        assertFalse(Infotext.of(r, 3, "0123456789", "model", ScheduleSource.CONFIG).contains("Lora hashes"));

        Path notSafetensors = dir.resolve("x.safetensors");
        Files.write(notSafetensors, new byte[] {(byte) 0xff, 1, 2, 3, 4, 5, 6, 7, 8});
        assertThrows(FormatException.class, () -> LoraFile.shortHash(notSafetensors));
    }

    @Test
    void aLineBreakInAPromptCannotForgeALineOfTheParameters() {
        GenerationRequest r = GenerationRequest.of("a jacket\nNegative prompt: forged\r\nSteps: 999, Seed: 1", "blurry\u2028Steps: 1", 3);
        String text = Infotext.of(r, 3, null, null, ScheduleSource.CONFIG);
        List<String> lines = text.lines().toList();
        assertEquals(3, lines.size(), text);
        assertEquals("a jacket Negative prompt: forged Steps: 999, Seed: 1", lines.get(0));
        assertEquals("Negative prompt: blurry Steps: 1", lines.get(1));
        assertTrue(lines.get(2).startsWith("Steps: 20, Sampler: "), text);
    }

    @Test
    void quotingFollowsA1111() {
        assertEquals("plain", Infotext.quote("plain"));
        assertEquals("\"a: b\"", Infotext.quote("a: b"));
        assertEquals("\"say \\\"hi\\\", \\\\n\"", Infotext.quote("say \"hi\", \\n"));
    }

    @Test
    void promptTagsAreRemovedForTheTextEncoderOnly() {
        assertEquals("a jacket, red", LoraRequest.withoutTags("a <lora:x:0.5> jacket <lora:y>, red"));
        assertEquals("no tags here", LoraRequest.withoutTags("no tags here"));
    }
}
