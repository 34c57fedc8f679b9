package dev.atelier.engine.util;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.embed.Backend;
import dev.atelier.engine.embed.ImagenetWeights;
import dev.atelier.engine.index.es.VectorIndexType;
import dev.atelier.engine.sd.ScheduleSource;
import dev.atelier.engine.text.LongPromptMode;
import dev.atelier.engine.train.LrSchedule;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class EnumNamesTest {
    private enum Fabric { COTTON, WOOL, SILK, UNKNOWN }

    /** Two names for cotton, none for UNKNOWN (never parsed, never listed). */
    private static final Function<Fabric, List<String>> NAMES = f -> switch (f) {
        case COTTON -> List.of("cotton", "co");
        case UNKNOWN -> List.of();
        default -> List.of(f.name().toLowerCase(Locale.ROOT));
    };

    @Test
    void matchesAnyNameIgnoringCaseAndSurroundingBlanks() {
        Fabric[] values = Fabric.values();
        assertEquals(Fabric.WOOL, EnumNames.parse(values, NAMES, "wool", "fabric"));
        assertEquals(Fabric.SILK, EnumNames.parse(values, NAMES, " Silk\t", "fabric"));
        assertEquals(Fabric.COTTON, EnumNames.parse(values, NAMES, "CO", "fabric"));
        assertEquals(Optional.of(Fabric.COTTON), EnumNames.find(values, NAMES, " cotton "));
        assertEquals(Optional.empty(), EnumNames.find(values, NAMES, "unknown"));
        assertEquals(Optional.empty(), EnumNames.find(values, NAMES, null));
        assertEquals("cotton, co, wool, silk", EnumNames.known(values, NAMES));
    }

    @Test
    void anUnknownOrMissingNameIsBadInputListingTheKnownNames() {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> EnumNames.parse(Fabric.values(), NAMES, "linen", "fabric"));
        assertEquals("unknown fabric \"linen\"; known: cotton, co, wool, silk", e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> EnumNames.parse(Fabric.values(), NAMES, null, "fabric"));
        assertEquals("unknown fabric \"null\"; known: cotton, co, wool, silk", e.getMessage());
        e = assertThrows(InvalidInputException.class, () -> EnumNames.parse(Fabric.values(), NAMES, "", "fabric"));
        assertEquals("unknown fabric \"\"; known: cotton, co, wool, silk", e.getMessage());
    }

    /** The enums parsed through EnumNames accept the names they accepted before, and say the same thing when not. */
    @Test
    void theParsedEnumsKeepTheirNames() {
        assertEquals(LongPromptMode.CHUNKED, LongPromptMode.fromName("Chunked"));
        assertEquals(ScheduleSource.CHECKPOINT, ScheduleSource.fromName(" checkpoint "));
        assertEquals(LrSchedule.COSINE, LrSchedule.fromName("COSINE"));
        assertEquals(Backend.ONNX, Backend.fromName("onnx"));
        assertEquals(ImagenetWeights.IMAGENET1K_V1, ImagenetWeights.fromName("V1"));
        assertEquals(ImagenetWeights.IMAGENET1K_V2, ImagenetWeights.fromName("imagenet1k_v2"));
        assertEquals(VectorIndexType.INT8_HNSW, VectorIndexType.fromName("INT8_HNSW"));

        assertMessage("unknown long-prompt mode \"wrap\"; known: truncate, chunked", () -> LongPromptMode.fromName("wrap"));
        assertMessage("unknown long-prompt mode \"null\"; known: truncate, chunked", () -> LongPromptMode.fromName(null));
        assertMessage("unknown schedule source \"fp16\"; known: config, checkpoint", () -> ScheduleSource.fromName("fp16"));
        assertMessage("unknown learning-rate schedule \"step\"; known: constant, cosine, linear",
                () -> LrSchedule.fromName("step"));
        assertMessage("unknown backend \"tpu\"; known: torch, onnx", () -> Backend.fromName("tpu"));
        assertMessage("unknown weights \"v3\"; known: v1, IMAGENET1K_V1, v2, IMAGENET1K_V2",
                () -> ImagenetWeights.fromName("v3"));
        assertMessage("unknown vector index type \"ivf\"; known: hnsw, int8_hnsw, flat", () -> VectorIndexType.fromName("ivf"));
    }

    private static void assertMessage(String expected, Executable parse) {
        assertEquals(expected, assertThrows(InvalidInputException.class, parse).getMessage());
    }
}
