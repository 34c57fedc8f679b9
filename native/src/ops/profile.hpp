// Time and FLOPs per network and operation class, recorded on the thread that runs the forward
// calls while an atl_profile is started there (atelier.h). Scopes around the networks' leaf
// operations; a scope inside another records nothing (the outer one owns the time).
#pragma once

#include <chrono>
#include <cstdint>

#include "atelier.h"

struct atl_profile {
    struct Cell {
        int64_t calls = 0;
        double seconds = 0, flops = 0;
    };
    Cell cells[ATL_PROFILE_NETWORKS][ATL_OP_CLASSES];
    double network_seconds[ATL_PROFILE_NETWORKS] = {};
    int64_t network_calls[ATL_PROFILE_NETWORKS] = {};
};

namespace atl::ops {

enum class Network : int32_t {
    TextEncoder = ATL_PROFILE_TEXT_ENCODER,
    UNet = ATL_PROFILE_UNET,
    Vae = ATL_PROFILE_VAE,
};

enum class OpClass : int32_t {
    Convolution = ATL_OP_CONVOLUTION,
    Linear = ATL_OP_LINEAR,
    Attention = ATL_OP_ATTENTION,
    Normalisation = ATL_OP_NORMALISATION,
    Elementwise = ATL_OP_ELEMENTWISE,
    Layout = ATL_OP_LAYOUT,
};

// Starts or stops recording into p on this thread (null: stop).
void profile_on_this_thread(atl_profile* p);

// The forward of one network: its whole time, and the network its operations are counted under.
class NetworkScope {
public:
    explicit NetworkScope(Network n);
    ~NetworkScope();
    NetworkScope(const NetworkScope&) = delete;
    NetworkScope& operator=(const NetworkScope&) = delete;

private:
    int32_t previous_;
    std::chrono::steady_clock::time_point start_;
    bool on_;
};

// One operation of class c doing flops floating-point operations (0 when not counted).
class OpScope {
public:
    OpScope(OpClass c, double flops);
    ~OpScope();
    OpScope(const OpScope&) = delete;
    OpScope& operator=(const OpScope&) = delete;

private:
    OpClass class_;
    double flops_;
    std::chrono::steady_clock::time_point start_;
    bool on_;
};

}  // namespace atl::ops
