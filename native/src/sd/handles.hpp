// The C handle structs of the SD networks, shared by their C entry points (sd_api.cpp), the
// LoRA entry points and the sampling loop (sample/sample_api.cpp), which runs the UNet without
// crossing the boundary.
#pragma once

#include <memory>

#include "sd/text_encoder.hpp"
#include "sd/unet.hpp"
#include "sd/vae.hpp"

struct atl_text_encoder {
    std::unique_ptr<atl::sd::TextEncoder> impl;
};
struct atl_unet {
    std::unique_ptr<atl::sd::UNet> impl;
};
struct atl_vae {
    std::unique_ptr<atl::sd::Vae> impl;
};
