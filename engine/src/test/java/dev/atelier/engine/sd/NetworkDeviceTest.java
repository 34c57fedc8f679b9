package dev.atelier.engine.sd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import dev.atelier.engine.core.AtelierException.UnavailableException;
import dev.atelier.engine.core.DType;
import dev.atelier.engine.core.Device;
import dev.atelier.engine.core.NativeInfo;
import dev.atelier.engine.testing.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The device in the networks' params: checked with the compute dtype and kernels as the library
 * checks them, carried to the library and back, and refused with a clear error where no such GPU
 * is visible. (The CUDA forward itself is tested by native/tests/test_gpu_parity.c.)
 */
class NetworkDeviceTest {
    private static final Device CUDA0 = Device.parse("cuda:0");
    private static StableDiffusionWeights model;

    @BeforeAll
    static void open() {
        model = StableDiffusionWeights.open(Fixtures.sd15Tiny().resolve("model/model.safetensors"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void f16IsForCudaAndCudaRunsLibtorchsOps() {
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> UNetParams.defaults().withComputeDtype(DType.F16));
        assertTrue(e.getMessage().contains("unet: compute dtype must be F32 or BF16 (F16 runs on CUDA only)"), e.getMessage());
        assertEquals(DType.F16, VaeParams.defaults().withDevice(CUDA0).withComputeDtype(DType.F16).computeDtype());
        e = assertThrows(InvalidInputException.class,
                () -> TextEncoderParams.defaults().withDevice(CUDA0).withKernels(OpKernel.AVX512));
        assertTrue(e.getMessage().contains("text encoder: a CUDA network runs libtorch's ops"), e.getMessage());
        e = assertThrows(InvalidInputException.class,
                () -> LdmConfig.sd15().withKernels(OpKernel.REFERENCE).withDevice(CUDA0));
        assertTrue(e.getMessage().contains("kernels must be auto or torch"), e.getMessage());
        assertEquals(CUDA0, LdmConfig.sd15().withDevice(CUDA0).unet().device());
    }

    @Test
    void aCpuNetworkReportsItsDevice() {
        try (UNet unet = UNet.create(model.unet(), UNetParams.defaults().withHeads(4, -1))) {
            assertEquals(Device.CPU, unet.config().device());
        }
    }

    @Test
    void aGpuThatIsNotThereIsUnavailable() {
        int gpus = NativeInfo.read().cudaDevices();
        Device missing = new Device(Device.Kind.CUDA, gpus);
        UnavailableException e = assertThrows(UnavailableException.class,
                () -> Vae.create(model.vae(), VaeParams.defaults().withDevice(missing)));
        assertTrue(e.getMessage().contains("vae: device " + missing + " is not available"), e.getMessage());
    }
}
