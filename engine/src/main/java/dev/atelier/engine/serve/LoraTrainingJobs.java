package dev.atelier.engine.serve;

import dev.atelier.engine.core.AtelierException;
import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.NativeLibrary;
import dev.atelier.engine.sd.GenerationRequest;
import dev.atelier.engine.sd.LdmConfig;
import dev.atelier.engine.train.LoraTrainer;
import dev.atelier.engine.train.LoraTraining;
import dev.atelier.engine.train.LoraTrainingConfig;
import dev.atelier.engine.train.TrainingListener;
import dev.atelier.engine.util.AtomicFiles;
import dev.atelier.engine.util.BoundedImageReader;
import dev.atelier.engine.util.StagedDirectory;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * LoRA training jobs for a running server: photos (and captions) in, a LoRA in the served
 * {@link LoraRegistry} out, one training at a time on its own thread beside generation. Each job
 * is queued, runs ({@link LoraTraining}: kohya-format LoRA, the same settings as
 * {@code atelier train-lora}), reports its step and loss curve and the preview images it renders,
 * and can be cancelled at its next step. A finished LoRA is added to the registry under the job's
 * name, so prompts can use {@code <lora:NAME:W>} at once.
 *
 * <p>Generation comes first: while generation has work queued or running, a training waits
 * at its next step boundary (it shares the machine's cores and the native intra-op threads
 * with generation, so a thread priority alone would not keep it out of the way), and goes on
 * when that work is done. A request therefore waits for at most the training step in progress.
 *
 * <p>Thread-safe. The photos are checked (decodable, within the pixel limit) when a job is
 * submitted, so a bad photo is the submitter's input error, not a failed job later.
 */
