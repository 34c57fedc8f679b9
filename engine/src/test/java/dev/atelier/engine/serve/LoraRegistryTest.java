package dev.atelier.engine.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.lora.LoraFile;
import dev.atelier.engine.lora.LoraKeys;
import dev.atelier.engine.lora.LoraKeys.Network;
import dev.atelier.engine.lora.LoraMode;
import dev.atelier.engine.lora.LoraRequest;
import dev.atelier.engine.names.NameConverter;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.sd.StableDiffusionWeights;
import dev.atelier.engine.sd.TextEncoder;
import dev.atelier.engine.sd.TextEncoderParams;
import dev.atelier.engine.sd.UNet;
import dev.atelier.engine.sd.UNetParams;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Instant;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The LoRA registry on the sd15-tiny fixtures: sets of LoRAs in one slot compute what the same
 * LoRAs applied to every sample compute; sets are reused, evicted least recently used first over
 * the byte budget but never while leased, reloaded when a file changes; names cannot leave the
 * folder.
 */
class LoraRegistryTest {
    private static StableDiffusionWeights model;
    private static SafeTensorsFile cases;
    private static LoraKeys keys;
    private static Arena arena;
    private static long fileBytes;

    @TempDir
    Path dir;

    @BeforeAll
    static void open() throws IOException {
        model = StableDiffusionWeights.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"));
        cases = SafeTensorsFile.open(Fixtures.sd15Tiny().resolve("cases.safetensors"));
        keys = new LoraKeys(NameConverter.sd15(), model.checkpoint().tensors().keySet());
        arena = Arena.ofShared();
        fileBytes = Files.size(kohya());
    }

    @AfterAll
    static void close() {
        arena.close();
        cases.close();
        model.close();
    }

    private static Path kohya() {
        return Fixtures.sd15Tiny().resolve("lora_kohya.safetensors");
    }

    private static UNet unet() {
        return UNet.create(model.unet(), UNetParams.defaults().withHeads(4, -1));
    }

    private static TextEncoder textEncoder() {
        return TextEncoder.create(model.textEncoder(), TextEncoderParams.defaults().withNumHeads(2));
    }

