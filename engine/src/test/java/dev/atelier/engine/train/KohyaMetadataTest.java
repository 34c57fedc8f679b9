package dev.atelier.engine.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The JSON values of kohya's metadata read as Python's json.dumps writes them. */
class KohyaMetadataTest {
    @Test
    void jsonHasJsonDumpsSeparatorsAndEscapes() {
        Map<String, Object> tags = new LinkedHashMap<>();
        tags.put("a \"quoted\" tag", 2);
        tags.put("back\\slash\nline", 1);
        Map<String, Object> value = new LinkedHashMap<>();
        value.put("folder", tags);
        value.put("empty", Map.of());
        assertEquals("{\"folder\": {\"a \\\"quoted\\\" tag\": 2, \"back\\\\slash\\nline\": 1}, \"empty\": {}}",
                KohyaMetadata.json(value));
    }
}