public final class LoraTrainingJobs implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(LoraTrainingJobs.class);
    /** How often a training waiting for generation looks again (a small share of one generation step). */
    private static final Duration GENERATION_POLL = Duration.ofMillis(10);
    /** Finished jobs kept for status queries, oldest dropped first. */
    private static final int KEEP_FINISHED = 100;

    /** The served model that jobs train on. */
    public record Model(Path checkpoint, LdmConfig ldm, Optional<Path> tokenizer) {}

    /**
     * What to train.
     *
     * @param name         the LoRA's name in the registry
     * @param images       the photos (PNG or JPEG bytes)
     * @param captions     one caption per photo, or empty for {@code caption} on every photo
     * @param caption      the caption of photos without their own
     * @param steps        optimizer updates
     * @param rank         LoRA rank of attention, MLP and 3x3 convolution layers (alpha = rank)
     * @param learningRate UNet learning rate
     * @param resolution   training resolution (square)
     * @param batchSize    photos per update
     * @param seed         seed of batch order, flips, noise and timesteps
     * @param sampleEvery  render samplePrompt every this many updates (0: never)
     * @param samplePrompt what the previews show
     */
    public record Request(String name, List<byte[]> images, List<String> captions, String caption, int steps, int rank,
            float learningRate, int resolution, int batchSize, long seed, int sampleEvery, String samplePrompt) {
        public Request {
            images = List.copyOf(images);
            captions = List.copyOf(captions);
        }
    }

    /** Where a job is. */
    public enum State { QUEUED, RUNNING, DONE, FAILED, CANCELLED }

    /** A job's state as its status answer shows it; a snapshot, safe to read from any thread. */
    public record Status(String id, String name, State state, long step, long total, List<Float> losses, List<Sample> samples,
            Optional<Path> lora, Optional<String> error, Instant created, Optional<Instant> started, Optional<Instant> finished) {}

    /** A preview rendered during training: after update step, the PNG's bytes. */
    public record Sample(long step, byte[] png) {}

    private final Model model;
    private final LoraRegistry loras;
    private final Path work;
    private final int maxQueued;
    private final BooleanSupplier generationWaiting;
    private final ExecutorService runner;
    private final Map<String, Job> jobs = new LinkedHashMap<>(); // guarded by this
    private boolean closed; // guarded by this

    /**
     * @param work              folder for the jobs' photos and outputs (each job's files are removed when it ends)
     * @param maxQueued         jobs waiting or running at most; more are refused
     * @param generationWaiting whether generation has work queued or running (trainings wait at
     *                          their next step while it does), e.g. {@link GenerationService#busy}
     */
    public LoraTrainingJobs(Model model, LoraRegistry loras, Path work, int maxQueued, BooleanSupplier generationWaiting) {
        if (maxQueued < 1) {
            throw new InvalidInputException("training jobs: maxQueued must be >= 1, got " + maxQueued);
        }
        this.model = model;
        this.loras = loras;
        this.work = work;
        this.maxQueued = maxQueued;
        this.generationWaiting = Objects.requireNonNull(generationWaiting, "generationWaiting");
        this.runner = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "atelier-lora-training");
            t.setDaemon(true);
            t.setPriority(Thread.MIN_PRIORITY); // generation requests come first where the OS honours it
            return t;
        });
    }

    /**
     * Queues a training; returns its status. Refuses (InvalidInputException) a bad name, no photos,
     * a photo that does not decode, captions that do not match the photos, settings out of range;
     * {@link GenerationService.QueueFullException} when maxQueued jobs are waiting or running.
     */
    public synchronized Status submit(Request r) {
        if (closed) {
            throw new AtelierException.CancelledException("training jobs are shutting down");
        }
        check(r);
        long pending = jobs.values().stream().filter(j -> j.state == State.QUEUED || j.state == State.RUNNING).count();
        if (pending >= maxQueued) {
            throw new GenerationService.QueueFullException("training queue full: " + pending + " jobs waiting or running (at most " + maxQueued + ")");
        }
        Job job = new Job(UUID.randomUUID().toString(), r);
        jobs.put(job.id, job);
        dropOldFinished();
        runner.execute(() -> run(job));
        return job.status();
    }

    /** The status of a job, if it is known (finished jobs are kept up to a limit). */
    public synchronized Optional<Status> status(String id) {
        return Optional.ofNullable(jobs.get(id)).map(Job::status);
    }

    /** Every known job, newest first. */
    public synchronized List<Status> list() {
        return jobs.values().stream().map(Job::status).sorted(Comparator.comparing(Status::created).reversed()).toList();
    }

    /**
     * Cancels a job: a queued one at once, a running one at its next step. False when the job is
     * unknown or already finished.
     */
    public synchronized boolean cancel(String id) {
        Job job = jobs.get(id);
        if (job == null || job.finished()) {
            return false;
        }
        job.cancelled = true;
        if (job.state == State.QUEUED) {
            job.finish(State.CANCELLED, null);
        }
        return true;
    }

    private static void check(Request r) {
        LoraRegistry.requireUploadName(r.name());
        if (r.images().isEmpty() || r.images().size() > 1000) {
            throw new InvalidInputException("images: 1 to 1000 photos are needed, got " + r.images().size());
        }
        if (!r.captions().isEmpty() && r.captions().size() != r.images().size()) {
            throw new InvalidInputException("captions: one per image (" + r.images().size() + "), got " + r.captions().size());
        }
        range("steps", r.steps(), 1, 100_000);
        range("rank", r.rank(), 1, 256);
        range("resolution", r.resolution(), 64, 2048);
        range("batch_size", r.batchSize(), 1, 64);
        range("sample_every", r.sampleEvery(), 0, r.steps());
        if (r.resolution() % 8 != 0) {
            throw new InvalidInputException("resolution must be a multiple of 8, got " + r.resolution());
        }
        if (!(r.learningRate() > 0 && r.learningRate() <= 1)) {
            throw new InvalidInputException("learning_rate must be in (0, 1], got " + r.learningRate());
        }
        for (int i = 0; i < r.images().size(); i++) {
            BoundedImageReader.read(r.images().get(i), "images[" + i + "]"); // decodes or names the photo
        }
    }

    private static void range(String field, int v, int min, int max) {
        if (v < min || v > max) {
            throw new InvalidInputException(field + " must be " + min + ".." + max + ", got " + v);
        }
    }

    private void run(Job job) {
        NativeLibrary.useLibraryThreads(); // not the one thread generation's request threads set
        synchronized (this) {
            if (job.finished()) {
                return; // cancelled while queued
            }
            job.state = State.RUNNING;
            job.started = Instant.now();
        }
        Path dir = null;
        try {
            dir = Files.createDirectories(work).resolve("training-" + job.id);
            Files.createDirectories(dir.resolve("images"));
            Request r = job.request;
            for (int i = 0; i < r.images().size(); i++) {
                String stem = String.format("%04d", i);
                Files.write(dir.resolve("images").resolve(stem + ".img.png"), r.images().get(i));
                if (!r.captions().isEmpty()) {
                    Files.writeString(dir.resolve("images").resolve(stem + ".img.txt"), r.captions().get(i), StandardCharsets.UTF_8);
                }
            }
            Path output = dir.resolve(r.name() + ".safetensors");
            LoraTrainingConfig.Builder b = LoraTrainingConfig.builder(model.checkpoint(), dir.resolve("images"), output)
                    .ldm(model.ldm()).caption(r.caption()).resolution(r.resolution()).flip(true)
                    .rank(r.rank()).alpha(r.rank()).convRank(r.rank()).convAlpha(r.rank())
                    .unetLr(r.learningRate()).maxSteps(r.steps()).batchSize(r.batchSize())
                    .step(LoraTrainer.StepOptions.defaults(r.seed()));
            model.tokenizer().ifPresent(b::tokenizer);
            if (r.sampleEvery() > 0) {
                b.sampleEvery(r.sampleEvery()).sample(GenerationRequest.of(r.samplePrompt(), "", r.seed())
                        .withSize(r.resolution(), r.resolution()));
            }
            LoraTraining.run(b.build(), new TrainingListener() {
                @Override
                public void onStep(Step step) {
                    job.step(step.step(), step.total(), step.loss());
                    if (generationWaiting.getAsBoolean()) {
                        // Idle workers of this thread would slow generation's batches meanwhile.
                        NativeLibrary.releaseThreads();
                    }
                    while (generationWaiting.getAsBoolean() && !job.cancelled) {
                        pause(GENERATION_POLL);
                    }
                    if (job.cancelled) {
                        throw new AtelierException.CancelledException("training cancelled after step " + step.step());
                    }
                }

                @Override
                public void onSampleImage(long step, Path png) {
                    try {
                        job.sample(new Sample(step, Files.readAllBytes(png)));
                    } catch (IOException e) {
                        LOG.warn("training {}: cannot read the preview {}: {}", job.id, png, e.getMessage());
                    }
                }
            });
            Path added = loras.add(r.name(), AtomicFiles.Body.copyOf(output));
            synchronized (this) {
                job.lora = added;
                job.finish(State.DONE, null);
            }
        } catch (AtelierException.CancelledException e) {
            synchronized (this) {
                job.finish(State.CANCELLED, null);
            }
        } catch (AtelierException e) {
            synchronized (this) {
                job.finish(State.FAILED, e.getMessage());
            }
        } catch (IOException | RuntimeException e) {
            LOG.error("training {} failed", job.id, e);
            synchronized (this) {
                job.finish(State.FAILED, "internal error: " + e);
            }
        } finally {
            if (dir != null) {
                delete(dir);
            }
        }
    }

    private static void delete(Path dir) {
        try {
            StagedDirectory.deleteTree(dir);
        } catch (IOException e) {
            LOG.warn("cannot remove the training folder {}: {}", dir, e.getMessage());
        }
    }

    private void dropOldFinished() {
        List<String> finished = new ArrayList<>();
        jobs.forEach((id, j) -> {
            if (j.finished()) {
                finished.add(id);
            }
        });
        for (int i = 0; i < finished.size() - KEEP_FINISHED; i++) {
            jobs.remove(finished.get(i));
        }
    }

    /** Cancels every job (running ones stop at their next step) and waits up to a minute for the runner. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
            for (String id : List.copyOf(jobs.keySet())) {
                cancel(id);
            }
        }
        runner.shutdown();
        try {
            if (!runner.awaitTermination(1, TimeUnit.MINUTES)) {
                LOG.warn("a LoRA training did not stop within a minute of shutdown");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** One job's mutable state; fields written under the jobs' lock or by the runner thread (volatile). */
    /** Sleeps while a training waits for generation; an interrupt (the server closing) cancels it. */
    private static void pause(Duration d) {
        try {
            Thread.sleep(d);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AtelierException.CancelledException("training interrupted while waiting for generation");
        }
    }

    private static final class Job {
        final String id;
        final Request request;
        final Instant created = Instant.now();
        volatile State state = State.QUEUED;
        volatile boolean cancelled;
        volatile long step;
        volatile long total;
        final List<Float> losses = new ArrayList<>(); // guarded by itself
        final List<Sample> samples = new ArrayList<>(); // guarded by losses
        volatile Path lora;
        volatile String error;
        volatile Instant started;
        volatile Instant finished;

        Job(String id, Request request) {
            this.id = id;
            this.request = request;
            this.total = request.steps();
        }

        boolean finished() {
            return state == State.DONE || state == State.FAILED || state == State.CANCELLED;
        }

        void finish(State s, String message) {
            error = message;
            finished = Instant.now();
            state = s;
        }

        void step(long n, long of, float loss) {
            synchronized (losses) {
                losses.add(loss);
                step = n;
                total = of;
            }
        }

        void sample(Sample s) {
            synchronized (losses) {
                samples.add(s);
            }
        }

        Status status() {
            synchronized (losses) {
                return new Status(id, request.name(), state, step, total, List.copyOf(losses), List.copyOf(samples),
                        Optional.ofNullable(lora), Optional.ofNullable(error), created, Optional.ofNullable(started),
                        Optional.ofNullable(finished));
            }
        }
    }
}
