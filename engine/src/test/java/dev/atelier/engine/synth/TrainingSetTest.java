package dev.atelier.engine.synth;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainingSetTest {
    @TempDir
    Path dir;

    @Test
    void metadataDescribesEveryImage() throws Exception {
        Path set = dir.resolve("train");
        assertEquals(60, TrainingSet.write(set, 60, 32, 11));
        List<String> lines = Files.readAllLines(set.resolve("metadata.jsonl"));
        assertEquals(60, lines.size());
        ObjectMapper json = new ObjectMapper();
        java.util.Set<String> types = new java.util.HashSet<>();
        for (int i = 0; i < lines.size(); i++) {
            JsonNode row = json.readTree(lines.get(i));
            assertEquals(List.of("file", "category", "color", "secondary", "pattern", "caption"),
                    iterable(row.fieldNames()));
            assertEquals(String.format("%06d.png", i), row.get("file").asText());
            GarmentType type = GarmentType.fromWord(row.get("category").asText());
            GarmentColour colour = GarmentColour.fromWord(row.get("color").asText());
            GarmentColour secondary = GarmentColour.fromWord(row.get("secondary").asText());
            GarmentPattern pattern = GarmentPattern.fromWord(row.get("pattern").asText());
            assertNotEquals(colour, secondary);
            assertEquals(colour.word() + " " + pattern.word() + " " + type.word(), row.get("caption").asText());
            BufferedImage image = ImageIO.read(set.resolve(row.get("file").asText()).toFile());
            assertEquals(32, image.getWidth());
            types.add(type.word());
        }
        assertEquals(GarmentType.values().length, types.size(), types.toString());
        try (var files = Files.list(set)) {
            assertEquals(61, files.count());
        }
    }

    @Test
    void theSameSeedGivesTheSameSet() throws Exception {
        TrainingSet.write(dir.resolve("a"), 5, 32, 2);
        TrainingSet.write(dir.resolve("b"), 5, 32, 2);
        assertEquals(Files.readString(dir.resolve("a/metadata.jsonl")), Files.readString(dir.resolve("b/metadata.jsonl")));
        for (int i = 0; i < 5; i++) {
            BufferedImage x = ImageIO.read(dir.resolve("a/" + TrainingSet.fileName(i)).toFile());
            BufferedImage y = ImageIO.read(dir.resolve("b/" + TrainingSet.fileName(i)).toFile());
            assertArrayEquals(x.getRGB(0, 0, 32, 32, null, 0, 32), y.getRGB(0, 0, 32, 32, null, 0, 32));
        }
        TrainingSet.write(dir.resolve("c"), 5, 32, 3);
        assertNotEquals(Files.readString(dir.resolve("a/metadata.jsonl")), Files.readString(dir.resolve("c/metadata.jsonl")));
    }

    @Test
    void badArgumentsAreRejected() throws Exception {
        InvalidInputException e = assertThrows(InvalidInputException.class, () -> TrainingSet.write(dir.resolve("t"), -1, 64, 1));
        assertEquals("count must be between 1 and 1000000, got -1", e.getMessage());
        Path file = Files.writeString(dir.resolve("file"), "x");
        e = assertThrows(InvalidInputException.class, () -> TrainingSet.write(file, 3, 64, 1));
        assertTrue(e.getMessage().endsWith("file is a file; the output must be a folder"), e.getMessage());
    }

    private static List<String> iterable(java.util.Iterator<String> it) {
        List<String> out = new java.util.ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }
}
