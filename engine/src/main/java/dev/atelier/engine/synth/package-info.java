/**
 * Procedural garments for the embedded demo: a deterministic Java2D renderer
 * ({@link dev.atelier.engine.synth.GarmentRenderer}) and the data sets written from it, a
 * person's wardrobe ({@link dev.atelier.engine.synth.Wardrobe}), a shop catalog in DeepFashion
 * In-shop layout ({@link dev.atelier.engine.synth.SyntheticCatalog}) and the captioned training
 * set of the small base model ({@link dev.atelier.engine.synth.TrainingSet}). Everything is a
 * function of its seed: the same seed gives the same pixels.
 */
package dev.atelier.engine.synth;
