package dev.atelier.engine.demo;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.sd.Sampler;
import java.nio.file.Path;

/**
 * What {@code atelier demo} does, with defaults sized for 2 CPU cores and 10 minutes.
 *
 * @param work          folder for every artifact (reused by the next run) and report.html
 * @param person        whose wardrobe the LoRA learns ({@code Person} name, e.g. "ana")
 * @param otherPerson   whose wardrobe the control LoRA learns
 * @param wardrobeSize  photos per wardrobe
 * @param photoPixels   side of the wardrobe and catalog photos
 * @param catalogItems  items of the generated In-shop catalog
 * @param prompt        what to generate (the paper's "jacket")
 * @param negative      negative prompt
 * @param images        images per variant (seeds seed, seed+1, ...)
 * @param seed          first generation seed
 * @param sampler       sampler
 * @param steps         sampling steps
 * @param cfg           classifier-free guidance scale
 * @param loraSteps     LoRA optimizer updates
 * @param loraRank      LoRA rank (alpha = rank: scale 1)
 * @param loraLr        LoRA learning rate
 * @param loraWeight    multiplier when generating with a LoRA
 * @param dataSeed      seed of the generated wardrobes, catalog and embedder weights
 */
public record DemoSettings(Path work, String person, String otherPerson, int wardrobeSize, int photoPixels,
        int catalogItems, String prompt, String negative, int images, long seed, Sampler sampler, int steps, double cfg,
        int loraSteps, int loraRank, float loraLr, float loraWeight, long dataSeed) {

    public DemoSettings {
        check(!person.equals(otherPerson), "the two people must differ, both are " + person);
        check(wardrobeSize >= 1 && wardrobeSize <= 1000, "wardrobe size must be 1..1000, got " + wardrobeSize);
        check(photoPixels >= 64 && photoPixels <= 1024, "photo size must be 64..1024 pixels, got " + photoPixels);
        check(catalogItems >= 10, "the catalog needs at least 10 items, got " + catalogItems);
        check(!prompt.isBlank(), "the prompt is empty");
        check(images >= 1 && images <= 64, "images per variant must be 1..64, got " + images);
        check(steps >= 1 && steps <= 500, "steps must be 1..500, got " + steps);
        check(Double.isFinite(cfg) && cfg >= 0, "cfg must be a number >= 0, got " + cfg);
        check(loraSteps >= 1, "LoRA steps must be at least 1, got " + loraSteps);
        check(loraRank >= 1, "LoRA rank must be at least 1, got " + loraRank);
        check(Float.isFinite(loraLr) && loraLr > 0, "LoRA learning rate must be > 0, got " + loraLr);
        check(Float.isFinite(loraWeight), "LoRA weight must be a finite number");
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new InvalidInputException("demo: " + message);
        }
    }

    public static DemoSettings defaults(Path work) {
        return new DemoSettings(work, "ana", "ben", 10, 128, 3000, "jacket", "", 8, 1, Sampler.DPMPP_2M_KARRAS, 20, 5.0,
                300, 8, 3e-3f, 1.0f, 20261127L);
    }

    public DemoSettings withWork(Path w) {
        return new DemoSettings(w, person, otherPerson, wardrobeSize, photoPixels, catalogItems, prompt, negative, images,
                seed, sampler, steps, cfg, loraSteps, loraRank, loraLr, loraWeight, dataSeed);
    }

    /** A much smaller run for tests: few catalog items, images, steps. */
    public DemoSettings small() {
        return new DemoSettings(work, person, otherPerson, wardrobeSize, 64, 120, prompt, negative, 2, seed, sampler, 6,
                cfg, 20, loraRank, loraLr, loraWeight, dataSeed);
    }

    public DemoSettings withLora(float lr, float weight) {
        return new DemoSettings(work, person, otherPerson, wardrobeSize, photoPixels, catalogItems, prompt, negative, images,
                seed, sampler, steps, cfg, loraSteps, loraRank, lr, weight, dataSeed);
    }

    public DemoSettings with(int images, int steps, int loraSteps, int catalogItems) {
        return new DemoSettings(work, person, otherPerson, wardrobeSize, photoPixels, catalogItems, prompt, negative, images,
                seed, sampler, steps, cfg, loraSteps, loraRank, loraLr, loraWeight, dataSeed);
    }
}
