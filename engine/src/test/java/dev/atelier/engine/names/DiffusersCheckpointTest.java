package dev.atelier.engine.names;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.testing.DiffusersCopy;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DiffusersCheckpointTest {
    @Test
    void presentsADiffusersFolderUnderLdmNames(@TempDir Path dir) throws IOException {
        try (SafeTensorsFile model = SafeTensorsFile.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"))) {
            DiffusersCopy.write(model, dir, true);
            Files.createDirectories(dir.resolve("tokenizer"));
            Files.writeString(dir.resolve("tokenizer/vocab.json"), "{\"a</w>\": 0}");
            Files.writeString(dir.resolve("tokenizer/merges.txt"), "#version: 0.2\n");
            assertTrue(DiffusersCheckpoint.isDiffusersFolder(dir));
            try (DiffusersCheckpoint ckpt = DiffusersCheckpoint.open(dir)) {
                assertEquals(ModelLayout.fromLdmNames(model.tensors().keySet()), ckpt.layout());
                assertEquals(List.of("unet.some_adapter.weight"), ckpt.unmapped());
                assertEquals(model.tensors().size() - 1, ckpt.tensors().size()); // all but alphas_cumprod
                for (String ldm : model.tensors().keySet()) {
                    if (ldm.equals("alphas_cumprod")) {
                        assertFalse(ckpt.contains(ldm));
                        continue;
                    }
                    TensorView expected = model.view(ldm);
                    TensorView actual = ckpt.view(ldm);
                    assertEquals(expected.dtype(), actual.dtype(), ldm);
                    assertArrayEquals(expected.shape(), actual.shape(), ldm);
                    assertArrayEquals(expected.data().toArray(ValueLayout.JAVA_BYTE), actual.data().toArray(ValueLayout.JAVA_BYTE), ldm);
                }
                // The VAE attention is stored as Linear in the folder and seen as a 1x1 conv.
                DiffusersCheckpoint.Source q = ckpt.tensors().get("first_stage_model.decoder.mid.attn_1.q.weight");
                assertEquals("decoder.mid_block.attentions.0.to_q.weight", q.tensor());
                assertEquals(2, q.file().view(q.tensor()).rank());
                assertEquals(dir.resolve("tokenizer"), ckpt.tokenizerDir().orElseThrow());
                FormatException e = assertThrows(FormatException.class, () -> ckpt.view("alphas_cumprod"));
                assertTrue(e.getMessage().contains(dir.toString()), e.getMessage());
            }
        }
    }

    @Test
    void aFolderWithoutUnetIsRejected(@TempDir Path dir) throws IOException {
        assertFalse(DiffusersCheckpoint.isDiffusersFolder(dir));
        FormatException e = assertThrows(FormatException.class, () -> DiffusersCheckpoint.open(dir));
        assertTrue(e.getMessage().contains("not a diffusers folder"), e.getMessage());
        Files.createDirectories(dir.resolve("unet"));
        Files.writeString(dir.resolve("unet/diffusion_pytorch_model.safetensors"), "garbage");
        e = assertThrows(FormatException.class, () -> DiffusersCheckpoint.open(dir));
        assertTrue(e.getMessage().contains("diffusion_pytorch_model.safetensors"), e.getMessage());
    }
}
