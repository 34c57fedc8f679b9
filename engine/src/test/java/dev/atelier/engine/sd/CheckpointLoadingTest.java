package dev.atelier.engine.sd;

import dev.atelier.engine.testing.MaxError;
import static org.junit.jupiter.api.Assertions.*;

import dev.atelier.engine.core.AtelierException.FormatException;
import dev.atelier.engine.core.TensorView;
import dev.atelier.engine.safetensors.SafeTensorsFile;
import dev.atelier.engine.safetensors.SafeTensorsWriter;
import dev.atelier.engine.testing.DiffusersCopy;
import dev.atelier.engine.testing.Fixtures;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Checkpoint forms (single file, diffusers folder, separate VAE) and the LDM YAML, against the fixtures. */
class CheckpointLoadingTest {
    private static final double TOLERANCE = 1e-4;
    private static final Path MODEL = Fixtures.sd15Tiny().resolve("model/model.safetensors");
    private static final Path YAML = Fixtures.sd15Tiny().resolve("model/model.yaml");
    private static SafeTensorsFile cases;
    private static Arena arena;

    @TempDir
    Path dir;

    @BeforeAll
    static void open() {
        cases = SafeTensorsFile.open(Fixtures.sd15Tiny().resolve("cases.safetensors"));
        arena = Arena.ofShared();
    }

    @AfterAll
    static void close() {
        arena.close();
        cases.close();
    }

    private static void assertUNetMatches(StableDiffusionWeights model, UNetParams params) {
        try (UNet unet = UNet.create(model.unet(), params)) {
            TensorView eps = unet.forward(cases.view("unet.x"), cases.view("unet.t"), cases.view("unet.context"), arena);
            double e = MaxError.relative(eps, cases.view("unet.eps"));
            assertTrue(e <= TOLERANCE, "unet.eps error " + e);
        }
    }

    @Test
    void theFixtureYamlGivesTheArchitecture() {
        LdmConfig c = LdmConfig.load(YAML);
        assertEquals(32, c.unet().modelChannels());
        assertArrayEquals(new int[] {1, 2, 2, 2}, c.unet().channelMult());
        // attention_resolutions [4, 2, 1]: levels with downsampling 1, 2, 4 have attention, level 3 (8) not.
        assertTrue(Arrays.equals(new boolean[] {true, true, true, false}, c.unet().attentionLevels()));
        assertEquals(4, c.unet().numHeads());
        assertEquals(2, c.text().numHeads());
        assertEquals(32, c.text().width());
        assertEquals(32, c.vae().ch());
        assertEquals(0.18215, c.scaleFactor());
        assertEquals(0.00085, c.linearStart());
        try (StableDiffusionWeights model = StableDiffusionWeights.open(MODEL)) {
            assertUNetMatches(model, c.unet());
            try (TextEncoder te = TextEncoder.create(model.textEncoder(), c.text())) {
                TensorView hidden = te.forward(cases.view("text.input_ids"), 1, arena);
                assertTrue(MaxError.relative(hidden, cases.view("text.hidden")) <= TOLERANCE);
            }
            try (Vae vae = Vae.create(model.vae(), c.vae())) {
                assertEquals(32, vae.config().ch());
            }
        }
    }

    /** SD2-style num_head_channels (openaimodel.py: it wins over num_heads): 32 channels per head is 1 head at 32. */
    @Test
    void numHeadChannelsSetsTheHeadCount() throws IOException {
        Path perChannel = dir.resolve("head-channels.yaml");
        Files.writeString(perChannel, Files.readString(YAML).replace("num_heads: 4", "num_head_channels: 8"));
        LdmConfig c = LdmConfig.load(perChannel);
        assertEquals(-1, c.unet().numHeads());
        assertEquals(8, c.unet().numHeadChannels());
        // The fixture was made with 4 heads: 32 channels / 8 per head gives the same 4 at level 0,
        // but 64 / 8 = 8 heads at the 64-channel levels, so eps must differ from the 4-head reference.
        try (StableDiffusionWeights model = StableDiffusionWeights.open(MODEL); UNet unet = UNet.create(model.unet(), c.unet())) {
            TensorView eps = unet.forward(cases.view("unet.x"), cases.view("unet.t"), cases.view("unet.context"), arena);
            assertTrue(MaxError.relative(eps, cases.view("unet.eps")) > 1e-3, "8 heads of 8 at 64 channels, not 4");
        }
        // The positive case (a model trained with num_head_channels) is DefaultModelTest's UNet parity.
    }

