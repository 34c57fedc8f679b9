package dev.atelier.tools.batch;

import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A manifest names files inside its own folder only: anything else would mark a request done. */
class ManifestTest {
    @TempDir
    Path dir;

    @Test
    void fileNamesOutsideTheFolderAreBadInputNamingTheLine() throws IOException {
        for (String name : List.of("../../etc/passwd", "/etc/passwd", "a/../../x.png", "x\\u0000.png")) {
            Files.writeString(dir.resolve("manifest.jsonl"), "{\"id\":\"a\",\"files\":[\"a-0-1.png\"],\"seeds\":[1]}\n"
                    + "{\"id\":\"b\",\"files\":[\"" + name + "\"],\"seeds\":[2]}\n");
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> Manifest.open(dir).close(), name);
            assertTrue(e.getMessage().contains("manifest.jsonl:2:") && e.getMessage().contains("is not a name inside"), e.getMessage());
        }
        Files.writeString(dir.resolve("manifest.jsonl"), "{\"id\":\"b\",\"files\":[\"sub/../b-0-2.png\"],\"seeds\":[2]}\n");
        try (Manifest m = Manifest.open(dir)) {
            assertEquals(List.of("sub/../b-0-2.png"), m.get("b").files());
        }
    }
}
