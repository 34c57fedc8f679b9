package dev.atelier.tools;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** atelier batch on the fixture model: PNGs and manifest, resuming, and bad lines found before any work. */
class BatchCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static Path fixtures() {
        return CatalogCliTest.mobilenet().getParent();
    }

    /** Two LoRAs, "style" and "other" (the fixture's kohya LoRA under two names). */
    private Path loras() throws IOException {
        Path loras = Files.createDirectories(dir.resolve("loras"));
        for (String name : List.of("style", "other")) {
            Files.copy(fixtures().resolve("lora_kohya.safetensors"), loras.resolve(name + ".safetensors"));
        }
        return loras;
    }

    private CliRun batch(Path jobs, Path out, Path loras) {
        Path model = fixtures().resolve("model");
        return CliRun.of("batch", jobs.toString(), "--out", out.toString(), "--model",
                model.resolve("model.safetensors").toString(), "--config", model.resolve("model.yaml").toString(),
                "--loras", loras.toString(), "--max-batch", "4", "--threads", "1", "--json");
    }

    private static Map<String, JsonNode> manifest(Path out) throws IOException {
        Map<String, JsonNode> byId = new TreeMap<>();
        for (String line : Files.readAllLines(out.resolve("manifest.jsonl"))) {
            JsonNode n = JSON.readTree(line);
            byId.put(n.get("id").asText(), n);
        }
        return byId;
    }

    @Test
    void writesPngsAndManifestThenResumesWithoutRedoingFinishedRequests() throws IOException {
        Path loras = loras();
        Path jobs = dir.resolve("jobs.jsonl");
        Files.writeString(jobs, String.join("\n",
                "{\"id\": \"a\", \"prompt\": \"jacket <lora:style:0.8>\", \"seed\": 7, \"steps\": 2, \"width\": 64, "
                        + "\"height\": 64, \"sampler_name\": \"Euler\"}",
                "{\"id\": \"b\", \"prompt\": \"coat <lora:other:1>\", \"seed\": 11, \"steps\": 3, \"width\": 64, "
                        + "\"height\": 64, \"batch_size\": 2, \"cfg_scale\": 5}",
                "",
                "{\"prompt\": \"dress\", \"seed\": -1, \"steps\": 2, \"width\": 64, \"height\": 64, "
                        + "\"sampler_name\": \"DPM++ 2M Karras\", \"unknown_field\": true}") + "\n");
        Path out = dir.resolve("out");

        CliRun first = batch(jobs, out, loras);
        assertEquals(0, first.code(), first.err());
        assertEquals(3, first.json().get("done").asInt());
        assertEquals(0, first.json().get("skipped").asInt());
        assertEquals(4, first.json().get("images").asInt());
        Map<String, JsonNode> m = manifest(out);
        assertEquals(List.of("4", "a", "b"), List.copyOf(m.keySet()), "the blank line 3 counts: the last id is 4");
        assertEquals("[\"a-0-7.png\"]", m.get("a").get("files").toString());
        assertEquals("[11,12]", m.get("b").get("seeds").toString());
        assertEquals("[\"b-0-11.png\",\"b-1-12.png\"]", m.get("b").get("files").toString());
        long drawn = m.get("4").get("seeds").get(0).asLong();
        assertTrue(drawn >= 0 && drawn <= 0xFFFFFFFFL, "seed -1 is drawn and recorded: " + drawn);
        assertEquals("4-0-" + drawn + ".png", m.get("4").get("files").get(0).asText());
        assertParameters(out.resolve("a-0-7.png"), "Seed: 7,", "Steps: 2, Sampler: Euler,", "<lora:style:0.8>");
        assertParameters(out.resolve("b-1-12.png"), "Seed: 12,", "CFG scale: 5", "<lora:other:1>");
        assertParameters(out.resolve("4-0-" + drawn + ".png"), "Seed: " + drawn + ",", "DPM++ 2M Karras");
        assertEquals(4, pngs(out).size(), pngs(out).toString());

        // An interrupted append leaves at most a line without its newline: the next run drops it.
        Files.writeString(out.resolve("manifest.jsonl"), "{\"id\": \"b\", \"fil", java.nio.file.StandardOpenOption.APPEND);
        CliRun again = batch(jobs, out, loras);
        assertEquals(0, again.code(), again.err());
        assertEquals(0, again.json().get("done").asInt());
        assertEquals(3, again.json().get("skipped").asInt());
        assertTrue(again.err().contains("3 of 3 requests already done"), again.err());
        assertEquals(3, Files.readAllLines(out.resolve("manifest.jsonl")).size());

        // Without its manifest line, request b runs again, and only b.
        List<String> lines = new ArrayList<>(Files.readAllLines(out.resolve("manifest.jsonl")));
        assertTrue(lines.removeIf(l -> l.contains("\"id\":\"b\"")), lines.toString());
        Files.write(out.resolve("manifest.jsonl"), lines);
        long aModified = Files.getLastModifiedTime(out.resolve("a-0-7.png")).toMillis();
        CliRun redo = batch(jobs, out, loras);
        assertEquals(0, redo.code(), redo.err());
        assertEquals(1, redo.json().get("done").asInt());
        assertEquals(2, redo.json().get("skipped").asInt());
        assertEquals(2, redo.json().get("images").asInt());
        assertTrue(redo.err().contains("2 of 3 requests already done"), redo.err());
        assertEquals(List.of("4", "a", "b"), List.copyOf(manifest(out).keySet()));
        assertEquals(drawn, manifest(out).get("4").get("seeds").get(0).asLong(), "the random seed is not drawn again");
        assertEquals(aModified, Files.getLastModifiedTime(out.resolve("a-0-7.png")).toMillis());
        assertParameters(out.resolve("b-0-11.png"), "Seed: 11,");
        assertEquals(4, pngs(out).size(), pngs(out).toString());
    }

    @Test
    void aBadLineIsBadInputBeforeAnyImage() throws IOException {
        Path loras = loras();
        String good = "{\"id\": \"ok\", \"prompt\": \"jacket\", \"steps\": 2, \"width\": 64, \"height\": 64}";
        Map<String, String> bad = Map.of(
                "unknown sampler \"Nope\"", "{\"prompt\": \"x\", \"sampler_name\": \"Nope\"}",
                "malformed JSON", "{\"prompt\": \"x\", ",
                "field \"id\" must be", "{\"id\": \"../up\", \"prompt\": \"x\"}",
                "no missing.safetensors", "{\"prompt\": \"x <lora:missing:1>\"}",
                "already used on line 1", good);
        for (Map.Entry<String, String> c : bad.entrySet()) {
            Path jobs = dir.resolve("jobs-" + Math.abs(c.getKey().hashCode()) + ".jsonl");
            // The bad line comes second: the good first line must not have run either.
            Files.writeString(jobs, good + "\n" + c.getValue() + "\n");
            Path out = dir.resolve("out-" + Math.abs(c.getKey().hashCode()));
            CliRun r = batch(jobs, out, loras);
            assertEquals(2, r.code(), c.getKey() + ": " + r.err());
            assertTrue(r.err().startsWith("atelier: " + jobs + ":2: ") && r.err().contains(c.getKey()), r.err());
            assertFalse(Files.exists(out), "nothing written for " + c.getKey());
        }
    }

    private static List<Path> pngs(Path out) throws IOException {
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(p -> p.toString().endsWith(".png")).sorted().toList();
        }
    }

    private static void assertParameters(Path png, String... parts) throws IOException {
        BufferedImage image = ImageIO.read(png.toFile());
        assertNotNull(image, png + " decodes");
        assertEquals(64, image.getWidth());
        assertEquals(64, image.getHeight());
        String bytes = new String(Files.readAllBytes(png), StandardCharsets.ISO_8859_1);
        int at = bytes.indexOf("parameters\0");
        assertTrue(at > 0, png + ": no parameters chunk");
        String text = bytes.substring(at, Math.min(bytes.length(), at + 600));
        for (String part : parts) {
            assertTrue(text.contains(part), png + ": no \"" + part + "\" in " + text);
        }
    }
}
