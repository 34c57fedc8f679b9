package dev.atelier.benchmarks.sd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The SD1.5 layout table that the native GPU benchmark driver reads (benchmarks/gpu/sd15_layout.tsv)
 * is the layout RandomCheckpoint writes: regenerate it with {@code RandomCheckpoint --layout-table}
 * when Sd15Layout changes.
 */
class LayoutTableTest {
    @Test
    void committedTableIsTheCurrentLayout() throws IOException {
        Path table = CompareScriptTest.repository().resolve("benchmarks/gpu/sd15_layout.tsv");
        assertTrue(Files.isRegularFile(table), table + " missing");
        String expected = RandomCheckpoint.layoutTable(Sd15Layout.sd15());
        assertEquals(expected, Files.readString(table, StandardCharsets.UTF_8),
                "benchmarks/gpu/sd15_layout.tsv is stale: RandomCheckpoint --layout-table writes it");
        List<String> lines = expected.lines().toList();
        assertEquals(Sd15Layout.sd15().tensors().size(), lines.size());
        assertTrue(lines.contains("model.diffusion_model.input_blocks.1.1.proj_in.weight\tWEIGHT\t320,320,1,1"),
                "a known SD1.5 tensor with its shape");
    }
}
