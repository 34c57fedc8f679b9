// The C handle structs of the SD networks, shared by their C entry points (sd_api.cpp), the
// LoRA entry points and the sampling loop (sample/sample_api.cpp), which runs the UNet without
// crossing the boundary. The networks are held by shared_ptr: an object that uses a network past
// the call that received it (the LoRA trainer) shares its ownership, so the handles may be
// destroyed in any order.
#pragma once

#include <memory>

#include "sd/text_encoder.hpp"
#include "sd/unet.hpp"
#include "sd/vae.hpp"

struct atl_text_encoder {
    std::shared_ptr<atl::sd::TextEncoder> impl;
};
struct atl_unet {
    std::shared_ptr<atl::sd::UNet> impl;
};
struct atl_vae {
    std::shared_ptr<atl::sd::Vae> impl;
};
