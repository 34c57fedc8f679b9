package dev.atelier.engine.core;

import static dev.atelier.bindings.atelier_h.ATL_DEVICE_CPU;
import static dev.atelier.bindings.atelier_h.ATL_DEVICE_CUDA;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.atelier.engine.core.AtelierException.InvalidInputException;
import org.junit.jupiter.api.Test;

class DeviceTest {
    @Test
    void parsesTheWrittenForms() {
        assertEquals(Device.CPU, Device.parse("cpu"));
        assertEquals(new Device(Device.Kind.CUDA, 0), Device.parse("cuda"));
        assertEquals(new Device(Device.Kind.CUDA, 3), Device.parse(" CUDA:3 "));
        for (String s : new String[] {"cpu", "cuda:0", "cuda:12"}) {
            assertEquals(s, Device.parse(s).toString());
        }
        assertTrue(Device.parse("cuda:1").isCuda());
    }

    @Test
    void refusesAnythingElse() {
        for (String bad : new String[] {"gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", "cpu:0", "", "cuda:99999999999"}) {
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> Device.parse(bad), bad);
            assertTrue(e.getMessage().contains("known: cpu, cuda, cuda:N"), e.getMessage());
        }
        assertThrows(InvalidInputException.class, () -> Device.parse(null));
        assertThrows(InvalidInputException.class, () -> new Device(Device.Kind.CUDA, -1));
        assertThrows(InvalidInputException.class, () -> new Device(Device.Kind.CPU, 1));
    }

    @Test
    void kindsCarryTheLibrarysCodes() {
        assertEquals(ATL_DEVICE_CPU(), Device.Kind.CPU.code());
        assertEquals(ATL_DEVICE_CUDA(), Device.Kind.CUDA.code());
        assertEquals(Device.Kind.CUDA, Device.Kind.fromCode(ATL_DEVICE_CUDA()));
        assertThrows(IllegalArgumentException.class, () -> Device.Kind.fromCode(7));
    }
}