    private static float[] eps(UNet u) {
        TensorView t = cases.view("unet.t");
        float[] f = new float[(int) t.numel()];
        for (int i = 0; i < f.length; i++) {
            f[i] = t.data().getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED, i);
        }
        return u.forward(cases.view("unet.x"), TensorView.ofFloats(arena, f, f.length), cases.view("unet.context"),
                arena).toFloatArray();
    }

    private static float[] hidden(TextEncoder te) {
        return te.forward(cases.view("text.input_ids"), 1, arena).toFloatArray();
    }

    private static void assertClose(String what, float[] expected, float[] actual) {
        double maxRef = 0, maxErr = 0;
        for (int i = 0; i < expected.length; i++) {
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
            maxErr = Math.max(maxErr, Math.abs(expected[i] - actual[i]));
        }
        assertTrue(maxErr <= 1e-5 * maxRef, what + ": max error " + maxErr + " against max|ref| " + maxRef);
    }

    private void folderWithTwoLoras() throws IOException {
        // Weights that are not a LoRA, as the demo keeps beside its LoRAs: not listed.
        Files.copy(Fixtures.sd15Tiny().resolve("model/model.safetensors"), dir.resolve("base.safetensors"));
        Files.copy(kohya(), dir.resolve("a.safetensors"));
        Files.createDirectories(dir.resolve("sub"));
        Files.copy(kohya(), dir.resolve("sub/b.safetensors"));
    }

    @Test
    void aSetInOneSlotComputesWhatItsLorasComputeOnEverySample() throws IOException {
        folderWithTwoLoras();
        try (UNet u = unet(); TextEncoder te = textEncoder(); UNet ref = unet(); TextEncoder refTe = textEncoder()) {
            LoraRegistry registry = new LoraRegistry(dir, keys, new Guarded<>(u), new Guarded<>(te), Long.MAX_VALUE);
            assertEquals(List.of("a", "b"), registry.names());
            LoraRequest.FromPrompt p = registry.parsePrompt("a jacket <lora:a:0.8> <lora:b:0.5:-1.5>");
            assertEquals("a jacket", p.prompt());
            try (LoraRegistry.Lease lease = registry.acquire(p.loras())) {
                try (LoraFile f = LoraFile.open(kohya(), keys)) {
                    ref.applyLora(f.lora(Network.UNET).orElseThrow(), 0.8f, LoraMode.UNMERGED);
                    ref.applyLora(f.lora(Network.UNET).orElseThrow(), -1.5f, LoraMode.UNMERGED);
                    refTe.applyLora(f.lora(Network.TEXT_ENCODER).orElseThrow(), 0.8f, LoraMode.UNMERGED);
                    refTe.applyLora(f.lora(Network.TEXT_ENCODER).orElseThrow(), 0.5f, LoraMode.UNMERGED);
                }
                u.selectLora(lease.unetSlot(), lease.unetSlot());
                assertClose("unet eps of the set's slot", eps(ref), eps(u));
                te.selectLora(lease.textSlot(), lease.textSlot(), lease.textSlot(), lease.textSlot());
                assertClose("text hidden of the set's slot", hidden(refTe), hidden(te));
            }
        }
    }

    @Test
    void setsAreReusedEvictedWhenUnusedAndReloadedWhenAFileChanges() throws IOException {
        folderWithTwoLoras();
        try (UNet u = unet(); TextEncoder te = textEncoder(); UNet base = unet()) {
            // Room for two files' bytes: one set of two, or two sets of one.
            LoraRegistry registry = new LoraRegistry(dir, keys, new Guarded<>(u), new Guarded<>(te), 2 * fileBytes);
            List<LoraRequest> a = registry.parsePrompt("<lora:a:0.8>").loras();
            List<LoraRequest> b = registry.parsePrompt("<lora:b:0.8>").loras();
            List<LoraRequest> both = registry.parsePrompt("<lora:a:0.8><lora:b:1>").loras();
            int slotA;
            try (LoraRegistry.Lease first = registry.acquire(a); LoraRegistry.Lease again = registry.acquire(a)) {
                slotA = first.unetSlot();
                assertEquals(slotA, again.unetSlot());
            }
            assertEquals(new LoraRegistry.Stats(1, 1, 0, fileBytes, 1), registry.stats());
            try (LoraRegistry.Lease lb = registry.acquire(b)) {
                assertNotEquals(slotA, lb.unetSlot());
                // a (unused, least recently used) goes to make room for both; b is leased and stays.
                try (LoraRegistry.Lease lBoth = registry.acquire(both)) {
                    assertEquals(1, registry.stats().evictions());
                    assertEquals(2, registry.stats().sets());
                    assertTrue(registry.stats().bytes() > 2 * fileBytes, "leased sets stay over the budget");
                }
            }
            // Released over the budget, the set of two went: b alone is within it and stays.
            assertEquals(new LoraRegistry.Stats(1, 3, 2, fileBytes, 1), registry.stats());
            // The evicted slot no longer changes the UNet: selecting it gives the base model's eps.
            u.selectLora(slotA, slotA);
            assertClose("evicted slot", eps(base), eps(u));

            Files.setLastModifiedTime(dir.resolve("sub/b.safetensors"), FileTime.from(Instant.now().plusSeconds(60)));
            long missesBefore = registry.stats().misses();
            try (LoraRegistry.Lease reloaded = registry.acquire(registry.parsePrompt("<lora:b:0.8>").loras())) {
                assertEquals(missesBefore + 1, registry.stats().misses(), "a changed file is loaded again");
            }
            assertEquals(1, registry.stats().sets(), "sets with the old file go once unused");
        }
    }

    @Test
    void namesCannotLeaveTheFolder() throws IOException {
        folderWithTwoLoras();
        Path outside = Files.copy(kohya(), dir.getParent().resolve("outside-" + dir.getFileName() + ".safetensors"));
        try {
            Files.createSymbolicLink(dir.resolve("link.safetensors"), outside);
            try (UNet u = unet(); TextEncoder te = textEncoder()) {
                LoraRegistry registry = new LoraRegistry(dir, keys, new Guarded<>(u), new Guarded<>(te), 0);
                String up = "../" + outside.getFileName().toString().replace(".safetensors", "");
                for (String name : List.of(up, outside.toString(), "sub/../../" + up.substring(3), "link")) {
                    InvalidInputException e = assertThrows(InvalidInputException.class,
                            () -> registry.parsePrompt("x <lora:" + name + ":1>"), name);
                    assertTrue(e.getMessage().contains("LoRA folder"), e.getMessage());
                }
                assertEquals(List.of(), registry.parsePrompt("x <lora:sub/b:1>").loras().stream()
                        .filter(r -> !r.path().startsWith(dir.toAbsolutePath())).toList());
            }
        } finally {
            Files.deleteIfExists(outside);
        }
    }
}
