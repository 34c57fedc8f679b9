package dev.atelier.tools.serve;

import static dev.atelier.tools.serve.ApiServerTest.assertError;
import static dev.atelier.tools.serve.ApiServerTest.body;
import static dev.atelier.tools.serve.ApiServerTest.images;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** LoRAs added and removed through the API of a running server, over real HTTP on the sd15-tiny model. */
class LoraRoutesTest {
    @TempDir
    Path dir;

    private static HttpResponse<String> put(TestServer s, String name, byte[] file) {
        return s.send(s.request("/atelier/v1/loras/" + name).header("Content-Type", "application/octet-stream")
                .PUT(HttpRequest.BodyPublishers.ofByteArray(file)).build());
    }

    private static HttpResponse<String> delete(TestServer s, String name) {
        return s.send(s.request("/atelier/v1/loras/" + name).DELETE().build());
    }

    private static List<String> listed(TestServer s) {
        List<String> names = new ArrayList<>();
        TestServer.json(s.get("/sdapi/v1/loras")).forEach(n -> names.add(n.get("name").asText()));
        return names;
    }

    private static List<String> files(Path folder) throws IOException {
        try (Stream<Path> f = Files.list(folder)) {
            return f.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    /** A well-formed safetensors file of one F32 tensor that is no LoRA's. */
    private byte[] notALora() throws IOException {
        Path file = dir.resolve("model-weight.safetensors");
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            new SafeTensorsWriter().add("model.weight", TensorView.ofFloats(arena, new float[] {1, 2}, 2)).write(file);
        }
        return Files.readAllBytes(file);
    }

    private static int[] pixels(BufferedImage image) {
        return image.getRGB(0, 0, image.getWidth(), image.getHeight(), null, 0, image.getWidth());
    }

    @Test
    void anUploadedLoraServesPromptsAtOnceAndCanBeRemoved() throws Exception {
        Path loras = dir.resolve("loras");
        try (TestServer s = new TestServer(loras, 8, TestServer.options())) {
            byte[] lora = Files.readAllBytes(TestServer.fixtures().resolve("lora_kohya.safetensors"));
            HttpResponse<String> up = put(s, "customer-42", lora);
            assertEquals(201, up.statusCode(), up.body());
            JsonNode answer = TestServer.json(up);
            assertEquals("customer-42", answer.get("name").asText());
            assertEquals(lora.length, answer.get("bytes").asLong());
            assertEquals(List.of("customer-42", "other", "style"), listed(s));

            // The same bytes under the fixture's other name: the same image.
            BufferedImage uploaded = images(s.post("/sdapi/v1/txt2img", body("a red jacket <lora:customer-42:0.8>", 11, "Euler", 2, 1))).getFirst();
            BufferedImage style = images(s.post("/sdapi/v1/txt2img", body("a red jacket <lora:style:0.8>", 11, "Euler", 2, 1))).getFirst();
            BufferedImage none = images(s.post("/sdapi/v1/txt2img", body("a red jacket", 11, "Euler", 2, 1))).getFirst();
            assertArrayEquals(pixels(style), pixels(uploaded));
            assertEquals(false, java.util.Arrays.equals(pixels(none), pixels(uploaded)), "the LoRA changes the image");

            assertEquals(200, delete(s, "customer-42").statusCode());
            assertEquals(List.of("other", "style"), listed(s));
            assertError(delete(s, "customer-42"), 404, "customer-42");
            assertError(s.post("/sdapi/v1/txt2img", body("a red jacket <lora:customer-42:0.8>", 11, "Euler", 2, 1)), 400,
                    "customer-42");
        }
    }

    @Test
    void refusedUploadsLeaveTheFolderAsItWas() throws Exception {
        Path loras = dir.resolve("loras");
        try (TestServer s = new TestServer(loras, 8, TestServer.options())) {
            List<String> before = files(loras);
            byte[] lora = Files.readAllBytes(TestServer.fixtures().resolve("lora_kohya.safetensors"));
            assertError(put(s, "style", "not a safetensors file".getBytes()), 400, "LoRA \"style\" refused");
            assertError(put(s, ".hidden", lora), 400, "LoRA name");
            assertError(put(s, "big", new byte[(4 << 20) + 1]), 413, "at most " + (4 << 20));
            // A well-formed safetensors file without one LoRA tensor.
            assertError(put(s, "other", notALora()), 400, "LoRA \"other\" refused");
            assertEquals(before, files(loras), "nothing added, replaced or left behind");
            assertArrayEquals(lora, Files.readAllBytes(loras.resolve("style.safetensors")));
        }
    }
}