    @Test
    void aYamlThatDisagreesWithTheWeightsIsOneClearError() throws IOException {
        Path wrong = dir.resolve("wrong.yaml");
        Files.writeString(wrong, Files.readString(YAML).replace("model_channels: 32", "model_channels: 64")
                .replace("context_dim: 32", "context_dim: 768"));
        LdmConfig c = LdmConfig.load(wrong);
        try (StableDiffusionWeights model = StableDiffusionWeights.open(MODEL)) {
            FormatException e = assertThrows(FormatException.class, () -> UNet.create(model.unet(), c.unet()).close());
            assertTrue(e.getMessage().contains("64") && e.getMessage().contains("768"), e.getMessage());
        }
    }

    @Test
    void malformedYamlNamesTheFileAndKey() throws IOException {
        Path bad = dir.resolve("bad.yaml");
        Files.writeString(bad, "model:\n  params: [unclosed\n");
        FormatException e = assertThrows(FormatException.class, () -> LdmConfig.load(bad));
        assertTrue(e.getMessage().startsWith(bad.toString()), e.getMessage());
        Path typed = dir.resolve("typed.yaml");
        Files.writeString(typed, Files.readString(YAML).replace("channel_mult: [1, 2, 2, 2]", "channel_mult: wide"));
        e = assertThrows(FormatException.class, () -> LdmConfig.load(typed));
        assertTrue(e.getMessage().contains("unet_config.params.channel_mult must be a list of integers"), e.getMessage());
        assertThrows(FormatException.class, () -> LdmConfig.load(dir.resolve("missing.yaml")));
    }

    @Test
    void aDiffusersFolderLoadsToTheSameNetworks() throws IOException {
        try (SafeTensorsFile f = SafeTensorsFile.open(MODEL)) {
            DiffusersCopy.write(f, dir, false);
        }
        try (StableDiffusionWeights model = StableDiffusionWeights.open(dir)) {
            assertUNetMatches(model, LdmConfig.load(YAML).unet());
            try (Vae vae = Vae.create(model.vae(), VaeParams.defaults())) {
                TensorView decoded = vae.decode(cases.view("vae.latents"), Vae.SD1_SCALE_FACTOR, arena);
                assertTrue(MaxError.relative(decoded, cases.view("vae.decoded")) <= TOLERANCE);
            }
        }
    }

    @Test
    void aSeparateVaeFileWithoutPrefixReplacesTheCheckpointsVae() throws IOException {
        Path vaeFile = dir.resolve("my.vae.safetensors");
        try (SafeTensorsFile f = SafeTensorsFile.open(MODEL)) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (String n : f.tensors().keySet()) {
                if (n.startsWith(StableDiffusionWeights.VAE_PREFIX)) {
                    w.add(n.substring(StableDiffusionWeights.VAE_PREFIX.length()), f.view(n));
                }
            }
            w.write(vaeFile);
        }
        try (StableDiffusionWeights model = StableDiffusionWeights.open(MODEL, Optional.of(vaeFile));
                Vae vae = Vae.create(model.vae(), VaeParams.defaults())) {
            assertTrue(model.vae().count() > 0);
            TensorView decoded = vae.decode(cases.view("vae.latents"), Vae.SD1_SCALE_FACTOR, arena);
            assertTrue(MaxError.relative(decoded, cases.view("vae.decoded")) <= TOLERANCE);
        }
        FormatException e = assertThrows(FormatException.class,
                () -> StableDiffusionWeights.open(MODEL, Optional.of(Fixtures.sd15Tiny().resolve("cases.safetensors"))));
        assertTrue(e.getMessage().contains("not a VAE"), e.getMessage());
    }

    @Test
    void closingTheCheckpointBeforeItsNetworkKeepsTheMappingUntilTheNetworkCloses() {
        StableDiffusionWeights model = StableDiffusionWeights.open(MODEL);
        UNet unet = UNet.create(model.unet(), LdmConfig.load(YAML).unet());
        model.close(); // the wrong order: the UNet still reads the mapped weights
        TensorView eps = unet.forward(cases.view("unet.x"), cases.view("unet.t"), cases.view("unet.context"), arena);
        assertTrue(MaxError.relative(eps, cases.view("unet.eps")) <= TOLERANCE);
        unet.close(); // the last holder: now the file is unmapped
        assertThrows(IllegalStateException.class, () -> model.checkpoint().retain());
    }

    @Test
    void foreignFilesAreRefusedWithTheirName() throws IOException {
        Path text = dir.resolve("notes.safetensors");
        Files.writeString(text, "hello");
        FormatException e = assertThrows(FormatException.class, () -> StableDiffusionWeights.open(text));
        assertTrue(e.getMessage().startsWith(text.toString()), e.getMessage());
        e = assertThrows(FormatException.class,
                () -> StableDiffusionWeights.open(Fixtures.sd15Tiny().resolve("lora_kohya.safetensors")));
        assertTrue(e.getMessage().contains("not an SD1.x checkpoint"), e.getMessage());
        e = assertThrows(FormatException.class, () -> StableDiffusionWeights.open(dir));
        assertTrue(e.getMessage().contains("not a diffusers model"), e.getMessage());
    }
}
